/**
 * The tables of an organization backup, exported into the archive in plan order — with `--jobs N`,
 * up to N at a time on N readers of the same snapshot.
 *
 * Each table's rows flow export → bounded pipe → archive entry; back-pressure reaches the database
 * at every step. The archive takes one entry after another, in plan order.
 * - One reader: tables are exported in plan order, the next one starting as soon as the previous
 *   one has sent its last row, while its entry is still being compressed (its rows wait in the pipe).
 * - More: a table goes straight into the archive when it is the archive's next entry and the
 *   archive is free; any other is compressed at once into a part file (`ArchiveWriter.stage`) and
 *   copied into the archive when its turn comes. Exports may then start in any order: the largest
 *   tables first (`sizes`), so that the longest export does not start last while the other readers
 *   have nothing left to do. The archive is byte for byte what one reader would have written. At
 *   most AHEAD_PER_READER × N tables are begun and not yet in the archive, which bounds the part
 *   files on disk.
 *
 * Any failure destroys every pipe still open, which stops its export; the first failure is thrown
 * once every export and every staging has ended and every staged part file is removed.
 */
import { PassThrough } from 'node:stream';
import type { ManifestEntry } from '../archive/manifest.js';
import type { ArchiveWriter, StagedEntry } from '../archive/zip-writer.js';
import { isStaged } from '../archive/zip-staged.js';
import type { ExportResult, SnapshotReader, TablePlan } from '../engines/types.js';
import { OperationError, describeCause } from '../errors.js';
import { tableEntryPath } from './organization-config.js';

/** Rows of a table waiting for the archive (or the part file) while the previous entry is finished. */
const PIPE_BYTES = 1024 * 1024;
/** Tables begun and not yet in the archive, per reader. */
const AHEAD_PER_READER = 4;

export interface ExportedTable {
  entry: ManifestEntry;
  summary: { table: string; rows: number; bytes: number };
}

export interface ExportTablesOptions {
  signal?: AbortSignal;
  /** Progress of one table: rows exported so far. */
  onRows?: (plan: TablePlan, rows: number) => void;
  /** An estimate of each table's size (any unit; unknown: 0): with several readers, larger ones start first. */
  sizes?: ReadonlyMap<string, number>;
}

interface Slot {
  path: string;
  pipe: PassThrough;
  source: Promise<PassThrough | StagedEntry>;
  exported: Promise<ExportResult>;
}

export async function exportTables(
  readers: readonly SnapshotReader[],
  writer: ArchiveWriter,
  plans: readonly TablePlan[],
  options: ExportTablesOptions = {},
): Promise<ExportedTable[]> {
  const open = new Set<PassThrough>();
  const idle = [...readers];
  const slots: Array<Slot | undefined> = [];
  const wake: Array<() => void> = [];
  const changed = () => {
    for (const resolve of wake.splice(0)) resolve();
  };
  const changes = () => new Promise<void>((resolve) => wake.push(resolve));
  let failure: Error | undefined;
  const stopAll = (error: unknown) => {
    failure ??= error instanceof Error ? error : new OperationError(describeCause(error));
    for (const pipe of open) pipe.destroy(failure);
    changed();
  };
  const abort = () => stopAll(new OperationError('Backup cancelled.'));
  options.signal?.addEventListener('abort', abort, { once: true });

  /** The index of the archive's next entry; true while an entry is being added. */
  let next = 0;
  let adding = false;
  const limit = AHEAD_PER_READER * readers.length;

  // The archive's side: entries in plan order, each once its table has begun.
  const added = (async () => {
    const done: ExportedTable[] = [];
    for (; next < plans.length; next += 1) {
      while (slots[next] === undefined && failure === undefined) await changes();
      if (failure !== undefined) throw failure;
      const plan = plans[next]!;
      const slot = slots[next]!;
      adding = true;
      const entry = await writer.addEntry(slot.path, await slot.source);
      const result = await slot.exported;
      adding = false;
      open.delete(slot.pipe);
      slots[next] = undefined;
      changed();
      done.push({
        entry: {
          path: slot.path,
          bytes: entry.bytes,
          sha256: entry.sha256,
          table: plan.table,
          rows: result.rows,
          columns: plan.columns.map((c) => ({ name: c.name, type: c.type, encoding: c.encoding })),
        },
        summary: { table: plan.table, rows: result.rows, bytes: entry.bytes },
      });
    }
    return done;
  })();
  added.catch(stopAll);

  const unstarted = startOrder(plans, readers.length > 1 ? options.sizes : undefined);
  try {
    while (unstarted.length > 0) {
      // The next table to start: the first of the order, unless too many are begun and not yet in
      // the archive — then only the archive's next entry (which always may start: no deadlock).
      let index: number | undefined;
      while (failure === undefined && (idle.length === 0 || (index = pick(unstarted, next, limit, slots)) === undefined)) await changes();
      if (failure !== undefined || index === undefined) throw failure;
      options.signal?.throwIfAborted();
      unstarted.splice(unstarted.indexOf(index), 1);
      const reader = idle.pop()!;
      const plan = plans[index]!;
      const path = tableEntryPath(plan.table);
      const pipe = new PassThrough({ highWaterMark: PIPE_BYTES });
      pipe.on('error', () => undefined); // reported by the export and the entry (stopAll), never unhandled
      open.add(pipe);
      const exported = reader.exportTable(plan, pipe, (rows) => options.onRows?.(plan, rows));
      exported.then(() => {
        idle.push(reader);
        changed();
      }, stopAll);
      const direct = readers.length === 1 || (index === next && !adding);
      const source = direct ? Promise.resolve(pipe) : writer.stage(path, pipe);
      source.catch(stopAll);
      slots[index] = { path, pipe, source, exported };
      changed();
      // One reader: the next export starts once this one has sent its last row.
      if (readers.length === 1) await exported;
    }
    return await added;
  } catch (error) {
    // The first failure wins (a writer failure reaches the export as its destroyed pipe's error,
    // the very same error); whatever else is pending ends with the pipes destroyed.
    stopAll(error);
    await added.catch(() => undefined);
    await Promise.allSettled(slots.map((slot) => slot?.exported));
    // Every staging still running ends (its pipe is destroyed, or it had all its rows) before the
    // error goes on: a part file it made after the writer's abort() would otherwise stay behind.
    const staged = await Promise.allSettled(slots.map((slot) => slot?.source));
    await Promise.all(staged.map((s) => (s.status === 'fulfilled' && isStaged(s.value) ? writer.discardPart(s.value.file) : undefined)));
    throw failure ?? error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}

/** The next table to start (see exportTables), or undefined to wait. */
function pick(unstarted: number[], next: number, limit: number, slots: ReadonlyArray<Slot | undefined>): number | undefined {
  const begun = slots.filter((slot) => slot !== undefined).length;
  if (begun < limit) return unstarted[0];
  return unstarted.includes(next) ? next : undefined;
}

/** Plan order; with sizes, largest first (ties, and unknown sizes, in plan order). */
function startOrder(plans: readonly TablePlan[], sizes: ReadonlyMap<string, number> | undefined): number[] {
  const order = plans.map((_, index) => index);
  if (!sizes) return order;
  return order.sort((a, b) => (sizes.get(plans[b]!.table) ?? 0) - (sizes.get(plans[a]!.table) ?? 0) || a - b);
}
