/**
 * The contract every cipher kind keeps (cipher/types.ts), run by each kind's test file with a
 * factory: what it writes reads back byte for byte through the archive reader; a truncated file
 * or a byte flipped in the middle is refused with an ArchiveError before any entry is trusted;
 * and, for authenticating kinds, a byte appended, a wrong key and a missing key are refused too.
 * For `age`, the real `age` command decrypts what we wrote, and we read what it encrypted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type Manifest } from '../../src/archive/manifest.js';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import type { ArchiveCipher, ReadKeys } from '../../src/cipher/types.js';
import { ArchiveError, ConfigError } from '../../src/errors.js';
import { ageDecrypt, ageEncrypt } from '../helpers/age.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

export interface CipherBed {
  cipher: ArchiveCipher;
  /** The keys that read what `cipher` writes (undefined for `none`). */
  keys: ReadKeys | undefined;
  /** Keys of someone else (authenticating kinds). */
  wrongKeys?: ReadKeys;
  /** age: an identity file the `age` command reads, and its recipient. */
  ageCli?: { identityFile: string; recipient: string };
}

export interface CipherFactory {
  /** Whether the kind itself detects tampering (age) or leaves it to the zip's checksums (none). */
  authenticates: boolean;
  /** The `age` command must read what the kind writes (and `bed.ageCli` is set). */
  readableByAgeCommand?: boolean;
  create(dir: string): Promise<CipherBed>;
}

/** Text that compresses, and noise that does not: entries spanning many 64 KiB chunks. */
const ENTRIES: Record<string, Buffer> = {
  'tables/small.ndjson': Buffer.from('[1,"a"]\n'),
  'tables/noise.ndjson': randomBytes(3 * 64 * 1024 + 17),
  'tables/text.ndjson': Buffer.from(Array.from({ length: 40_000 }, (_, i) => `[${i},"row ${i} ünïcödé",null]\n`).join('')),
  'tables/empty.ndjson': Buffer.alloc(0),
};

async function writeArchive(file: string, cipher: ArchiveCipher, level: number): Promise<void> {
  const writer = await ArchiveWriter.open(file, { cipher, compressionLevel: level });
  const entries = [];
  for (const [entryPath, data] of Object.entries(ENTRIES)) {
    const written = await writer.addEntry(entryPath, data);
    entries.push({ path: entryPath, bytes: written.bytes, sha256: written.sha256 });
  }
  const manifest: Manifest = {
    format: ARCHIVE_FORMAT,
    format_version: ARCHIVE_FORMAT_VERSION,
    kind: 'database',
    engine: 'sqlite',
    server_version: 'x',
    tool_version: 'test',
    created_at: '2026-11-20T10:00:00.000Z',
    day_of_week: 'friday',
    backup_type: 'manual',
    tenant: 'acme',
    entries,
  };
  const finished = await writer.finish(manifest);
  // The file's sha256 is that of the file as stored.
  expect(finished.sha256).toBe(
    createHash('sha256')
      .update(await readFile(file))
      .digest('hex'),
  );
  expect(finished.bytes).toBe((await stat(file)).size);
  await writer.verifyFile();
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** What every entry must read back as (digests: comparing large buffers element by element is slow). */
const EXPECTED = Object.fromEntries(Object.entries(ENTRIES).map(([entryPath, data]) => [entryPath, sha256(data)]));

/** Opens and fully verifies an archive; returns every entry's sha256, from the bytes read. */
async function readArchive(file: string, keys: ReadKeys | undefined): Promise<Record<string, string>> {
  const reader = await ArchiveReader.open(file, { keys: async () => keys });
  try {
    await reader.verify();
    const out: Record<string, string> = {};
    for (const entryPath of Object.keys(ENTRIES)) {
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.openEntry(entryPath)) chunks.push(chunk as Buffer);
      out[entryPath] = sha256(Buffer.concat(chunks));
    }
    return out;
  } finally {
    await reader.close();
  }
}

