/**
 * Random access to the plaintext of an age file, chunk by chunk, straight from its file
 * descriptor: the zip reader (yauzl) jumps to the central directory and to each entry, and only the
 * 64 KiB chunks it touches are read and decrypted. Nothing is decrypted to disk and memory stays
 * flat: a stream holds one batch of chunks at a time, `read` a few cached chunks.
 *
 * Opening authenticates the header (its MAC under the file key) and the last chunk (with its
 * last-chunk flag, at the place the file's size says it is): a truncated or extended file is
 * refused before anything else is read. Every other chunk is authenticated when read.
 */
import { read as readCallback } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ArchiveError, ConfigError } from '../../errors.js';
import type { PlainView, ReadKeys } from '../types.js';
import { AGE_MAGIC, MAX_HEADER_BYTES, headerMacMatches, parseHeader, type ParsedHeader } from './header.js';
import { FILE_KEY_BYTES } from './primitives.js';
import { CHUNK_BYTES, openChunk, PAYLOAD_NONCE_BYTES, payloadKey, SEALED_CHUNK_BYTES, TAG_BYTES } from './stream.js';

const readAt = promisify(readCallback);
/** Chunks read and decrypted at once by a stream (1 MiB of file). */
const BATCH_CHUNKS = 16;
const CACHED_CHUNKS = 4;

/** True when a file starting with these bytes is an age file. */
export function isAgeFile(firstBytes: Buffer): boolean {
  return firstBytes.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC);
}

