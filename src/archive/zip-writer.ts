/**
 * Streaming archive writer (zip via yazl, which switches to zip64 by itself when an entry or the
 * archive passes 4 GiB).
 *
 * Contracts:
 * - Nothing is held whole in memory: each entry flows source → hashing transform → yazl (deflate) →
 *   file, with backpressure at every step; sha256 and size of the UNCOMPRESSED data are computed in
 *   that same single pass.
 * - Entries are written one after another: callers must `await` each `addEntry` before the next
 *   call (a second call while one is pending is refused).
 * - Any error of a source, of yazl or of the file stream rejects the pending promise; after that the
 *   writer is unusable and the caller must `abort()` (which removes the partial file).
 * - `finish()` appends manifest.json as the LAST entry and resolves only once the file is flushed,
 *   fsynced and closed.
 */
import { once } from 'node:events';
import { createHash, type Hash } from 'node:crypto';
import { open as openFile, rm, type FileHandle } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { ArchiveError, describeCause } from '../errors.js';
import { isSafeEntryPath, MANIFEST_PATH, parseManifest, type Manifest } from './manifest.js';

export interface ArchiveWriterOptions {
  /** zlib level 0-9 (0 = stored); default 1: table data compresses well even at the fastest level. */
  compressionLevel?: number;
}

export type EntrySource = Readable | AsyncIterable<Buffer | string> | Buffer;

export interface WrittenEntry {
  /** Uncompressed size. */
  bytes: number;
  /** Lower-case hex sha256 of the uncompressed data. */
  sha256: string;
}

export const DEFAULT_COMPRESSION_LEVEL = 1;
/** Unix mode stored for each entry: tenant data is private, also once extracted by hand. */
const ENTRY_MODE = 0o100600;

type WriterState = 'open' | 'writing' | 'finishing' | 'finished' | 'failed' | 'aborted';

export class ArchiveWriter {
  readonly filePath: string;
  private readonly handle: FileHandle;
  private readonly file: WriteStream;
  private readonly zip = new ZipFile();
  private readonly level: number;
  private readonly written = new Map<string, WrittenEntry>();
  private state: WriterState = 'open';
  private failure: ArchiveError | undefined;
  private rejectFailed: (error: ArchiveError) => void = () => undefined;
  /** Rejects on the first yazl or file error; every pending operation races against it. */
  private readonly failed: Promise<never>;
  private current: { input: Readable; hasher: Transform } | undefined;

  private constructor(filePath: string, handle: FileHandle, level: number) {
    this.filePath = filePath;
    this.handle = handle;
    this.level = level;
    this.failed = new Promise<never>((_resolve, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => undefined); // observed through races; must not count as unhandled
    // autoClose false: the file stays open after the last write, so finish() can fsync it first.
    this.file = handle.createWriteStream({ autoClose: false });
    const onError = (error: unknown) => this.fail(new ArchiveError(`Writing archive ${filePath} failed: ${describeCause(error)}`, { cause: error }));
    this.zip.on('error', onError);
    const output = this.zip.outputStream as Readable;
    output.on('error', onError);
    this.file.on('error', onError);
    output.pipe(this.file);
  }

  /** Creates `filePath` (mode 0600; it must not exist yet) and returns a writer for it. */
  static async open(filePath: string, options: ArchiveWriterOptions = {}): Promise<ArchiveWriter> {
    const level = options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new ArchiveError(`Compression level must be an integer from 0 to 9, got ${String(level)}.`);
    }
    let handle: FileHandle;
    try {
      handle = await openFile(filePath, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ArchiveError(`Refusing to write archive ${filePath}: the file already exists.`, { cause: error });
      }
      throw new ArchiveError(`Cannot create archive ${filePath}: ${describeCause(error)}`, { cause: error });
    }
    return new ArchiveWriter(filePath, handle, level);
  }

  /**
   * Streams `source` into the zip as `path`. Resolves once the source is fully consumed, with the
   * size and sha256 of its data. A source error rejects with that same error (so an engine's typed
   * error keeps its type); zip and file errors reject with ArchiveError.
   */
  async addEntry(path: string, source: EntrySource): Promise<WrittenEntry> {
    this.assertOpen(`add entry "${path}"`);
    if (!isSafeEntryPath(path)) throw new ArchiveError(`Refusing entry path ${JSON.stringify(path)}: not a safe relative path.`);
    if (path === MANIFEST_PATH) throw new ArchiveError(`Entry path "${MANIFEST_PATH}" is reserved for the manifest.`);
    if (this.written.has(path)) throw new ArchiveError(`Entry "${path}" was already added to ${this.filePath}.`);

    const input = toReadable(source);
    const hasher = new HashingCounter();
    this.state = 'writing';
    this.current = { input, hasher };
    try {
      this.zip.addReadStream(hasher, path, { compressionLevel: this.level, mode: ENTRY_MODE });
      const consumed = (async () => {
        await pipeline(input, hasher);
        await finished(hasher); // readable side: yazl has taken every byte
      })();
      await Promise.race([consumed, this.failed]);
    } catch (error) {
      input.destroy();
      hasher.destroy();
      if (this.failure !== undefined) throw this.failure; // zip/file error, or abort()
      // A source error: the zip now holds a half-written entry and cannot be continued. The
      // source's own error is rethrown so that an engine's typed error keeps its type.
      this.fail(new ArchiveError(`Entry "${path}" of ${this.filePath} was not completed: ${describeCause(error)}`, { cause: error }));
      throw error;
    } finally {
      this.current = undefined;
    }
    const result = { bytes: hasher.bytes, sha256: hasher.digest() };
    this.written.set(path, result);
    this.state = 'open';
    return result;
  }

