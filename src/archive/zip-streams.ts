/**
 * The streams of one archive entry inside ArchiveWriter: the source as a Readable, a pass-through
 * that hashes (sha256, CRC-32) and counts while gathering small chunks, the sink that hands bytes
 * to the writer's file queue, and the optional check that inflates compressed bytes again.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { finished } from 'node:stream/promises';
import zlib from 'node:zlib';
import { ArchiveError, describeCause } from '../errors.js';

/** zlib output chunk: fewer, larger writes than zlib's 16 KiB default. */
export const DEFLATE_CHUNK = 256 * 1024;
/** Entry data reaches zlib in pieces of at least this size. */
const GATHER_BYTES = 512 * 1024;

/**
 * The deflate stream of an entry's data. memLevel 9 (zlib's maximum hash memory, 256 KiB more than
 * the default 8): ~6 % less CPU at level 1 on table data, same output size. Entries compressed
 * directly and staged ones (zip-staged.ts) share it, so both give the same bytes.
 */
export function entryDeflate(level: number): zlib.DeflateRaw {
  return zlib.createDeflateRaw({ level, memLevel: 9, chunkSize: DEFLATE_CHUNK });
}

/** What an entry's data may come from. */
export type EntrySource = Readable | AsyncIterable<Buffer | string> | Buffer;

/** Where FileSink hands its bytes: the writer's ordered file queue. */
export interface FileQueue {
  queueWrite(chunk: Buffer): Promise<void>;
  /** True while queued writes exceed the queue's high-water mark. */
  readonly saturated: boolean;
}

/** zlib's native CRC-32 (Node ≥ 20.15), else a table-driven one. */
export const crc32: (data: Buffer, previous: number) => number =
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
export class EntryHasher extends Transform {
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
export class FileSink extends Writable {
  constructor(
    private readonly writer: FileQueue,
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
    Promise.all([this.writer.saturated ? written : undefined, checked]).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback();
  }
}

/** Inflates an entry's compressed bytes as they are written, hashing what comes out. */
export class InflateCheck {
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

export function toReadable(source: EntrySource): Readable {
  if (Buffer.isBuffer(source)) return Readable.from([source], { objectMode: false });
  if (source instanceof Readable) return source;
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    // objectMode false: strings become UTF-8 bytes, anything else is a stream error.
    return Readable.from(source, { objectMode: false });
  }
  throw new ArchiveError('An archive entry source must be a Readable, an async iterable of Buffer/string, or a Buffer.');
}
