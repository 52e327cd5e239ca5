/**
 * The layout ARCHITECTURE.md describes, checked on the sources: no import circle (type imports
 * included), no import from a lower layer up into the use cases or the CLI, no source file over
 * ~400 lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

/** Layers, lowest first: a file may import its own layer or lower ones, never higher ones. */
const LAYERS: Array<[prefix: string, rank: number]> = [
  ['errors.ts', 0],
  ['format.ts', 0],
  ['version.ts', 0],
  ['memory.ts', 0],
  ['host.ts', 0],
  ['retention/', 1],
  // The record's shape is domain vocabulary (retention reads statuses); the ledger itself is higher.
  ['ledger/types.ts', 1],
  ['config/', 1],
  // Ciphers (none | age) turn an archive's zip bytes into the stored bytes; the archive layer uses them.
  ['cipher/', 1],
  ['archive/', 2],
  ['store/', 2],
  ['ledger/', 3],
  ['engines/', 3],
  // Notifiers deliver events; they know the configuration's shape and nothing of the use cases.
  ['notify/', 3],
  ['core/', 4],
  ['index.ts', 5],
  ['cli/', 5],
];
const MAX_LINES = 400;

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a file (static, dynamic, re-exports, type-only), resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)].map((m) => m[1] ?? m[2]!);
  return specifiers.map((spec) => path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
}

const rel = (file: string) => path.relative(SRC, file);
const rankOf = (file: string) => LAYERS.find(([prefix]) => rel(file).startsWith(prefix))?.[1];

describe('source layout', () => {
  const files = sourceFiles();
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it('every source file belongs to a layer', () => {
    expect(files.filter((file) => rankOf(file) === undefined).map(rel)).toEqual([]);
  });

  it('has no import circles, type imports included', () => {
    const circles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'visiting');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === 'visiting') circles.push([...stack.slice(stack.indexOf(next)), next].map(rel).join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(circles).toEqual([]);
  });

  it('never imports from a higher layer (engines, store, ledger, archive know nothing of core/ or cli/)', () => {
    const upward = files.flatMap((file) => (graph.get(file) ?? []).filter((target) => (rankOf(target) ?? 0) > rankOf(file)!).map((target) => `${rel(file)} → ${rel(target)}`));
    expect(upward).toEqual([]);
  });

  it(`keeps every source file under ~${MAX_LINES} lines`, () => {
    const long = files.map((file) => [rel(file), readFileSync(file, 'utf8').split('\n').length] as const).filter(([, lines]) => lines > MAX_LINES + 10);
    expect(long).toEqual([]);
  });
});