export function describeCipherContract(name: string, factory: CipherFactory): void {
  describe(`${name}: cipher contract`, () => {
    let dir: string;
    let bed: CipherBed;
    let original: string;
    let counter = 0;
    const copy = async () => {
      const file = path.join(dir, `copy-${++counter}${bed.cipher.suffix}`);
      await copyFile(original, file);
      return file;
    };
    const refused = async (file: string, keys = bed.keys) => {
      const error = await readArchive(file, keys).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error, 'the archive must be refused').toBeInstanceOf(ArchiveError);
      expect((error as Error).message).not.toMatch(/AGE-SECRET-KEY/i);
      return error as ArchiveError;
    };

    beforeAll(async () => {
      dir = await makeTempDir('tb-cipher-');
      bed = await factory.create(dir);
      original = path.join(dir, `archive.zip${bed.cipher.suffix}`);
      await writeArchive(original, bed.cipher, 1);
    });
    afterAll(removeTempDirs);

    it('reads back every entry byte for byte, at every compression level', async () => {
      expect(await readArchive(original, bed.keys)).toEqual(EXPECTED);
      const stored = path.join(dir, `stored.zip${bed.cipher.suffix}`);
      await writeArchive(stored, bed.cipher, 0);
      expect(await readArchive(stored, bed.keys)).toEqual(EXPECTED);
      const reader = await ArchiveReader.open(original, { keys: async () => bed.keys });
      expect(reader.encryption).toBe(bed.cipher.kind);
      await reader.close();
    });

    it('refuses a truncated file', async () => {
      const size = (await stat(original)).size;
      for (const cut of [size - 1, Math.floor(size / 2), 200]) {
        const file = await copy();
        await truncate(file, cut);
        await refused(file);
      }
    });

    it('refuses a file with a byte flipped in the middle', async () => {
      const file = await copy();
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      await writeFile(file, bytes);
      await refused(file);
    });

    if (factory.authenticates) {
      it('refuses bytes appended, a truncation at a chunk boundary, and any flipped byte', async () => {
        const appended = await copy();
        await writeFile(appended, Buffer.concat([await readFile(appended), Buffer.from([0])]));
        expect((await refused(appended)).message).toMatch(/cannot decrypt/i);
        const bytes = await readFile(original);
        // After the header and the 16-byte nonce: whole sealed chunks of 64 KiB + 16.
        const payload = bytes.indexOf('\n', bytes.indexOf('\n--- ') + 1) + 1 + 16;
        expect(bytes.length).toBeGreaterThan(payload + 2 * (64 * 1024 + 16));
        const boundary = await copy();
        await truncate(boundary, payload + 64 * 1024 + 16);
        expect((await refused(boundary)).message).toMatch(/cannot decrypt/i);
        for (const at of [30, 120, bytes.length - 1]) {
          const flipped = await copy();
          const changed = Buffer.from(bytes);
          changed[at]! ^= 0x80;
          await writeFile(flipped, changed);
          expect((await refused(flipped)).message, `byte ${at}`).toMatch(/cannot decrypt/i);
        }
      });

      it('refuses a wrong key with "cannot decrypt", and a missing key as a configuration error', async () => {
        expect((await refused(original, bed.wrongKeys)).message).toMatch(/cannot decrypt/i);
        const missing = await ArchiveReader.open(original).then(
          () => null,
          (error: unknown) => error,
        );
        expect(missing).toBeInstanceOf(ConfigError);
        expect((missing as Error).message).toMatch(/encrypted.*identityFile/s);
      });
    }

    if (factory.readableByAgeCommand) {
      it('is readable by the age command, and reads what the age command encrypted', async () => {
        const cli = bed.ageCli!;
        const zip = path.join(dir, 'decrypted.zip');
        await writeFile(zip, await ageDecrypt(original, cli.identityFile));
        const tested = await execa('unzip', ['-t', zip], { reject: false });
        expect(tested.exitCode, tested.stdout + tested.stderr).toBe(0);
        expect(await readArchive(zip, undefined)).toEqual(EXPECTED);
        const theirs = path.join(dir, 'theirs.zip.age');
        await ageEncrypt(zip, cli.recipient, theirs);
        expect(await readArchive(theirs, bed.keys)).toEqual(EXPECTED);
      });
    }
  });
}
