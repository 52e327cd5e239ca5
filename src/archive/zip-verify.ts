/**
 * The check after writing (ArchiveWriter.verifyFile): a just-written archive is read back as a
 * restore reads it and compared with what its writer recorded:
 * - the stored file's size and sha256 read back (the bytes on disk are the bytes written);
 * - an encrypted archive is decrypted with its own file key (no identity needed, so a machine
 *   that holds only public keys checks it too), every chunk authenticated once: by the checks
 *   below, which read every entry's data, the headers and the central directory through the
 *   decryption; or, when the entries were checked while writing, by decrypting the whole zip and
 *   comparing its size and sha256 with those of the zip written;
 * - through ArchiveReader.open (central directory and manifest): every entry's method, sizes,
 *   CRC-32, local header offset and data offset (from its local header, as any reader locates it);
 * - every payload entry's data, inflated and checked against the manifest's sha256
 *   (ArchiveReader.verify), unless the writer did that while writing (`entriesChecked`: the bytes
 *   read back are then shown to be those that were checked).
 * The file hash is read while the rest is checked. Throws ArchiveError.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ReadKeys } from '../cipher/types.js';
import { ArchiveError, describeCause } from '../errors.js';
import { ArchiveReader } from './zip-reader.js';
import type { EntryLayout } from './zip-records.js';

const READ_CHUNK = 1024 * 1024;

export interface VerifyWrittenOptions {
  entriesChecked?: boolean;
  /** An encrypted archive: the keys of the file written (its file key), and the zip's size and sha256. */
  encrypted?: { keys: ReadKeys; zip: { bytes: number; sha256: string } };
}

async function hashOf(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

export async function verifyWrittenArchive(
  filePath: string,
  expected: { bytes: number; sha256: string },
  layout: readonly EntryLayout[],
  options: VerifyWrittenOptions = {},
): Promise<void> {
  const fileHash = (async () => {
    let found: { bytes: number; sha256: string };
    try {
      found = await hashOf(createReadStream(filePath, { highWaterMark: READ_CHUNK }));
    } catch (error) {
      throw new ArchiveError(`Cannot read archive ${filePath} back: ${describeCause(error)}`, { cause: error });
    }
    if (found.bytes !== expected.bytes || found.sha256 !== expected.sha256) {
      throw new ArchiveError(
        `Archive ${filePath} reads back as ${found.bytes} bytes with sha256 ${found.sha256}; ${expected.bytes} bytes with sha256 ${expected.sha256} were written.`,
      );
    }
  })();
  fileHash.catch(() => undefined); // awaited below
  const keys = options.encrypted?.keys;
  const reader = await ArchiveReader.open(filePath, { keys: keys && (async () => keys) });
  try {
    if (reader.encryption !== (options.encrypted ? 'age' : 'none')) {
      throw new ArchiveError(`Archive ${filePath} reads back as ${reader.encryption === 'none' ? 'not encrypted' : 'encrypted'}, unlike what was written.`);
    }
    const zip = options.encrypted?.zip;
    const zipHash = zip && options.entriesChecked ? hashOf(reader.readZipBytes()) : undefined;
    zipHash?.catch(() => undefined); // awaited below
    const entries = reader.zipEntries;
    if (entries.size !== layout.length) throw new ArchiveError(`Archive ${filePath} has ${entries.size} entries; ${layout.length} were written.`);
    for (const written of layout) {
      const entry = entries.get(written.path);
      if (!entry) throw new ArchiveError(`Archive ${filePath} reads back without its entry "${written.path}".`);
      const start = (await reader.zip.readLocalFileHeaderPromise(entry, { minimal: true })).fileDataStart;
      const found = [entry.compressionMethod, entry.crc32, entry.compressedSize, entry.uncompressedSize, entry.relativeOffsetOfLocalHeader, start];
      const wanted = [written.method, written.crc32, written.compressedSize, written.uncompressedSize, written.localHeaderOffset, written.dataStart];
      if (found.some((value, i) => value !== wanted[i])) {
        throw new ArchiveError(
          `Archive ${filePath}: entry "${written.path}" reads back as [${found.join(', ')}], written as [${wanted.join(', ')}] (method, crc32, sizes, offsets).`,
        );
      }
    }
    if (!options.entriesChecked) await reader.verify();
    if (zip && zipHash) {
      const decrypted = await zipHash;
      if (decrypted.bytes !== zip.bytes || decrypted.sha256 !== zip.sha256) {
        throw new ArchiveError(
          `Archive ${filePath} decrypts to ${decrypted.bytes} bytes with sha256 ${decrypted.sha256}; a zip of ${zip.bytes} bytes with sha256 ${zip.sha256} was written.`,
        );
      }
    }
    await fileHash;
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`Archive ${filePath} does not read back: ${describeCause(error)}`, { cause: error });
  } finally {
    await reader.close();
  }
}
