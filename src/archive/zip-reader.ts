/**
 * Streaming archive reader (yauzl; zip64 supported).
 *
 * Contracts:
 * - `open()` trusts nothing: it reads the central directory, refuses unsafe names (zip slip),
 *   duplicate names, encrypted entries, a missing/oversized/invalid manifest, and any difference
 *   between the zip's payload entries and the manifest's (set and sizes). Only then is a reader
 *   returned.
 * - Entry data is never buffered whole. `openEntry()` streams it and checks sha256 and size at the
 *   end: a mismatch is emitted as a stream error BEFORE the stream ends, so a consumer piping it into
 *   a database fails instead of committing.
 * - Every failure is an ArchiveError; yauzl and zlib errors are wrapped, never surfaced raw.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import type { Entry, ZipFile } from 'yauzl';
import type { CipherKind } from '../cipher/types.js';
import { ArchiveError, TenantBackupError, describeCause } from '../errors.js';
import { isSafeEntryPath, MANIFEST_PATH, parseManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { openZipSource, type KeySource, type OpenedZip } from './zip-source.js';

/** manifest.json is read into memory to be parsed; anything larger is not a manifest we wrote. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** Bounds the central directory kept in memory; far above any real organization's table count. */
export const MAX_ARCHIVE_ENTRIES = 100_000;
const INFLATE_CHUNK = 1024 * 1024;
/** Entries checked at once by verify(): inflating runs on the thread pool, hashing here. */
const VERIFY_CONCURRENCY = 2;

export interface ArchiveReaderOptions {
  /** The keys that decrypt an encrypted archive (asked for only when it is one). */
  keys?: KeySource;
}

// yauzl's own file-name checks (decodeStrings + strictFileNames) fail with these messages.
const YAUZL_UNSAFE_NAME = /^(?:invalid relative path|absolute path|invalid characters in fileName): (.*)$/s;

export class ArchiveReader {
  readonly filePath: string;
  readonly manifest: Manifest;
  /** @internal */
  readonly zip: ZipFile;
  /** @internal */
  readonly zipEntries: ReadonlyMap<string, Entry>;
  /** How the file is stored: `none` (the zip itself) or `age` (encrypted). */
  readonly encryption: CipherKind;
  private readonly manifestEntries: ReadonlyMap<string, ManifestEntry>;
  private readonly source: OpenedZip;

  private constructor(filePath: string, source: OpenedZip, zipEntries: Map<string, Entry>, manifest: Manifest) {
    this.filePath = filePath;
    this.source = source;
    this.zip = source.zip;
    this.encryption = source.kind;
    this.zipEntries = zipEntries;
    this.manifest = manifest;
    this.manifestEntries = new Map(manifest.entries.map((entry) => [entry.path, entry]));
  }

  /**
   * Opens and checks an archive (see the contract above), decrypting it when it is encrypted.
   * Throws ArchiveError; ConfigError when it is encrypted and no key is configured.
   */
  static async open(filePath: string, options: ArchiveReaderOptions = {}): Promise<ArchiveReader> {
    let source: OpenedZip;
    try {
      source = await openZipSource(filePath, options.keys, {
        lazyEntries: true,
        autoClose: false,
        validateEntrySizes: true,
        strictFileNames: true,
        decodeStrings: true,
      });
    } catch (error) {
      if (error instanceof TenantBackupError) throw error;
      if (typeof (error as NodeJS.ErrnoException).code === 'string') {
        throw new ArchiveError(`Cannot read archive ${filePath}: ${describeCause(error)}`, { cause: error });
      }
      throw notAnArchive(filePath, error);
    }
    const zip = source.zip;
    // yauzl may emit a late error (e.g. closing the file); never let it become an uncaught exception.
    zip.on('error', () => undefined);
    try {
      const zipEntries = await readCentralDirectory(zip, filePath);
      const manifestEntry = zipEntries.get(MANIFEST_PATH);
      if (manifestEntry === undefined) throw new ArchiveError(`${filePath} is not a tenant-backup archive: it has no ${MANIFEST_PATH}.`);
      const manifest = await readManifest(zip, manifestEntry, filePath);
      checkEntriesMatch(filePath, zipEntries, manifest);
      return new ArchiveReader(filePath, source, zipEntries, manifest);
    } catch (error) {
      zip.close();
      throw error;
    }
  }

  /**
   * A stream of the entry's uncompressed data. At its end it verifies size and sha256 against the
   * manifest and, on mismatch (or any read/inflate error), fails with an ArchiveError instead of
   * ending. Destroying the stream early releases the underlying file stream.
   */
  async openEntry(path: string): Promise<Readable> {
    const expected = this.manifestEntries.get(path);
    const entry = this.zipEntries.get(path);
    if (expected === undefined || entry === undefined) {
      throw new ArchiveError(`Archive ${this.filePath} has no entry "${path}".`);
    }
    const source = await this.openEntryData(entry);
    const verifier = new VerifyingStream(this.filePath, expected);
    source.on('error', (error) => verifier.destroy(corruptEntry(this.filePath, path, error)));
    verifier.on('close', () => source.destroy());
    source.pipe(verifier);
    return verifier;
  }

