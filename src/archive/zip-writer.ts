/**
 * Streaming archive writer: a zip file (PKWARE APPNOTE 6.3; zip64 records when an entry, an
 * offset or the central directory passes 4 GiB, as yazl and Info-ZIP write them).
 *
 * Contracts:
 * - Nothing is held whole in memory: each entry flows source → hashing transform → deflate (raw,
 *   zlib on the libuv thread pool) → file, with backpressure at every step. The sha256, CRC-32
 *   (zlib's native one) and size of the UNCOMPRESSED data are computed in that same single pass.
 * - The sha256 of the archive FILE is computed over the bytes as they are written (`finish()`
 *   returns it): the archive is never read back just to checksum it.
 * - Entries are written one after another: callers must `await` each `addEntry` before the next
 *   call (a second call while one is pending is refused).
 * - Any error of a source, of zlib or of the file rejects the pending promise; after that the
 *   writer is unusable and the caller must `abort()` (which removes the partial file).
 * - `finish()` appends manifest.json as the LAST entry and resolves only once the file is written,
 *   fsynced and closed.
 *
 * Layout: every payload entry is a local header with general-purpose bit 3 (sizes and CRC follow
 * the data in a data descriptor, 24-byte zip64 form when a size or the offset needs it), deflated
 * (method 8) or stored (method 0, level 0) data; the manifest, whose size is known, is written with
 * its sizes in the local header. Names are UTF-8 (bit 11); entries carry mode 0600 and an
 * Info-ZIP universal timestamp in the central directory.
 */
