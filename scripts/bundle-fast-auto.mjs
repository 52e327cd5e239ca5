// Bundles the launcher's `auto` shortcut (dist/cli/fast-auto.js and what it imports) into one file,
// dist/cli/fast-auto.bundle.js: loading ~30 modules one by one costs more than the whole skip.
// Run by `npm run build` after tsc (and by the integration tests' build). Drivers, zod and the
// other packages stay outside (loaded from node_modules when needed).
//
// The S3 store stays outside too, as a module of dist/ loaded when a configuration names it:
// bundled, its upload module's static imports of the AWS SDK would be hoisted to the top of the
// bundle, and every `auto` call (S3 or not) would load the SDK (~100 ms).
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const bundleDir = path.join(dist, 'cli');

/** Imports of the given dist/ modules stay imports, rewritten relative to the bundle's folder. */
const keepOutside = (modules) => ({
  name: 'keep-outside',
  setup(plugin) {
    plugin.onResolve({ filter: /\.js$/ }, (args) => {
      if (!args.importer || !args.path.startsWith('.')) return undefined;
      const target = path.resolve(path.dirname(args.importer), args.path);
      if (!modules.includes(path.relative(dist, target))) return undefined;
      return { path: `./${path.relative(bundleDir, target)}`.replace(/^\.\/\.\.\//, '../'), external: true };
    });
  },
});

await build({
  entryPoints: [path.join(dist, 'cli/fast-auto.js')],
  outfile: path.join(bundleDir, 'fast-auto.bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  plugins: [keepOutside(['store/s3.js'])],
});
