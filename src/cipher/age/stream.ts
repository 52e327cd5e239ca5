/**
 * age's payload: a 16-byte nonce, then STREAM (Hoang, Reyhanitabar, Rogaway, Vizár): the
 * plaintext in chunks of 64 KiB, each sealed with ChaCha20-Poly1305 under the payload key, the
 * nonce being the chunk's index (11 bytes, big-endian) and a last-chunk flag (1 byte). Every chunk
 * is authenticated on its own and knows its place, and only the true last chunk carries the flag:
 * reordering, truncation (even at a chunk boundary) and appending are all detected. Chunks can be
 * decrypted independently, which gives random access (archive/zip-source.ts).
 */
import { createCipheriv } from 'node:crypto';
import { hkdf, open } from './primitives.js';

export const CHUNK_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
export const PAYLOAD_NONCE_BYTES = 16;

export function payloadKey(fileKey: Buffer, nonce: Buffer): Buffer {
  return hkdf(fileKey, nonce, 'payload');
}

function chunkNonce(index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(Math.floor(index / 2 ** 32), 3);
  nonce.writeUInt32BE(index >>> 0, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** The plaintext of sealed chunk `index`, or null when it does not authenticate as that chunk. */
export function openChunk(key: Buffer, index: number, last: boolean, sealed: Buffer): Buffer | null {
  return open(key, sealed, chunkNonce(index, last));
}

/**
 * Seals plaintext as it arrives. A full chunk is held back until a byte beyond it arrives (only
 * then is it known not to be the last one); `final` seals what is left as the last chunk.
 */
export class StreamSealer {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;

  constructor(private readonly key: Buffer) {}

  /** The sealed chunks completed by these bytes (one buffer), or null while a chunk is filling. */
  update(plain: Buffer): Buffer | null {
    if (plain.length === 0) return null;
    this.pending.push(plain);
    this.pendingBytes += plain.length;
    if (this.pendingBytes <= CHUNK_BYTES) return null;
    const out: Buffer[] = [];
    while (this.pendingBytes > CHUNK_BYTES) out.push(...this.seal(CHUNK_BYTES, false));
    return Buffer.concat(out);
  }

  final(): Buffer {
    return Buffer.concat(this.seal(this.pendingBytes, true));
  }

  private seal(bytes: number, last: boolean): Buffer[] {
    const cipher = createCipheriv('chacha20-poly1305', this.key, chunkNonce(this.index++, last), { authTagLength: TAG_BYTES });
    const out: Buffer[] = [];
    for (let left = bytes; left > 0;) {
      const head = this.pending[0]!;
      const part = head.length <= left ? head : head.subarray(0, left);
      if (part === head) this.pending.shift();
      else this.pending[0] = head.subarray(left);
      out.push(cipher.update(part));
      left -= part.length;
    }
    this.pendingBytes -= bytes;
    out.push(cipher.final(), cipher.getAuthTag());
    return out;
  }
}