  /**
   * Validates `manifest` (it must list exactly the entries written, with their sizes and hashes),
   * writes it as the last entry, ends the zip, then flushes, fsyncs and closes the file.
   * Resolves with the archive's size in bytes.
   */
  async finish(manifest: Manifest): Promise<{ bytes: number }> {
    this.assertOpen('finish');
    parseManifest(manifest, `Manifest for ${this.filePath}`);
    this.assertManifestMatchesEntries(manifest);
    this.state = 'finishing';
    try {
      const json = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
      this.zip.addBuffer(json, MANIFEST_PATH, { compressionLevel: this.level, mode: ENTRY_MODE });
      this.zip.end();
      await Promise.race([finished(this.file), this.failed]);
      await this.handle.sync();
      const { size } = await this.handle.stat();
      // Destroying the stream closes the handle (the stream holds a reference on it, so
      // handle.close() alone would wait for the stream forever).
      const closed = once(this.file, 'close');
      this.file.destroy();
      await closed;
      this.state = 'finished';
      return { bytes: size };
    } catch (error) {
      const archiveError = this.failure ?? new ArchiveError(`Finishing archive ${this.filePath} failed: ${describeCause(error)}`, { cause: error });
      this.fail(archiveError);
      throw archiveError;
    }
  }

  /**
   * Stops writing and removes the partial file. Never throws; a pending addEntry/finish rejects.
   * After a successful finish() it does nothing: the archive is complete and may have been moved.
   */
  async abort(): Promise<void> {
    if (this.state === 'finished' || this.state === 'aborted') return;
    this.fail(new ArchiveError(`Writing archive ${this.filePath} was aborted.`));
    this.state = 'aborted';
    this.current?.input.destroy();
    this.current?.hasher.destroy();
    const output = this.zip.outputStream as Readable;
    output.unpipe(this.file);
    output.destroy();
    this.file.destroy();
    await this.handle.close().catch(() => undefined);
    await rm(this.filePath, { force: true }).catch(() => undefined);
  }

  private fail(error: ArchiveError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    if (this.state !== 'aborted') this.state = 'failed';
    this.rejectFailed(error);
  }

  private assertOpen(action: string): void {
    if (this.state === 'open') return;
    if (this.state === 'writing') {
      throw new ArchiveError(`Cannot ${action} in ${this.filePath}: the previous entry is still being written (await each addEntry).`);
    }
    if (this.failure !== undefined && this.state !== 'aborted') {
      throw new ArchiveError(`Cannot ${action}: ${this.failure.message}`, { cause: this.failure });
    }
    throw new ArchiveError(`Cannot ${action} in ${this.filePath}: the archive is already ${this.state}.`);
  }

  /** Catches a caller bug here instead of at verification time. */
  private assertManifestMatchesEntries(manifest: Manifest): void {
    const listed = new Set(manifest.entries.map((entry) => entry.path));
    const unlisted = [...this.written.keys()].filter((path) => !listed.has(path));
    const unwritten = [...listed].filter((path) => !this.written.has(path));
    if (unlisted.length > 0 || unwritten.length > 0) {
      throw new ArchiveError(
        `Manifest for ${this.filePath} does not match the written entries: not in manifest: [${unlisted.join(', ')}]; never written: [${unwritten.join(', ')}].`,
      );
    }
    for (const entry of manifest.entries) {
      const actual = this.written.get(entry.path);
      if (actual !== undefined && (actual.bytes !== entry.bytes || actual.sha256 !== entry.sha256)) {
        throw new ArchiveError(
          `Manifest for ${this.filePath} lists "${entry.path}" as ${entry.bytes} bytes / ${entry.sha256}, but ${actual.bytes} bytes / ${actual.sha256} were written.`,
        );
      }
    }
  }
}

/** Passes data through unchanged while hashing and counting it. */
class HashingCounter extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

function toReadable(source: EntrySource): Readable {
  if (Buffer.isBuffer(source)) return Readable.from([source], { objectMode: false });
  if (source instanceof Readable) return source;
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    // objectMode false: strings become UTF-8 bytes, anything else is a stream error.
    return Readable.from(source, { objectMode: false });
  }
  throw new ArchiveError('An archive entry source must be a Readable, an async iterable of Buffer/string, or a Buffer.');
}
