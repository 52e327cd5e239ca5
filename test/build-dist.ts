/**
 * vitest globalSetup of the integration project: the CLI tests run the built CLI as users do
 * (bin/tenant-backup.js → dist/), so dist/ must be what src/ says. tsc runs before any test file
 * (about a second: it rewrites only the outputs that changed), then the `auto` shortcut's bundle,
 * so `npx vitest run <file>` never
 * tests a stale build. A compile error fails the run here, with tsc's message.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

export default function setup(): void {
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The launcher's `auto` shortcut runs from a bundle of dist/ (scripts/bundle-fast-auto.mjs).
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/bundle-fast-auto.mjs')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const output = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`Building dist/ for the CLI tests failed:\n${String(output.stdout ?? '')}${String(output.stderr ?? '')}`);
  }
}
