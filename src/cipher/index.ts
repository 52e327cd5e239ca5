/**
 * The cipher kinds and the one way a stored file is opened for reading: its first bytes decide
 * its kind (an age file starts with its version line; anything else is read as it is), so a store
 * may hold archives of both kinds and every reader treats them alike.
 */
import { read as readCallback } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ArchiveError } from '../errors.js';
import { isAgeFile, openAgeView } from './age/view.js';
import type { PlainView, ReadKeys } from './types.js';

export type { ArchiveCipher, CipherKind, FileEncryption, PlainView, ReadKeys } from './types.js';
export { noneCipher } from './none.js';
export { AgeCipher } from './age/index.js';

const readAt = promisify(readCallback);

/** The keys that may decrypt a file, asked for only when it is encrypted (undefined: none configured). */
export type KeySource = () => Promise<ReadKeys | undefined>;

/**
 * Opens the file behind `fd` (of `fileSize` bytes) as its plaintext. An age file needs keys
 * (none: ConfigError; a wrong one, damage, truncation: ArchiveError "Cannot decrypt …").
 */
export async function openPlainView(fd: number, fileSize: number, keys: KeySource | undefined, file: string): Promise<PlainView> {
  const head = Buffer.alloc(Math.min(fileSize, 32));
  await readAt(fd, head, 0, head.length, 0);
  if (isAgeFile(head)) return openAgeView(fd, fileSize, await keys?.(), file);
  return new StoredView(fd, fileSize, file);
}

/** The `none` kind's view: the file's own bytes. */
class StoredView implements PlainView {
  readonly kind = 'none';

  constructor(
    readonly fd: number,
    readonly size: number,
    private readonly file: string,
  ) {}

  async read(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await readAt(this.fd, buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) throw new ArchiveError(`${this.file}: a read of ${length} bytes at ${position} is past its end (truncated?).`);
      filled += bytesRead;
    }
    return buffer;
  }

  stream(start: number, end: number): Readable {
    return Readable.from(this.pieces(start, end), { objectMode: false, highWaterMark: 1 });
  }

  private async *pieces(start: number, end: number): AsyncGenerator<Buffer> {
    for (let at = start; at < end; at += 1024 * 1024) yield await this.read(at, Math.min(1024 * 1024, end - at));
  }
}
