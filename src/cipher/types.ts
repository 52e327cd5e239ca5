/**
 * The cipher slot of an archive (DESIGN.md "Production shape"): how an archive's zip bytes become
 * the bytes stored, and back. Kinds: `none` (the zip as it is) and `age` (the zip wrapped in age
 * v1, readable by the `age` command). The archive layer applies a cipher in one place each way:
 * the writer's output passes through a FileEncryption before it reaches the temp file; the reader
 * opens a stored file as a PlainView (random access to the zip bytes) whatever its kind, which is
 * decided by the file's own first bytes, so a store may hold both kinds.
 *
 * Contracts (test/contract/cipher.contract.ts): what a kind writes reads back byte for byte;
 * memory stays flat whatever the size (at most a chunk or a batch of chunks is held); an
 * authenticating kind (age) refuses a truncated, extended or altered file and a wrong key with an
 * ArchiveError ("cannot be decrypted"), and a missing key with a ConfigError.
 */
import type { Readable } from 'node:stream';
import type { Identity } from './age/keys.js';

export type CipherKind = 'none' | 'age';

/** One file being encrypted while it is written: the zip's bytes in order → the file's bytes in order. */
export interface FileEncryption {
  /** The file's bytes for these zip bytes, or null while the kind holds them back (a partial chunk). */
  update(plain: Buffer): Buffer | null;
  /** The file's last bytes; nothing may be added afterwards. */
  final(): Buffer | null;
  /**
   * Keys that read this very file without any configured identity (age: its file key), so the
   * check after writing decrypts what was written on a machine that holds only public keys.
   * Undefined for `none`.
   */
  readonly ownKeys: ReadKeys | undefined;
}

/** The write side of a kind, as configured for one target. */
export interface ArchiveCipher {
  readonly kind: CipherKind;
  /** Appended to the archive's `.zip` name. */
  readonly suffix: '' | '.age';
  begin(): Promise<FileEncryption>;
}

/** What may decrypt a stored file. */
export interface ReadKeys {
  /** age identities: X25519 keys of the identity file, the passphrase. */
  identities: readonly Identity[];
  /** The file key itself (a file this process has just written). */
  fileKey?: Buffer;
  /** Where the keys come from, for messages (never the keys themselves). */
  source: string;
}

/** A stored file's zip bytes, with random access. */
export interface PlainView {
  readonly kind: CipherKind;
  /** Size of the zip (not of the stored file). */
  readonly size: number;
  /** Exactly `length` bytes from `position` (an ArchiveError past the end or on damage). */
  read(position: number, length: number): Promise<Buffer>;
  /** Bytes `start` … `end - 1` as a stream, read and decrypted in large pieces. */
  stream(start: number, end: number): Readable;
}
