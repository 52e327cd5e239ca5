/**
 * Entries compressed ahead of their turn ("staged"), so that several entries of one archive can be
 * compressed at once (an organization backup exporting two tables at a time, `--jobs`), while the
 * zip still holds them one after another, in the order they are added.
 *
 * `stageEntry` runs an entry's data through the same hashing and deflate as `ArchiveWriter.addEntry`
 * into memory (up to STAGED_IN_MEMORY) or else a part file of its own; `ArchiveWriter.addEntry(path,
 * staged)` later copies the compressed bytes into the zip. The zip's bytes are exactly those of the same entry added directly: deflate
 * is deterministic for the same data, level and settings.
 *
 * A part file never holds table data in clear: it is encrypted (AES-256-CTR) with a key that exists
 * only in this process's memory, so a part left behind by a crash is unreadable (and removed as a
 * dead temp file by the store: its name follows the store's temp naming). No integrity is needed
 * from the cipher: what is read back is checked against the entry's sha256 by the verification of
 * the whole archive, before it replaces anything.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Writable as WritableStream } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveError, describeCause } from '../errors.js';
import { tempFileName, tempFileStem } from '../host.js';
import { EntryHasher, entryDeflate, toReadable, type EntrySource } from './zip-streams.js';

/** An entry's data, compressed and waiting for its turn in the zip: in memory, or in a part file. */
export interface StagedEntry {
  readonly kind: 'staged';
  /** The compressed bytes when they fit in memory (STAGED_IN_MEMORY); else they are in `file`. */
  readonly held: readonly Buffer[] | undefined;
  readonly file: string;
  /** Zip method: 8 (deflate) or 0 (stored). */
  readonly method: 0 | 8;
  /** Uncompressed size, sha256 and CRC-32 of the data. */
  readonly bytes: number;
  readonly sha256: string;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly key: Buffer;
  readonly iv: Buffer;
}

/**
 * Compressed bytes of one staged entry kept in memory before they go to a part file: a small
 * table costs no file at all (a schema of 130 tables staged 130 files: more time than the tables).
 */
const STAGED_IN_MEMORY = 1024 * 1024;

export function isStaged(source: unknown): source is StagedEntry {
  return typeof source === 'object' && source !== null && (source as { kind?: unknown }).kind === 'staged';
}

/**
 * A new part file's path for the archive at `archivePath`, beside it, in the store's temp naming
 * (`.<archive>.part.@<host>.<pid>.<12 hex>.tmp`, host.ts): a part a crash left is a dead temp file
 * of this host, and a store several servers share is cleaned of it by this host only.
 */
export function partFileName(archivePath: string): string {
  return join(dirname(archivePath), tempFileName(`${tempFileStem(basename(archivePath))}.part`));
}

/** Compresses `source`, in memory or into `file` (created when needed; removed again on failure). */
export async function stageEntry(source: EntrySource, file: string, level: number): Promise<StagedEntry> {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const input = toReadable(source);
  const hasher = new EntryHasher();
  let held: Buffer[] | undefined = [];
  let compressedSize = 0;
  let handle: FileHandle | undefined;
  // CTR keeps sizes: the part file's bytes are as many as deflate wrote.
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const toFile = async (chunks: Buffer[]) => {
    handle ??= await open(file, 'wx', 0o600).catch((error: unknown) => {
      throw new ArchiveError(`Cannot create the part file ${file}: ${describeCause(error)}`, { cause: error });
    });
    for (const chunk of chunks) await handle.write(cipher.update(chunk));
  };
  const sink = new WritableStream({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      compressedSize += chunk.length;
      if (held && compressedSize <= STAGED_IN_MEMORY) {
        held.push(chunk);
        callback();
        return;
      }
      const chunks = held ? [...held, chunk] : [chunk];
      held = undefined;
      toFile(chunks).then(() => callback(), callback);
    },
  });
  let sourceError: unknown;
  input.on('error', (error) => {
    sourceError ??= error;
  });
  try {
    await pipeline(level > 0 ? [input, hasher, entryDeflate(level), sink] : [input, hasher, sink]);
    await handle?.close();
    return { kind: 'staged', held, file, method: level > 0 ? 8 : 0, bytes: hasher.bytes, sha256: hasher.digest(), crc32: hasher.crc32, compressedSize, key, iv };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(file, { force: true });
    // The source's own error is the caller's (an engine's typed error keeps its type).
    if (sourceError !== undefined) throw sourceError;
    throw error instanceof ArchiveError ? error : new ArchiveError(`Compressing an entry into ${file} failed: ${describeCause(error)}`, { cause: error });
  }
}

/** The compressed bytes of a staged entry (decrypted from its part file, in large pieces). */
export function readStaged(staged: StagedEntry): Readable {
  if (staged.held) return Readable.from(staged.held, { objectMode: false });
  const decipher = createDecipheriv('aes-256-ctr', staged.key, staged.iv);
  const file = createReadStream(staged.file, { highWaterMark: 1024 * 1024 });
  file.on('error', (error) => decipher.destroy(error));
  return file.pipe(decipher);
}

/** Removes a staged entry's part file. */
export async function discardStaged(staged: Pick<StagedEntry, 'file'>): Promise<void> {
  await rm(staged.file, { force: true });
}
