/**
 * ArchiveWriter.verifyFile(): the read-back verification of a finished archive — with every
 * entry inflated and checked after writing (default), or while writing (`checkWhileWriting`).
 * A byte changed anywhere in the file after it was written is refused, and the sha256 that
 * finish() returns is the file's.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader, ArchiveWriter, type Manifest, type ManifestEntry } from '../../src/archive/index.js';
import { ArchiveError } from '../../src/errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenant-backup-verify-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function manifestFor(entries: ManifestEntry[]): Manifest {
  return {
    format: 'tenant-backup',
    format_version: 1,
    kind: 'organization',
    engine: 'postgres',
    server_version: '15.4',
    tool_version: '0.1.0',
    created_at: '2026-11-23T08:00:00.000Z',
    day_of_week: 'monday',
    backup_type: 'manual',
    organization: { id: '42', name: 'Acme', code: 'acme' },
    entries,
  };
}

/** ~6 MB of NDJSON-like lines, in chunks of varying size. */
function rows(): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < 60; i++) {
        yield Buffer.from(Array.from({ length: 1000 + i * 37 }, (_, j) => `["${i}","${j}","row ${(i * 7919 + j) % 10007}",${j % 2 === 0}]\n`).join(''));
      }
    })(),
  );
}

async function writeArchive(file: string, options: { compressionLevel?: number; checkWhileWriting?: boolean }) {
  const writer = await ArchiveWriter.open(file, options);
  const entries: ManifestEntry[] = [];
  entries.push({ path: 'tables/a.ndjson', ...(await writer.addEntry('tables/a.ndjson', rows())) });
  entries.push({ path: 'tables/b.ndjson', ...(await writer.addEntry('tables/b.ndjson', Buffer.from('["b"]\n'))) });
  entries.push({ path: 'tables/empty.ndjson', ...(await writer.addEntry('tables/empty.ndjson', Buffer.alloc(0))) });
  const finished = await writer.finish(manifestFor(entries));
  return { writer, finished, entries };
}

async function expectArchiveError(promise: Promise<unknown>, fragment: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveError);
  expect((error as Error).message).toMatch(fragment);
}

describe.each([
  ['verified after writing', { compressionLevel: 1 }],
  ['checked while writing', { compressionLevel: 1, checkWhileWriting: true }],
  ['stored', { compressionLevel: 0 }],
])('ArchiveWriter.verifyFile (%s)', (_name, options) => {
  it("accepts the archive it wrote; finish() returned the file's own size and sha256", async () => {
    const file = join(dir, 'ok.zip');
    const { writer, finished, entries } = await writeArchive(file, options);
    await writer.verifyFile();
    const bytes = await readFile(file);
    expect(finished).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    const reader = await ArchiveReader.open(file);
    try {
      expect(reader.manifest.entries).toEqual(entries);
      await reader.verify();
    } finally {
      await reader.close();
    }
  });

  it('refuses an archive changed after it was written, or cut short', async () => {
    const file = join(dir, 'changed.zip');
    const { writer } = await writeArchive(file, options);
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 3); // inside the first entry's data
    bytes[at] = bytes[at]! ^ 0x20;
    await writeFile(file, bytes);
    await expectArchiveError(writer.verifyFile(), /corrupt|reads back|not a tenant-backup archive/);
    bytes[at] = bytes[at]! ^ 0x20;
    await writeFile(file, bytes);
    await writer.verifyFile();
    await truncate(file, bytes.length - 10);
    await expectArchiveError(writer.verifyFile(), /truncated|reads back|not a tenant-backup archive/);
  });

  it('is refused before the archive is finished', async () => {
    const writer = await ArchiveWriter.open(join(dir, 'open.zip'), options);
    await writer.addEntry('tables/a.ndjson', Buffer.from('a\n'));
    await expectArchiveError(writer.verifyFile(), /not finished/);
    await writer.abort();
  });
});
