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
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { ArchiveError, describeCause } from '../errors.js';
import { isSafeEntryPath, MANIFEST_PATH, parseManifest, type Manifest } from './manifest.js';

export interface ArchiveWriterOptions {
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

export type EntrySource = Readable | AsyncIterable<Buffer | string> | Buffer;

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
export interface EntryLayout {
  path: string;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  dataStart: number;
}

export const DEFAULT_COMPRESSION_LEVEL = 1;
/** Unix mode stored for each entry: tenant data is private, also once extracted by hand. */
const ENTRY_MODE = 0o100600;
/** zlib output chunk: fewer, larger writes than zlib's 16 KiB default. */
const DEFLATE_CHUNK = 256 * 1024;
/** Entry data reaches zlib in pieces of at least this size. */
const GATHER_BYTES = 512 * 1024;
/** Queued file writes above this wait (back-pressure on deflate). */
const FILE_HIGH_WATER_MARK = 1024 * 1024;

const LOCAL_HEADER = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const CENTRAL_HEADER = 0x02014b50;
const ZIP64_END = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const VERSION_MADE_BY = (3 << 8) | 63; // Unix, APPNOTE 6.3
const VERSION_NEEDED = 20;
const VERSION_NEEDED_ZIP64 = 45;
const FLAG_DATA_DESCRIPTOR = 1 << 3;
const FLAG_UTF8 = 1 << 11;
const MAX_32 = 0xfffffffe; // above this, a field is 0xffffffff and the zip64 record holds the value

type WriterState = 'open' | 'writing' | 'finishing' | 'finished' | 'failed' | 'aborted';

interface CentralEntry {
  name: Buffer;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  offset: number;
  /** Offset of the entry's (compressed) data: just past its local header. */
  dataStart?: number;
}

export class ArchiveWriter {
  readonly filePath: string;
  private readonly handle: FileHandle;
  private readonly level: number;
  private readonly checkWhileWriting: boolean;
  private readonly written = new Map<string, WrittenEntry>();
  private readonly central: CentralEntry[] = [];
  private readonly fileHash: Hash = createHash('sha256');
  private readonly dosTime: number;
  private readonly dosDate: number;
  private readonly unixTime: number;
  /** Bytes handed to the file so far (= the offset of the next write). */
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

