#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`, so `npm ci` builds too): dist/ from src/.
 *
 * 1. tsc checks the types and writes the declarations (dist/**\/*.d.ts) — the library's types. It is
 *    TypeScript 7, installed as `typescript7`: the name `typescript` is TypeScript 6, whose JavaScript
 *    API typescript-eslint needs (README, Development).
 * 2. esbuild writes the JavaScript, one file per entry point, shared code in dist/chunks/: a command
 *    loads a handful of files instead of ~50 modules (module resolution and compilation were most
 *    of `auto`'s start-up: bench/PERFORMANCE.md, pair 7).
 *
 * Entry points — modules that stay files of their own, at their dist/ path — are:
 * - every module that some module imports lazily (`import('./x.js')`): what is lazy in the sources
 *   stays lazy in dist/ (a driver, the notifiers, zod, proper-lockfile are loaded only when used);
 * - the CLI (cli/main), the library (index), the detached child (core/auto-detach-child, started by
 *   its path), and core/notified-run (the trace tests name it as the proof that `auto` ran).
 * An entry point imported statically elsewhere is imported from its own file (`#dist/…`, the
 * package's subpath import for dist/), never copied into a chunk: each module exists once.
 * Packages (node_modules) are never bundled: they load by name, as before.
 *
 * 3. esbuild writes the launcher's `auto` shortcut (cli/fast-auto and everything it imports) as one
 *    file, dist/cli/fast-auto.bundle.js: `auto`'s nothing-to-do path loads one file of ours. The S3
 *    store stays outside (its module of dist/, loaded when a configuration names it): inlined, its
 *    static imports of the AWS SDK would be hoisted to the bundle's top and every `auto` call would
 *    load the SDK (~100 ms).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');
const FIXED_ENTRIES = ['cli/main.ts', 'cli/fast-auto.ts', 'index.ts', 'core/auto-detach-child.ts', 'core/notified-run.ts'];
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const BUNDLED = new Set(['commander']);

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The source file a relative specifier of `importer` names (`./x.js` → `./x.ts`). */
const sourceOf = (importer, specifier) => path.resolve(path.dirname(importer), specifier).replace(/\.js$/, '.ts');

/** Every module imported lazily somewhere, plus the fixed ones. */
function entryPoints() {
  const entries = new Set(FIXED_ENTRIES.map((file) => path.join(SRC, file)));
  for (const file of sourceFiles(SRC)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bimport\(\s*'(\.\.?\/[^']+)'\s*\)/g)) entries.add(sourceOf(file, match[1]));
  }
  return [...entries].sort();
}

/** The shortcut's bundle: everything inlined but the modules named here (left to their dist/ file). */
function keepOutside(modules) {
  const outside = new Set(modules.map((file) => path.join(SRC, file)));
  return {
    name: 'keep-outside',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = sourceOf(args.importer, args.path);
        if (!outside.has(target)) return undefined;
        return { path: `#dist/${path.relative(SRC, target).replace(/\.ts$/, '.js').split(path.sep).join('/')}`, external: true };
      });
    },
  };
}

/** Imports of an entry point (but its own) resolve to its file in dist/, through `#dist/*`. */
function entriesStayFiles(entries) {
  const set = new Set(entries);
  return {
    name: 'entries-stay-files',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        const target = sourceOf(args.importer, args.path);
        if (!set.has(target)) return undefined;
        return { path: `#dist/${path.relative(SRC, target).replace(/\.ts$/, '.js').split(path.sep).join('/')}`, external: true };
      });
    },
  };
}

rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript7/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--emitDeclarationOnly'], {
  cwd: ROOT,
  stdio: 'inherit',
});
const entries = entryPoints();
await build({
  entryPoints: entries,
  outbase: SRC,
  outdir: DIST,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Packages load by name — but commander, which every command needs: bundled, it is one file less
  // to resolve per module of it (its CommonJS requires get a `require` from the banner).
  external: Object.keys(PACKAGE.dependencies)
    .filter((name) => !BUNDLED.has(name))
    .flatMap((name) => [name, `${name}/*`]),
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  plugins: [entriesStayFiles(entries)],
});
await build({
  entryPoints: [path.join(SRC, 'cli/fast-auto.ts')],
  outfile: path.join(DIST, 'cli/fast-auto.bundle.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [keepOutside(['store/s3.ts'])],
});