import { createHash, type Hash } from 'node:crypto';
import { open as openFile, rm, type FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { noneCipher } from '../cipher/none.js';
import type { ArchiveCipher, FileEncryption } from '../cipher/types.js';
import { ArchiveError, describeCause } from '../errors.js';
import { assertManifestMatchesEntries, isSafeEntryPath, MANIFEST_PATH, parseManifest, type Manifest } from './manifest.js';
import {
  centralRecord,
  dataDescriptor,
  endRecords,
  entryLayout,
  wholeEntry,
  FLAG_DATA_DESCRIPTOR,
  FLAG_UTF8,
  localHeader,
  type CentralEntry,
  type EntryLayout,
  type EntryStamp,
} from './zip-records.js';
import { discardStaged, isStaged, partFileName, readStaged, stageEntry, type StagedEntry } from './zip-staged.js';
import { EntryHasher, entryDeflate, FileSink, InflateCheck, toReadable, type EntrySource } from './zip-streams.js';

export interface ArchiveWriterOptions {
  /**
   * How the zip is stored (default `none`): every byte of the zip passes through the cipher on its
   * way to the file, so the file's size and sha256 are those of the stored (encrypted) bytes.
   */
  cipher?: ArchiveCipher;
  /** zlib level 0-9 (0 = stored); default 1: table data compresses well even at the fastest level. */
  compressionLevel?: number;
  /**
   * Inflate each compressed entry again while it is written (on the thread pool) and check it
   * against its sha256 then; `verifyFile()` then re-reads the file's bytes and structure only.
   * Worth it when the source, not the CPU, sets the pace (a dump tool's pipe: the check runs in
   * the spare time). Default false: with the CPU busy (an organization export) it is cheaper to
   * verify once everything is written, on otherwise idle cores.
   */
  checkWhileWriting?: boolean;
}

export type { EntrySource } from './zip-streams.js';
export type { StagedEntry } from './zip-staged.js';

export interface WrittenEntry {
  /** Uncompressed size. */
  bytes: number;
  /** Lower-case hex sha256 of the uncompressed data. */
  sha256: string;
}

export interface FinishedArchive {
  /** Size of the archive file. */
  bytes: number;
  /** Lower-case hex sha256 of the archive file, computed from the bytes written. */
  sha256: string;
}

/** Where an entry's data was written (what a reader must find through the central directory). */
export type { EntryLayout } from './zip-records.js';

export const DEFAULT_COMPRESSION_LEVEL = 1;
/** Queued file writes above this wait (back-pressure on deflate). */
const FILE_HIGH_WATER_MARK = 1024 * 1024;

type WriterState = 'open' | 'writing' | 'finishing' | 'finished' | 'failed' | 'aborted';

export class ArchiveWriter {
  readonly filePath: string;
  private readonly handle: FileHandle;
  private readonly level: number;
  private readonly checkWhileWriting: boolean;
  private readonly written = new Map<string, WrittenEntry>();
  private readonly central: CentralEntry[] = [];
  private readonly fileHash: Hash = createHash('sha256');
  private readonly encryption: FileEncryption;
  /** The zip's own sha256, when it is stored encrypted (the check after writing decrypts and compares). */
  private readonly zipHash: Hash | undefined;
  /** Bytes handed to the file so far (encrypted: differs from `position`, the zip's offset). */
  private fileBytes = 0;
  private readonly stamp: EntryStamp;
  /** Bytes of the zip so far (= the zip offset of the next write). */
  private position = 0;
  /** The last queued write; writes run one after another in queue order. */
  private writing: Promise<void> = Promise.resolve();
  private queued = 0;
  private state: WriterState = 'open';
  private failure: ArchiveError | undefined;
  private rejectFailed: (error: ArchiveError) => void = () => undefined;
  /** Rejects on the first zlib or file error (or abort); every pending operation races against it. */
  private readonly failed: Promise<never>;
  private current: Array<Readable | Writable> | undefined;
  private result: FinishedArchive | undefined;
  /** Part files of staged entries not yet added (removed by abort). */
  private readonly parts = new Set<string>();

  private constructor(filePath: string, handle: FileHandle, level: number, checkWhileWriting: boolean, encryption: FileEncryption) {
    this.filePath = filePath;
    this.handle = handle;
    this.encryption = encryption;
    this.zipHash = encryption.ownKeys ? createHash('sha256') : undefined;
    this.level = level;
    this.checkWhileWriting = checkWhileWriting;
    this.failed = new Promise<never>((_resolve, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => undefined); // observed through races; must not count as unhandled
    const now = new Date();
    // DOS fields are local time (as yazl and Info-ZIP write them); the extra field has UTC.
    this.stamp = {
      dosDate: ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate(),
      dosTime: (now.getHours() << 11) | (now.getMinutes() << 5) | Math.floor(now.getSeconds() / 2),
      unixTime: Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(now.getTime() / 1000))),
    };
  }

  /** Creates `filePath` (mode 0600; it must not exist yet) and returns a writer for it. */
  static async open(filePath: string, options: ArchiveWriterOptions = {}): Promise<ArchiveWriter> {
    const level = options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
    if (!Number.isInteger(level) || level < 0 || level > 9) {
      throw new ArchiveError(`Compression level must be an integer from 0 to 9, got ${String(level)}.`);
    }
    const encryption = await (options.cipher ?? noneCipher).begin();
    let handle: FileHandle;
    try {
      handle = await openFile(filePath, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ArchiveError(`Refusing to write archive ${filePath}: the file already exists.`, { cause: error });
      }
      throw new ArchiveError(`Cannot create archive ${filePath}: ${describeCause(error)}`, { cause: error });
    }
    return new ArchiveWriter(filePath, handle, level, options.checkWhileWriting ?? false, encryption);
  }

  /**
   * Streams `source` into the zip as `path`. Resolves once the source is fully consumed and its
   * data written, with the size and sha256 of its data. A source error rejects with that same
   * error (so an engine's typed error keeps its type); zlib and file errors reject with
   * ArchiveError.
   */
  async addEntry(path: string, source: EntrySource | StagedEntry): Promise<WrittenEntry> {
    this.assertOpen(`add entry "${path}"`);
    this.assertNewPath(path);
    const staged = isStaged(source) ? source : undefined;
    if (staged && staged.method !== (this.level > 0 ? 8 : 0)) throw new ArchiveError(`Entry "${path}" was staged at another compression level.`);
    const input = staged ? readStaged(staged) : toReadable(source as EntrySource);
    // A staged entry's data was hashed and compressed already (zip-staged.ts).
    const hasher = staged ? undefined : new EntryHasher();
    const compressor = !staged && this.level > 0 ? entryDeflate(this.level) : undefined;
    const method = staged?.method ?? (compressor ? 8 : 0);
    const check = method === 8 && this.checkWhileWriting ? new InflateCheck() : undefined;
    const sink = new FileSink(this, check);
    // Errors of the source itself are rethrown as they are; zlib's own become ArchiveErrors (a
    // pipeline also destroys every stream with the source's error: that one is not zlib's).
    let sourceError: unknown;
    let zipError: unknown;
    input.on('error', (error) => {
      sourceError ??= error;
    });
    compressor?.on('error', (error) => {
      zipError ??= error;
    });
    const streams: Array<Readable | Writable> = [input, ...(hasher ? [hasher] : []), ...(compressor ? [compressor] : []), sink];
    this.state = 'writing';
    this.current = streams;
    const name = Buffer.from(path, 'utf8');
    const entry: CentralEntry = { name, method, flags: FLAG_UTF8 | FLAG_DATA_DESCRIPTOR, crc32: 0, compressedSize: 0, uncompressedSize: 0, offset: this.position };
    let sha256: string;
    try {
      this.queueWrite(localHeader(entry, false, this.stamp));
      const start = this.position;
      entry.dataStart = start;
      const done = pipeline(streams);
      done.catch(() => undefined); // raced below; a late rejection must not go unhandled
      await Promise.race([done, this.failed]);
      entry.crc32 = hasher?.crc32 ?? staged!.crc32;
      entry.uncompressedSize = hasher?.bytes ?? staged!.bytes;
      entry.compressedSize = this.position - start;
      sha256 = hasher?.digest() ?? staged!.sha256;
      if (staged && entry.compressedSize !== staged.compressedSize)
        throw new ArchiveError(`Entry "${path}": ${entry.compressedSize} bytes came back from its part file, ${staged.compressedSize} were staged.`);
      this.queueWrite(dataDescriptor(entry));
      await Promise.race([this.writing, this.failed]);
      if (check) {
        const inflated = await Promise.race([check.end(), this.failed]);
        if (inflated.bytes !== entry.uncompressedSize || inflated.sha256 !== sha256) {
          this.fail(new ArchiveError(`Entry "${path}" of ${this.filePath} does not inflate to the data written (${inflated.bytes} bytes, sha256 ${inflated.sha256}).`));
          throw this.failure;
        }
      }
    } catch (error) {
      for (const stream of streams) stream.destroy();
      check?.destroy();
      if (this.failure === undefined && zipError !== undefined && zipError !== sourceError && zipError !== error) {
        this.fail(new ArchiveError(`Writing archive ${this.filePath} failed: ${describeCause(zipError)}`, { cause: zipError }));
      }
      if (this.failure !== undefined) throw this.failure; // zlib/file error, or abort()
      // A source error: the zip now holds a half-written entry and cannot be continued. The
      // source's own error is rethrown so that an engine's typed error keeps its type.
      this.fail(new ArchiveError(`Entry "${path}" of ${this.filePath} was not completed: ${describeCause(error)}`, { cause: error }));
      throw error;
    } finally {
      this.current = undefined;
    }
    if (staged) await this.discardPart(staged.file);
    this.central.push(entry);
    const result = { bytes: entry.uncompressedSize, sha256 };
    this.written.set(path, result);
    this.state = 'open';
    return result;
  }

  /**
   * Compresses `source` now, into a part file beside the archive, for `addEntry(path, staged)`
   * later: entries can be compressed at the same time while the zip takes them one after another
   * (zip-staged.ts). May run while another entry is being added.
   */
  async stage(path: string, source: EntrySource): Promise<StagedEntry> {
    if (this.state === 'open' || this.state === 'writing') this.assertNewPath(path);
    else this.assertOpen(`stage entry "${path}"`);
    const file = partFileName(this.filePath);
    this.parts.add(file);
    const staged = await stageEntry(source, file, this.level).finally(() => this.parts.delete(file));
    // Aborted meanwhile: abort() may have gone through the parts before this one's file existed.
    if (this.state === 'aborted') throw await this.discardPart(file).then(() => this.failure!);
    this.parts.add(file); // (abort() sets 'aborted' before it looks at the parts)
    return staged;
  }

  /** Removes a staged entry's part file (a staged entry that will not be added; never throws). */
  async discardPart(file: string): Promise<void> {
    this.parts.delete(file);
    await discardStaged({ file }).catch(() => undefined);
  }

  private assertNewPath(path: string): void {
    if (!isSafeEntryPath(path)) throw new ArchiveError(`Refusing entry path ${JSON.stringify(path)}: not a safe relative path.`);
    if (path === MANIFEST_PATH) throw new ArchiveError(`Entry path "${MANIFEST_PATH}" is reserved for the manifest.`);
    if (this.written.has(path)) throw new ArchiveError(`Entry "${path}" was already added to ${this.filePath}.`);
  }

  /**
   * Validates `manifest` (it must list exactly the entries written, with their sizes and hashes),
   * writes it as the last entry, then the central directory, and flushes, fsyncs and closes the
   * file. Resolves with the archive's size and sha256.
   */
  async finish(manifest: Manifest): Promise<FinishedArchive> {
    this.assertOpen('finish');
    parseManifest(manifest, `Manifest for ${this.filePath}`);
    assertManifestMatchesEntries(this.filePath, manifest, this.written);
    this.state = 'finishing';
    try {
      const json = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
      const { entry, stored } = wholeEntry(MANIFEST_PATH, json, this.level, this.position);
      this.queueWrite(localHeader(entry, true, this.stamp));
      entry.dataStart = this.position;
      this.queueWrite(stored);
      this.central.push(entry);
      const centralStart = this.position;
      for (const record of this.central) this.queueWrite(centralRecord(record, this.stamp));
      this.queueWrite(endRecords(this.central.length, centralStart, this.position - centralStart, this.position));
      const tail = this.encryption.final();
      if (tail) this.queueFileBytes(tail, 0);
      await Promise.race([this.writing, this.failed]);
      await this.handle.sync();
      const { size } = await this.handle.stat();
      if (size !== this.fileBytes) throw new Error(`the file has ${size} bytes, ${this.fileBytes} were written`);
      await this.handle.close();
      this.state = 'finished';
      this.result = { bytes: size, sha256: this.fileHash.digest('hex') };
      return this.result;
    } catch (error) {
      const archiveError = this.failure ?? new ArchiveError(`Finishing archive ${this.filePath} failed: ${describeCause(error)}`, { cause: error });
      this.fail(archiveError);
      throw archiveError;
    }
  }

  /** Where each entry (manifest included) was written; available after finish(). */
  layout(): EntryLayout[] {
    return this.central.map(entryLayout);
  }

  /**
   * After finish(): reads the archive back as a restore would and checks it against what was
   * written — the file's bytes (its sha256 read back equals the sha256 of the bytes written), its
   * central directory and manifest (ArchiveReader.open), every entry's location, sizes and CRC-32
   * as written, and every entry's data inflated and checked against its sha256 (two entries at a
   * time, largest first: the cores are otherwise idle by then) — unless that was done while
   * writing (`checkWhileWriting`): the bytes read back are then those that were checked. Throws
   * ArchiveError.
   */
  async verifyFile(): Promise<void> {
    if (this.state !== 'finished' || !this.result) throw new ArchiveError(`Cannot verify ${this.filePath}: it is not finished.`);
    const { verifyWrittenArchive } = await import('./zip-verify.js');
    const keys = this.encryption.ownKeys;
    await verifyWrittenArchive(this.filePath, this.result, this.layout(), {
      entriesChecked: this.checkWhileWriting,
      encrypted: keys && this.zipHash ? { keys, zip: { bytes: this.position, sha256: this.zipHash.digest('hex') } } : undefined,
    });
  }

  /**
   * Stops writing and removes the partial file. Never throws; a pending addEntry/finish rejects.
   * After a successful finish() it does nothing: the archive is complete and may have been moved.
   */
  async abort(): Promise<void> {
    if (this.state === 'finished' || this.state === 'aborted') return;
    this.fail(new ArchiveError(`Writing archive ${this.filePath} was aborted.`));
    this.state = 'aborted';
    for (const stream of this.current ?? []) stream.destroy();
    await this.writing.catch(() => undefined);
    await this.handle.close().catch(() => undefined);
    await rm(this.filePath, { force: true }).catch(() => undefined);
    await Promise.all([...this.parts].map((file) => this.discardPart(file).catch(() => undefined)));
  }

  /**
   * Appends zip bytes, in call order, through the cipher to the file, hashing them on the way.
   * Resolves when this write (and every earlier one) is on its way to the file; `queued` lets the
   * sink apply back-pressure.
   */
  queueWrite(zipBytes: Buffer): Promise<void> {
    this.zipHash?.update(zipBytes);
    this.position += zipBytes.length;
    return this.queueFileBytes(this.encryption.update(zipBytes), zipBytes.length);
  }

  /** Appends bytes to the file itself (`zipBytes`: how many zip bytes they stand for, for back-pressure). */
  private queueFileBytes(bytes: Buffer | null, zipBytes: number): Promise<void> {
    if (bytes === null) return this.writing;
    this.fileHash.update(bytes);
    this.fileBytes += bytes.length;
    this.queued += zipBytes;
    const previous = this.writing;
    this.writing = (async () => {
      await previous;
      if (this.failure !== undefined) throw this.failure;
      try {
        for (let done = 0; done < bytes.length;) {
          const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, null);
          done += bytesWritten;
        }
      } catch (error) {
        this.fail(new ArchiveError(`Writing archive ${this.filePath} failed: ${describeCause(error)}`, { cause: error }));
        throw this.failure;
      } finally {
        this.queued -= zipBytes;
      }
    })();
    this.writing.catch(() => undefined); // surfaced through `failed`
    return this.writing;
  }

  /** True when enough is queued for the file that producers should wait. */
  get saturated(): boolean {
    return this.queued >= FILE_HIGH_WATER_MARK;
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
}