  /**
   * Streams every payload entry once and checks its size and sha256 (two entries at a time,
   * largest first). Throws ArchiveError (the first failure found).
   */
  async verify(): Promise<void> {
    const queue = [...this.manifest.entries].sort((a, b) => b.bytes - a.bytes);
    let failure: unknown;
    const worker = async () => {
      for (let entry = queue.shift(); entry && failure === undefined; entry = queue.shift()) {
        try {
          await this.verifyEntry(entry);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: VERIFY_CONCURRENCY }, worker));
    if (failure !== undefined) throw failure;
  }

  /** openEntry's checks, without a stream for the data: it is only hashed and counted. */
  private async verifyEntry(expected: ManifestEntry): Promise<void> {
    const entry = this.zipEntries.get(expected.path);
    if (entry === undefined) throw new ArchiveError(`Archive ${this.filePath} has no entry "${expected.path}".`);
    const source = await this.openEntryData(entry);
    const hash = createHash('sha256');
    let bytes = 0;
    const mismatch = (what: string) => new ArchiveError(`Archive ${this.filePath}: entry "${expected.path}" is corrupt: ${what}.`, { details: { entry: expected.path } });
    try {
      await new Promise<void>((resolve, reject) => {
        source.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > expected.bytes) {
            source.destroy(mismatch(`more than the ${expected.bytes} bytes the manifest states`));
            return;
          }
          hash.update(chunk);
        });
        source.once('error', reject);
        source.once('end', resolve);
      });
    } catch (error) {
      throw corruptEntry(this.filePath, expected.path, error);
    }
    if (bytes !== expected.bytes) throw mismatch(`${bytes} bytes, but the manifest states ${expected.bytes}`);
    const sha256 = hash.digest('hex');
    if (sha256 !== expected.sha256) throw mismatch(`sha256 mismatch: expected ${expected.sha256}, got ${sha256}`);
  }

  /**
   * The entry's uncompressed data: its bytes located through yauzl (local header), read with
   * large buffers and inflated here. Sizes are checked by the VerifyingStream downstream.
   */
  private async openEntryData(entry: Entry): Promise<Readable> {
    let start: number;
    try {
      start = (await this.zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
    } catch (error) {
      throw corruptEntry(this.filePath, entry.fileName, error);
    }
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
      throw new ArchiveError(`Archive ${this.filePath}: entry "${entry.fileName}" uses compression method ${entry.compressionMethod}, which tenant-backup never writes.`);
    }
    const raw = entry.compressedSize === 0 ? Readable.from([], { objectMode: false }) : this.readRange(start, start + entry.compressedSize - 1);
    if (entry.compressionMethod === 0) return raw;
    const inflate = zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK });
    raw.on('error', (error: Error) => inflate.destroy(error));
    inflate.on('close', () => raw.destroy());
    raw.pipe(inflate);
    return inflate;
  }

  /**
   * Bytes `start`…`end` (inclusive) of the zip, read through the file descriptor `open()` opened —
   * never by name again: the archive read is the archive verified, even if the file is deleted or
   * replaced meanwhile (e.g. `delete` while a restore runs).
   */
  private readRange(start: number, end: number): Readable {
    return this.source.readRange(start, end);
  }

  /** @internal The whole zip as stored or decrypted (the check after writing hashes it). */
  readZipBytes(): Readable {
    const size = (this.zip as unknown as { fileSize: number }).fileSize;
    return size === 0 ? Readable.from([], { objectMode: false }) : this.readRange(0, size - 1);
  }

  /**
   * The whole file as stored — an encrypted archive's encrypted bytes, whose sha256 the ledger
   * records — through the verified descriptor (`verify` and `get` hash and copy it).
   */
  openFile(): Readable {
    return this.source.readStored();
  }

  /**
   * Releases the archive. The file descriptor is closed once entry streams still open have ended
   * or been destroyed. Idempotent.
   */
  async close(): Promise<void> {
    this.zip.close();
  }
}

/** Reads every central-directory record, refusing unsafe, duplicate and encrypted entries. */
async function readCentralDirectory(zip: ZipFile, filePath: string): Promise<Map<string, Entry>> {
  if (zip.entryCount > MAX_ARCHIVE_ENTRIES) {
    throw new ArchiveError(`Archive ${filePath} has ${zip.entryCount} entries; more than ${MAX_ARCHIVE_ENTRIES} is not a tenant-backup archive.`);
  }
  const entries = new Map<string, Entry>();
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (!isSafeEntryPath(name)) throw unsafeName(filePath, name);
      if (entries.has(name)) throw new ArchiveError(`Archive ${filePath} contains the entry "${name}" twice.`);
      if (entry.isEncrypted()) throw new ArchiveError(`Archive ${filePath}: entry "${name}" is encrypted, which tenant-backup never writes.`);
      entries.set(name, entry);
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    const unsafe = YAUZL_UNSAFE_NAME.exec(describeCause(error));
    if (unsafe) throw unsafeName(filePath, unsafe[1] ?? '');
    throw notAnArchive(filePath, error);
  }
  return entries;
}