/** `length` bytes of the file from `position`; fewer only at its end. */
async function readFileBytes(fd: number, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await readAt(fd, buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

async function readHeader(fd: number, fileSize: number, file: string): Promise<ParsedHeader> {
  for (let want = Math.min(fileSize, 64 * 1024); ; want = Math.min(fileSize, MAX_HEADER_BYTES)) {
    const header = parseHeader(await readFileBytes(fd, 0, want), file);
    if (header) return header;
    if (want >= fileSize) throw new ArchiveError(`Cannot decrypt ${file}: it is truncated (it ends inside its age header).`);
    if (want >= MAX_HEADER_BYTES) throw new ArchiveError(`Cannot decrypt ${file}: its age header is larger than ${MAX_HEADER_BYTES} bytes.`);
  }
}

async function unwrapFileKey(header: ParsedHeader, keys: ReadKeys, file: string): Promise<Buffer> {
  if (keys.fileKey) return keys.fileKey;
  if (header.stanzas.some((stanza) => stanza.type === 'scrypt') && header.stanzas.length > 1) {
    throw new ArchiveError(`Cannot decrypt ${file}: its age header is malformed (a passphrase stanza beside other recipients).`);
  }
  for (const stanza of header.stanzas) {
    for (const identity of keys.identities) {
      const fileKey = await identity.unwrap(stanza, file);
      if (fileKey === null) continue;
      if (fileKey.length !== FILE_KEY_BYTES) throw new ArchiveError(`Cannot decrypt ${file}: its age header is malformed (a file key of the wrong size).`);
      return fileKey;
    }
  }
  const types = [...new Set(header.stanzas.map((stanza) => stanza.type))].join(', ');
  throw new ArchiveError(
    `Cannot decrypt ${file} with ${keys.source}: no configured key matches its recipients (${types}). A wrong identity or passphrase, or an archive made before a key rotation: add the old identity to the identity file.`,
    { details: { recipient_types: types } },
  );
}

/** Opens an age file for random access to its plaintext (see the header). `keys` undefined: none configured. */
export async function openAgeView(fd: number, fileSize: number, keys: ReadKeys | undefined, file: string): Promise<PlainView> {
  const header = await readHeader(fd, fileSize, file);
  if (!keys || (keys.identities.length === 0 && !keys.fileKey)) {
    throw new ConfigError(`${file} is encrypted (age). Reading it needs the private key: set encryption.identityFile (or encryption.passphrase) in the configuration.`, {
      encrypted: true,
    });
  }
  const fileKey = await unwrapFileKey(header, keys, file);
  if (!headerMacMatches(header, fileKey)) throw new ArchiveError(`Cannot decrypt ${file}: its age header was altered (MAC mismatch).`);
  const nonce = await readFileBytes(fd, header.length, PAYLOAD_NONCE_BYTES);
  const start = header.length + PAYLOAD_NONCE_BYTES;
  const sealed = fileSize - start;
  const chunks = Math.ceil(sealed / SEALED_CHUNK_BYTES);
  const lastSealed = sealed - (chunks - 1) * SEALED_CHUNK_BYTES;
  // An empty last chunk is only valid as the only chunk (an empty file).
  if (nonce.length < PAYLOAD_NONCE_BYTES || chunks < 1 || lastSealed < TAG_BYTES || (lastSealed === TAG_BYTES && chunks > 1)) {
    throw new ArchiveError(`Cannot decrypt ${file}: it is truncated (${fileSize} bytes end inside its encrypted payload).`);
  }
  const view = new AgeView(fd, file, payloadKey(fileKey, nonce), start, chunks, (chunks - 1) * CHUNK_BYTES + lastSealed - TAG_BYTES);
  await view.chunk(chunks - 1); // the last chunk, flagged last, where the size says: truncation shows here
  return view;
}

class AgeView implements PlainView {
  readonly kind = 'age';
  private readonly cache = new Map<number, Buffer>();

  constructor(
    private readonly fd: number,
    private readonly file: string,
    private readonly key: Buffer,
    private readonly start: number,
    private readonly chunks: number,
    readonly size: number,
  ) {}

  /** Decrypts chunks `first` … `last` (read in one piece). */
  private async decrypt(first: number, last: number): Promise<Buffer[]> {
    const from = this.start + first * SEALED_CHUNK_BYTES;
    const bytes = await readFileBytes(this.fd, from, (last - first + 1) * SEALED_CHUNK_BYTES);
    const out: Buffer[] = [];
    for (let index = first; index <= last; index++) {
      const at = (index - first) * SEALED_CHUNK_BYTES;
      const sealed = bytes.subarray(at, at + SEALED_CHUNK_BYTES);
      const isLast = index === this.chunks - 1;
      const plain = (isLast || sealed.length === SEALED_CHUNK_BYTES) && openChunk(this.key, index, isLast, sealed);
      if (!plain) {
        throw new ArchiveError(
          isLast
            ? `Cannot decrypt ${this.file}: it is truncated or damaged (its last encrypted chunk does not authenticate as the last one).`
            : `Cannot decrypt ${this.file}: encrypted chunk ${index} of ${this.chunks} is damaged or was altered.`,
        );
      }
      out.push(plain);
    }
    return out;
  }

  async chunk(index: number): Promise<Buffer> {
    const cached = this.cache.get(index);
    if (cached) return cached;
    const [plain] = await this.decrypt(index, index);
    if (this.cache.size >= CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(index, plain!);
    return plain!;
  }

  async read(position: number, length: number): Promise<Buffer> {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new ArchiveError(`${this.file}: a read of ${length} bytes at ${position} is past the end of its ${this.size} decrypted bytes (truncated?).`);
    }
    const parts: Buffer[] = [];
    for (let at = position; at < position + length;) {
      const index = Math.floor(at / CHUNK_BYTES);
      const plain = await this.chunk(index);
      const offset = at - index * CHUNK_BYTES;
      const take = Math.min(plain.length - offset, position + length - at);
      parts.push(plain.subarray(offset, offset + take));
      at += take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }

  stream(start: number, end: number): Readable {
    return Readable.from(this.pieces(start, end), { objectMode: false, highWaterMark: 1024 * 1024 });
  }

  private async *pieces(start: number, end: number): AsyncGenerator<Buffer> {
    if (start < 0 || end > this.size || start > end) {
      throw new ArchiveError(`${this.file}: bytes ${start}–${end} are past the end of its ${this.size} decrypted bytes (truncated?).`);
    }
    for (let at = start; at < end;) {
      const first = Math.floor(at / CHUNK_BYTES);
      const last = Math.min(Math.floor((end - 1) / CHUNK_BYTES), first + BATCH_CHUNKS - 1);
      // Each chunk as it is (no copy into one buffer), the first and last cut to the range.
      for (const [i, plain] of (await this.decrypt(first, last)).entries()) {
        const offset = i === 0 ? at - first * CHUNK_BYTES : 0;
        const take = Math.min(plain.length - offset, end - at);
        if (take > 0) yield plain.subarray(offset, offset + take);
        at += take;
      }
    }
  }
}
