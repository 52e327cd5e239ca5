// Bundles the launcher's `auto` shortcut (dist/cli/fast-auto.js and what it imports) into one file,
// dist/cli/fast-auto.bundle.js: loading ~30 modules one by one costs more than the whole skip.
// Run by `npm run build` after tsc (and by the integration tests' build). Drivers, zod and the
// other packages stay outside (loaded from node_modules when needed).
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
await build({
  entryPoints: [path.join(root, 'dist/cli/fast-auto.js')],
  outfile: path.join(root, 'dist/cli/fast-auto.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