async function readManifest(zip: ZipFile, entry: Entry, filePath: string): Promise<Manifest> {
  if (entry.uncompressedSize > MAX_MANIFEST_BYTES) {
    throw new ArchiveError(`Archive ${filePath}: ${MANIFEST_PATH} is ${entry.uncompressedSize} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit.`);
  }
  const stream = await openEntryStream(zip, entry, filePath);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_MANIFEST_BYTES) throw new ArchiveError(`Archive ${filePath}: ${MANIFEST_PATH} exceeds ${MAX_MANIFEST_BYTES} bytes.`);
      chunks.push(chunk);
    }
  } catch (error) {
    stream.destroy();
    if (error instanceof ArchiveError) throw error;
    throw corruptEntry(filePath, MANIFEST_PATH, error);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
  } catch (error) {
    throw new ArchiveError(`Archive ${filePath}: ${MANIFEST_PATH} is not valid UTF-8 JSON (${describeCause(error)}).`, { cause: error });
  }
  return parseManifest(value, `Archive ${filePath}`);
}

/** The zip's payload entries must be exactly the manifest's, with the sizes it states. */
function checkEntriesMatch(filePath: string, zipEntries: ReadonlyMap<string, Entry>, manifest: Manifest): void {
  const listed = new Set(manifest.entries.map((entry) => entry.path));
  const extra = [...zipEntries.keys()].filter((name) => name !== MANIFEST_PATH && !listed.has(name));
  const missing = [...listed].filter((path) => !zipEntries.has(path));
  if (extra.length > 0 || missing.length > 0) {
    const parts = [
      missing.length > 0 ? `listed in the manifest but missing from the zip: ${nameList(missing)}` : '',
      extra.length > 0 ? `in the zip but not in the manifest: ${nameList(extra)}` : '',
    ].filter((part) => part !== '');
    throw new ArchiveError(`Archive ${filePath} does not match its manifest: ${parts.join('; ')}.`, { details: { missing, extra } });
  }
  for (const expected of manifest.entries) {
    const actual = zipEntries.get(expected.path)?.uncompressedSize;
    if (actual !== expected.bytes) {
      throw new ArchiveError(`Archive ${filePath}: entry "${expected.path}" is ${String(actual)} bytes in the zip, but the manifest says ${expected.bytes}.`);
    }
  }
}

async function openEntryStream(zip: ZipFile, entry: Entry, filePath: string): Promise<Readable> {
  try {
    return await zip.openReadStreamPromise(entry);
  } catch (error) {
    throw corruptEntry(filePath, entry.fileName, error);
  }
}

/** Passes data through; at the end fails (instead of ending) unless size and sha256 match. */
class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private readonly filePath: string;
  private readonly expected: ManifestEntry;

  constructor(filePath: string, expected: ManifestEntry) {
    super();
    this.filePath = filePath;
    this.expected = expected;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expected.bytes) {
      callback(this.mismatch(`more than the ${this.expected.bytes} bytes the manifest states`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.expected.bytes) {
      callback(this.mismatch(`${this.bytes} bytes, but the manifest states ${this.expected.bytes}`));
      return;
    }
    const sha256 = this.hash.digest('hex');
    if (sha256 !== this.expected.sha256) {
      callback(this.mismatch(`sha256 mismatch: expected ${this.expected.sha256}, got ${sha256}`));
      return;
    }
    callback();
  }

  private mismatch(what: string): ArchiveError {
    return new ArchiveError(`Archive ${this.filePath}: entry "${this.expected.path}" is corrupt: ${what}.`, {
      details: { entry: this.expected.path },
    });
  }
}

function notAnArchive(filePath: string, cause: unknown): ArchiveError {
  return new ArchiveError(`${filePath}: not a tenant-backup archive or truncated: ${describeCause(cause)}`, { cause });
}

function unsafeName(filePath: string, name: string): ArchiveError {
  return new ArchiveError(`Archive ${filePath} contains an unsafe entry name ${JSON.stringify(name)} (absolute, escaping its folder, or malformed); refusing to read it.`, {
    details: { entry: name },
  });
}

function corruptEntry(filePath: string, name: string, cause: unknown): ArchiveError {
  if (cause instanceof ArchiveError) return cause;
  return new ArchiveError(`Archive ${filePath}: entry "${name}" is corrupt or truncated: ${describeCause(cause)}`, { cause, details: { entry: name } });
}

function nameList(names: string[]): string {
  const shown = names.slice(0, 10).map((name) => JSON.stringify(name));
  return names.length > shown.length ? `${shown.join(', ')} and ${names.length - shown.length} more` : shown.join(', ');
}
