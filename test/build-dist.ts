/**
 * vitest globalSetup of the integration project: the CLI tests run the built CLI as users do
 * (bin/tenant-backup.js → dist/), so dist/ must be what src/ says. The build (scripts/build.mjs:
 * tsc's type check and declarations, esbuild's bundles; a few seconds) runs before any test file,
 * so `npx vitest run <file>` never tests a stale build. A compile error fails the run here, with
 * its message.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

export default function setup(): void {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const output = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`Building dist/ for the CLI tests failed:\n${String(output.stdout ?? '')}${String(output.stderr ?? '')}`, { cause: error });
  }
}