  private constructor(filePath: string, handle: FileHandle, level: number, checkWhileWriting: boolean) {
    this.filePath = filePath;
    this.handle = handle;
    this.level = level;
    this.checkWhileWriting = checkWhileWriting;
    this.failed = new Promise<never>((_resolve, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => undefined); // observed through races; must not count as unhandled
    const now = new Date();
    // DOS fields are local time (as yazl and Info-ZIP write them); the extra field has UTC.
    this.dosDate = ((now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
    this.dosTime = (now.getHours() << 11) | (now.getMinutes() << 5) | Math.floor(now.getSeconds() / 2);
    this.unixTime = Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(now.getTime() / 1000)));
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
    return new ArchiveWriter(filePath, handle, level, options.checkWhileWriting ?? false);
  }

  /**
   * Streams `source` into the zip as `path`. Resolves once the source is fully consumed and its
   * data written, with the size and sha256 of its data. A source error rejects with that same
   * error (so an engine's typed error keeps its type); zlib and file errors reject with
   * ArchiveError.
   */
  async addEntry(path: string, source: EntrySource): Promise<WrittenEntry> {
    this.assertOpen(`add entry "${path}"`);
    if (!isSafeEntryPath(path)) throw new ArchiveError(`Refusing entry path ${JSON.stringify(path)}: not a safe relative path.`);
    if (path === MANIFEST_PATH) throw new ArchiveError(`Entry path "${MANIFEST_PATH}" is reserved for the manifest.`);
    if (this.written.has(path)) throw new ArchiveError(`Entry "${path}" was already added to ${this.filePath}.`);

    const input = toReadable(source);
    const hasher = new EntryHasher();
    // memLevel 9 (zlib's maximum hash memory, 256 KiB more than the default 8): ~6 % less CPU at
    // level 1 on table data, same output size.
    const compressor = this.level > 0 ? zlib.createDeflateRaw({ level: this.level, memLevel: 9, chunkSize: DEFLATE_CHUNK }) : undefined;
    const check = compressor && this.checkWhileWriting ? new InflateCheck() : undefined;
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
    const streams: Array<Readable | Writable> = compressor ? [input, hasher, compressor, sink] : [input, hasher, sink];
    this.state = 'writing';
    this.current = streams;
    const name = Buffer.from(path, 'utf8');
    const entry: CentralEntry = { name, method: compressor ? 8 : 0, flags: FLAG_UTF8 | FLAG_DATA_DESCRIPTOR, crc32: 0, compressedSize: 0, uncompressedSize: 0, offset: this.position };
    let sha256: string;
    try {
      this.queueWrite(this.localHeader(entry, false));
      const start = this.position;
      entry.dataStart = start;
      const done = pipeline(streams);
      done.catch(() => undefined); // raced below; a late rejection must not go unhandled
      await Promise.race([done, this.failed]);
      entry.crc32 = hasher.crc32;
      entry.uncompressedSize = hasher.bytes;
      entry.compressedSize = this.position - start;
      sha256 = hasher.digest();
      this.queueWrite(dataDescriptor(entry));
      await Promise.race([this.writing, this.failed]);
      if (check) {
        const inflated = await Promise.race([check.end(), this.failed]);
        if (inflated.bytes !== hasher.bytes || inflated.sha256 !== sha256) {
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
    this.central.push(entry);
    const result = { bytes: hasher.bytes, sha256 };
    this.written.set(path, result);
    this.state = 'open';
    return result;
  }

  /**
   * Validates `manifest` (it must list exactly the entries written, with their sizes and hashes),
   * writes it as the last entry, then the central directory, and flushes, fsyncs and closes the
   * file. Resolves with the archive's size and sha256.
   */
  async finish(manifest: Manifest): Promise<FinishedArchive> {
    this.assertOpen('finish');
    parseManifest(manifest, `Manifest for ${this.filePath}`);
    this.assertManifestMatchesEntries(manifest);
    this.state = 'finishing';
    try {
      const json = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
      const data = this.level > 0 ? zlib.deflateRawSync(json, { level: this.level }) : json;
      const entry: CentralEntry = {
        name: Buffer.from(MANIFEST_PATH, 'utf8'),
        method: this.level > 0 ? 8 : 0,
        flags: FLAG_UTF8,
        crc32: crc32(json, 0),
        compressedSize: data.length,
        uncompressedSize: json.length,
        offset: this.position,
      };
      this.queueWrite(this.localHeader(entry, true));
      entry.dataStart = this.position;
      this.queueWrite(data);
      this.central.push(entry);
      const centralStart = this.position;
      for (const record of this.central) this.queueWrite(this.centralRecord(record));
      this.queueWrite(endRecords(this.central.length, centralStart, this.position - centralStart, this.position));
      await Promise.race([this.writing, this.failed]);
      await this.handle.sync();
      const { size } = await this.handle.stat();
      if (size !== this.position) throw new Error(`the file has ${size} bytes, ${this.position} were written`);
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
    return this.central.map((entry) => ({
      path: entry.name.toString('utf8'),
      method: entry.method,
      crc32: entry.crc32,
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      localHeaderOffset: entry.offset,
      dataStart: entry.dataStart ?? -1,
    }));
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
    const { verifyWrittenArchive } = await import('./zip-reader.js');
    await verifyWrittenArchive(this.filePath, this.result, this.layout(), { entriesChecked: this.checkWhileWriting });
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
  }

  /**
   * Appends bytes to the file, in call order, hashing them on the way. Resolves when this write
   * (and every earlier one) is on its way to the file; `queued` lets the sink apply back-pressure.
   */
  queueWrite(bytes: Buffer): Promise<void> {
    this.fileHash.update(bytes);
    this.position += bytes.length;
    this.queued += bytes.length;
    const previous = this.writing;
    this.writing = (async () => {
      await previous;
      if (this.failure !== undefined) throw this.failure;
      try {
        for (let done = 0; done < bytes.length; ) {
          const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, null);
          done += bytesWritten;
        }
      } catch (error) {
        this.fail(new ArchiveError(`Writing archive ${this.filePath} failed: ${describeCause(error)}`, { cause: error }));
        throw this.failure;
      } finally {
        this.queued -= bytes.length;
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

  private localHeader(entry: CentralEntry, sizesKnown: boolean): Buffer {
    const header = Buffer.alloc(30 + entry.name.length);
    header.writeUInt32LE(LOCAL_HEADER, 0);
    header.writeUInt16LE(VERSION_NEEDED, 4);
    header.writeUInt16LE(entry.flags, 6);
    header.writeUInt16LE(entry.method, 8);
    header.writeUInt16LE(this.dosTime, 10);
    header.writeUInt16LE(this.dosDate, 12);
    if (sizesKnown) {
      header.writeUInt32LE(entry.crc32, 14);
      header.writeUInt32LE(entry.compressedSize, 18);
      header.writeUInt32LE(entry.uncompressedSize, 22);
    }
    header.writeUInt16LE(entry.name.length, 26);
    header.writeUInt16LE(0, 28);
    entry.name.copy(header, 30);
    return header;
  }

  private centralRecord(entry: CentralEntry): Buffer {
    const zip64 = needsZip64(entry);
    const extraLength = 9 + (zip64 ? 28 : 0);
    const record = Buffer.alloc(46 + entry.name.length + extraLength);
    record.writeUInt32LE(CENTRAL_HEADER, 0);
    record.writeUInt16LE(VERSION_MADE_BY, 4);
    record.writeUInt16LE(zip64 ? VERSION_NEEDED_ZIP64 : VERSION_NEEDED, 6);
    record.writeUInt16LE(entry.flags, 8);
    record.writeUInt16LE(entry.method, 10);
    record.writeUInt16LE(this.dosTime, 12);
    record.writeUInt16LE(this.dosDate, 14);
    record.writeUInt32LE(entry.crc32, 16);
    record.writeUInt32LE(zip64 ? 0xffffffff : entry.compressedSize, 20);
    record.writeUInt32LE(zip64 ? 0xffffffff : entry.uncompressedSize, 24);
    record.writeUInt16LE(entry.name.length, 28);
    record.writeUInt16LE(extraLength, 30);
    record.writeUInt16LE(0, 32); // comment length
    record.writeUInt16LE(0, 34); // disk number start
    record.writeUInt16LE(0, 36); // internal attributes
    record.writeUInt32LE((ENTRY_MODE << 16) >>> 0, 38);
    record.writeUInt32LE(zip64 ? 0xffffffff : entry.offset, 42);
    let at = 46 + entry.name.copy(record, 46);
    // Info-ZIP universal timestamp (mtime, UTC).
    record.writeUInt16LE(0x5455, at);
    record.writeUInt16LE(5, at + 2);
    record.writeUInt8(0b11, at + 4); // mtime (+ atime flag, as Info-ZIP sets it)
    record.writeInt32LE(this.unixTime, at + 5);
    at += 9;
    if (zip64) {
      record.writeUInt16LE(0x0001, at);
      record.writeUInt16LE(24, at + 2);
      writeUInt64(record, entry.uncompressedSize, at + 4);
      writeUInt64(record, entry.compressedSize, at + 12);
      writeUInt64(record, entry.offset, at + 20);
    }
    return record;
  }
}

function needsZip64(entry: CentralEntry): boolean {
  return entry.uncompressedSize > MAX_32 || entry.compressedSize > MAX_32 || entry.offset > MAX_32;
}

function dataDescriptor(entry: CentralEntry): Buffer {
  const zip64 = needsZip64(entry);
  const descriptor = Buffer.alloc(zip64 ? 24 : 16);
  descriptor.writeUInt32LE(DATA_DESCRIPTOR, 0);
  descriptor.writeUInt32LE(entry.crc32, 4);
  if (zip64) {
    writeUInt64(descriptor, entry.compressedSize, 8);
    writeUInt64(descriptor, entry.uncompressedSize, 16);
  } else {
    descriptor.writeUInt32LE(entry.compressedSize, 8);
    descriptor.writeUInt32LE(entry.uncompressedSize, 12);
  }
  return descriptor;
}

/** End of central directory, preceded by the zip64 record and locator when a field overflows. */
function endRecords(count: number, centralStart: number, centralSize: number, position: number): Buffer {
  const zip64 = count >= 0xffff || centralSize > MAX_32 || centralStart > MAX_32;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  end.writeUInt16LE(zip64 ? 0xffff : count, 8);
  end.writeUInt16LE(zip64 ? 0xffff : count, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralSize, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : centralStart, 16);
  if (!zip64) return end;
  const record = Buffer.alloc(56);
  record.writeUInt32LE(ZIP64_END, 0);
  writeUInt64(record, 56 - 12, 4);
  record.writeUInt16LE(VERSION_MADE_BY, 12);
  record.writeUInt16LE(VERSION_NEEDED_ZIP64, 14);
  writeUInt64(record, count, 24);
  writeUInt64(record, count, 32);
  writeUInt64(record, centralSize, 40);
  writeUInt64(record, centralStart, 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(ZIP64_LOCATOR, 0);
  writeUInt64(locator, position, 8); // the zip64 end record starts where the central directory ended
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([record, locator, end]);
}

function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(value % 0x100000000, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x100000000), offset + 4);
}

/** zlib's native CRC-32 (Node ≥ 20.15), else a table-driven one. */
const crc32: (data: Buffer, previous: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, previous) => zlib.crc32(data, previous)
    : (() => {
        const table = new Int32Array(256);
        for (let n = 0; n < 256; n++) {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[n] = c;
        }
        return (data: Buffer, previous: number) => {
          let c = ~previous;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
          return ~c >>> 0;
        };
      })();

/** Passes data through unchanged while hashing (sha256, CRC-32) and counting it. */
class EntryHasher extends Transform {
  bytes = 0;
  crc32 = 0;
  private readonly hash: Hash = createHash('sha256');
  /** Small chunks (a pipe's 64 KiB) are passed on gathered: every chunk costs zlib a thread-pool round trip. */
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.crc32 = crc32(chunk, this.crc32);
    this.bytes += chunk.length;
    if (chunk.length >= GATHER_BYTES && this.gatheredBytes === 0) {
      callback(null, chunk);
      return;
    }
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    if (this.gatheredBytes >= GATHER_BYTES) this.release();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.release();
    callback();
  }

  private release(): void {
    if (this.gatheredBytes === 0) return;
    this.push(this.gathered.length === 1 ? this.gathered[0] : Buffer.concat(this.gathered, this.gatheredBytes));
    this.gathered = [];
    this.gatheredBytes = 0;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** The last stage of an entry's pipeline: hands (compressed) bytes to the writer's file queue. */
class FileSink extends Writable {
  constructor(
    private readonly writer: ArchiveWriter,
    private readonly check: InflateCheck | undefined,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const written = this.writer.queueWrite(chunk);
    const checked = this.check?.write(chunk);
    if (!this.writer.saturated && !checked) {
      callback();
      written.catch(() => undefined); // a failure reaches the writer's `failed`
      return;
    }
    Promise.all([this.writer.saturated ? written : undefined, checked]).then(() => callback(), (error: Error) => callback(error));
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }
}

/** Inflates an entry's compressed bytes as they are written, hashing what comes out. */
class InflateCheck {
  // A deep input buffer: the check must not hold the writer back (every stall costs each stage a wake-up).
  private readonly inflate = zlib.createInflateRaw({ chunkSize: DEFLATE_CHUNK, writableHighWaterMark: 8 * 1024 * 1024 } as zlib.ZlibOptions);
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private failure: Error | undefined;

  constructor() {
    this.inflate.on('data', (chunk: Buffer) => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
    });
    this.inflate.on('error', (error) => {
      this.failure ??= error;
    });
  }

  /** Feeds compressed bytes; resolves when the inflater can take more (undefined: at once). */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inflate.write(chunk)) return undefined;
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.inflate.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        this.inflate.off('drain', onDrain);
        reject(error);
      };
      this.inflate.once('drain', onDrain);
      this.inflate.once('error', onError);
    });
  }

  /** Ends the input; resolves with what the compressed bytes inflated to. */
  async end(): Promise<{ bytes: number; sha256: string }> {
    this.inflate.end();
    try {
      await finished(this.inflate);
    } catch (error) {
      throw new ArchiveError(`The compressed data does not inflate: ${describeCause(error)}`, { cause: error });
    }
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  destroy(): void {
    this.inflate.destroy();
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
