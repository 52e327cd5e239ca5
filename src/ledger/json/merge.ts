/**
 * Newest-first order across owners in bounded memory: the JSON ledger keeps each owner's records
 * in its own file, and `list` of everything must still come out newest first. Up to
 * MEMORY_ENTRIES entries are sorted in memory; beyond, sorted runs go to temp files (a private
 * folder of the system's temp directory, removed at the end) and are merged line by line.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { collectGarbage, garbageCollector } from '../../memory.js';
import type { LedgerEntry } from '../types.js';
import { newestFirst } from './owner-file.js';

const MEMORY_ENTRIES = 10_000;

const byNewest = (a: LedgerEntry, b: LedgerEntry) => newestFirst(a.record, b.record);

export async function* mergeNewestFirst(batches: AsyncIterable<LedgerEntry[]>, memoryEntries = MEMORY_ENTRIES): AsyncGenerator<LedgerEntry> {
  let current: LedgerEntry[] = [];
  const runs: string[] = [];
  let dir: string | undefined;
  try {
    for await (const batch of batches) {
      for (const entry of batch) current.push(entry);
      if (current.length >= memoryEntries) {
        dir ??= await mkdtemp(path.join(os.tmpdir(), 'tenant-backup-merge-'));
        const run = path.join(dir, `${runs.length}.jsonl`);
        await writeRun(run, current.sort(byNewest));
        runs.push(run);
        current = [];
        collectGarbage();
      }
    }
    current.sort(byNewest);
    if (runs.length === 0) {
      yield* current;
      return;
    }
    yield* mergeRuns(runs, current);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A sorted run, one entry per line, written in pieces (no string of the whole run). */
async function writeRun(file: string, entries: LedgerEntry[]): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    for (let i = 0; i < entries.length; i += 1000) {
      await handle.write(
        entries
          .slice(i, i + 1000)
          .map((entry) => `${JSON.stringify(entry)}\n`)
          .join(''),
      );
    }
  } finally {
    await handle.close();
  }
}

interface Cursor {
  head: LedgerEntry;
  next(): Promise<LedgerEntry | undefined>;
}

/** K-way merge of sorted run files and one sorted in-memory run, with a binary heap. */
async function* mergeRuns(files: string[], memory: LedgerEntry[]): AsyncGenerator<LedgerEntry> {
  const cursors: Cursor[] = [];
  const readers: LineReader[] = [];
  try {
    for (const file of files) {
      const reader = await LineReader.open(file);
      readers.push(reader);
      const next = async () => {
        const line = await reader.next();
        return line === null ? undefined : (JSON.parse(line) as LedgerEntry);
      };
      const head = await next();
      if (head) cursors.push({ head, next });
    }
    let position = 0;
    const fromMemory = async () => memory[position++];
    const first = await fromMemory();
    if (first) cursors.push({ head: first, next: fromMemory });

    const heap = new Heap(cursors);
    const tidy = garbageCollector(20_000);
    for (;;) {
      tidy();
      const top = heap.peek();
      if (!top) return;
      yield top.head;
      const following = await top.next();
      if (following) {
        top.head = following;
        heap.siftDownTop();
      } else heap.pop();
    }
  } finally {
    for (const reader of readers) await reader.close();
  }
}

/**
 * Lines of a file, read on demand in 64 KiB pieces: one piece per run in memory, not more. The
 * decoder keeps a multi-byte character cut at a piece's end until its last bytes arrive.
 */
class LineReader {
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');
  private lines: string[] = [];
  private done = false;
  private readonly buffer = Buffer.alloc(64 * 1024);

  private constructor(private readonly handle: FileHandle) {}

  static async open(file: string): Promise<LineReader> {
    return new LineReader(await open(file, 'r'));
  }

  async next(): Promise<string | null> {
    while (this.lines.length === 0 && !this.done) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, null);
      if (bytesRead === 0) {
        this.done = true;
        this.pending += this.decoder.end();
        if (this.pending !== '') this.lines.push(this.pending);
        this.pending = '';
        break;
      }
      const parts = (this.pending + this.decoder.write(this.buffer.subarray(0, bytesRead))).split('\n');
      this.pending = parts.pop()!;
      this.lines = parts.filter((line) => line !== '');
      this.lines.reverse();
    }
    return this.lines.pop() ?? null;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** A max-heap of cursors by their head (the newest entry first). */
class Heap {
  constructor(private readonly items: Cursor[]) {
    for (let i = Math.floor(items.length / 2) - 1; i >= 0; i -= 1) this.siftDown(i);
  }

  peek(): Cursor | undefined {
    return this.items[0];
  }

  pop(): void {
    const last = this.items.pop();
    if (last && this.items.length > 0) {
      this.items[0] = last;
      this.siftDown(0);
    }
  }

  siftDownTop(): void {
    this.siftDown(0);
  }

  private siftDown(start: number): void {
    const items = this.items;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < items.length && byNewest(items[left]!.head, items[best]!.head) < 0) best = left;
      if (right < items.length && byNewest(items[right]!.head, items[best]!.head) < 0) best = right;
      if (best === i) return;
      [items[i], items[best]] = [items[best]!, items[i]!];
      i = best;
    }
  }
}
