/**
 * Where a zip reader's bytes come from: the stored file as it is (cipher `none`), or its age
 * decryption, chunk by chunk with random access (cipher `age`, cipher/age/view.ts). The kind is
 * decided by the file's first bytes, not by its name, so a store may hold both kinds and every
 * reader — restore, verification after writing, listings — reads either the same way.
 *
 * The file is opened once; its descriptor is the only way it is read (a file replaced or deleted
 * meanwhile cannot change what is read), and it is closed when the zip and every stream of it are.
 */
import { close as closeCallback, createReadStream, fstat as fstatCallback, open as openCallback, read } from 'node:fs';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import yauzl, { type Options, type ZipFile } from 'yauzl';
import { openPlainView, type CipherKind, type KeySource, type PlainView } from '../cipher/index.js';

const openFd = promisify(openCallback);
const closeFd = promisify(closeCallback);
const fstat = promisify(fstatCallback);
/** Entry data is read in large pieces (yauzl's own streams read 16 KiB at a time). */
const READ_CHUNK = 1024 * 1024;

export type { KeySource } from '../cipher/index.js';

/** yauzl's reader of a file opened by descriptor (its fd-slicer): the descriptor, reference-counted. */
interface SharedFd {
  fd: number;
  ref(): void;
  unref(): void;
}

/** yauzl's random-access reader over a decrypted view; closes the descriptor with the last reference. */
class ViewReader extends yauzl.RandomAccessReader {
  // yauzl's RandomAccessReader counts references (its typings omit them).
  declare ref: () => void;
  declare unref: () => void;

  constructor(
    readonly view: PlainView,
    readonly fd: number,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return this.view.stream(start, end);
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (error: Error | null, bytesRead?: number) => void): void {
    const wanted = Math.max(0, Math.min(length, this.view.size - position));
    this.view.read(position, wanted).then(
      (bytes) => {
        bytes.copy(buffer, offset);
        callback(null, bytes.length);
      },
      (error: Error) => callback(error),
    );
  }

  override close(callback: (error: Error | null) => void): void {
    closeCallback(this.fd, (error) => callback(error));
  }
}

export interface OpenedZip {
  zip: ZipFile;
  kind: CipherKind;
  /** Bytes `start` … `end` (inclusive) of the zip, through the descriptor opened here. */
  readRange(start: number, end: number): Readable;
  /**
   * The file's bytes as stored (an encrypted file stays encrypted: what the ledger's sha256 is
   * of), through the descriptor opened here.
   */
  readStored(): Readable;
}

/**
 * Opens `filePath` as a zip (decrypting it when it is an age file). Errors: the file system's
 * (with their `code`), the cipher's (ArchiveError, ConfigError for a missing key), yauzl's.
 */
export async function openZipSource(filePath: string, keys: KeySource | undefined, options: Options): Promise<OpenedZip> {
  const fd = await openFd(filePath, 'r');
  let zip: ZipFile;
  let kind: CipherKind;
  let size: number;
  try {
    ({ size } = await fstat(fd));
    const view = await openPlainView(fd, size, keys, filePath);
    kind = view.kind;
    zip = view.kind === 'none' ? await yauzl.fromFdPromise(fd, options) : await yauzl.fromRandomAccessReaderPromise(new ViewReader(view, fd), view.size, options);
  } catch (error) {
    await closeFd(fd).catch(() => undefined);
    throw error;
  }
  return {
    zip,
    kind,
    readRange: (start, end) => readRange(zip, filePath, start, end, false),
    readStored: () => readRange(zip, filePath, 0, size - 1, true),
  };
}

/** Bytes `start` … `end` (inclusive) of the zip, or with `stored` of the file as stored. */
function readRange(zip: ZipFile, filePath: string, start: number, end: number, stored: boolean): Readable {
  const reader = (zip as unknown as { reader: SharedFd | ViewReader }).reader;
  // A reference is held while the stream lives, so closing the zip cannot close the descriptor under it.
  reader.ref();
  let stream: Readable;
  if (reader instanceof ViewReader && !stored) {
    stream = reader.view.stream(start, end + 1);
  } else {
    // The stream's own "close" must not close the shared descriptor: it only drops our reference.
    stream = createReadStream(filePath, {
      fd: reader.fd,
      fs: { read, close: (_fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => callback(null) },
      start,
      end,
      highWaterMark: READ_CHUNK,
    });
  }
  stream.once('close', () => reader.unref());
  return stream;
}
