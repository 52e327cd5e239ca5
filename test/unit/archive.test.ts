import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { ArchiveError } from '../../src/errors.js';
import { ArchiveReader, ArchiveWriter, isSafeEntryPath, MANIFEST_PATH, parseManifest, type Manifest, type ManifestEntry } from '../../src/archive/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenant-backup-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const entryFor = (path: string, data: Buffer | string): ManifestEntry => ({ path, bytes: Buffer.byteLength(data), sha256: sha256(data) });

function manifestFor(entries: ManifestEntry[], overrides: Record<string, unknown> = {}): Manifest {
  return {
    format: 'tenant-backup',
    format_version: 1,
    kind: 'organization',
    engine: 'postgres',
    server_version: '16.4',
    tool_version: '0.1.0',
    created_at: '2025-01-31T23:59:59.000Z',
    day_of_week: 'friday',
    backup_type: 'manual',
    organization: { id: '42', name: 'Acme', code: null },
    entries,
    ...overrides,
  } as Manifest;
}

/** Writes a zip with yazl directly, bypassing ArchiveWriter's checks (for malformed archives). */
async function writeRawZip(file: string, entries: { name: string; data: Buffer | string }[]): Promise<void> {
  const zip = new ZipFile();
  const out = createWriteStream(file);
  const done = pipeline(zip.outputStream as Readable, out);
  for (const { name, data } of entries) zip.addBuffer(Buffer.from(data), name, { compressionLevel: 0 });
  zip.end();
  await done;
}

/** Replaces every occurrence of a same-length byte string (local header + central directory). */
async function patchBytes(file: string, from: string, to: string): Promise<void> {
  const fromBytes = Buffer.from(from, 'utf8');
  const toBytes = Buffer.from(to, 'utf8');
  expect(toBytes.length).toBe(fromBytes.length);
  const buffer = await readFile(file);
  let count = 0;
  for (let at = buffer.indexOf(fromBytes); at !== -1; at = buffer.indexOf(fromBytes, at + 1)) {
    toBytes.copy(buffer, at);
    count++;
  }
  expect(count).toBeGreaterThanOrEqual(2);
  await writeFile(file, buffer);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function expectArchiveError(promise: Promise<unknown>, fragment: RegExp): Promise<ArchiveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveError);
  expect((error as ArchiveError).code).toBe('ARCHIVE_INVALID');
  expect((error as ArchiveError).message).toMatch(fragment);
  return error as ArchiveError;
}

/** A valid archive with one stored entry whose data is easy to find in the file. */
async function writeSmallArchive(file: string, compressionLevel = 0): Promise<{ data: string }> {
  const data = `${'MARKER-'.repeat(2000)}end\n`;
  const writer = await ArchiveWriter.open(file, { compressionLevel });
  const written = await writer.addEntry('tables/items.ndjson', Buffer.from(data));
  await writer.finish(manifestFor([{ path: 'tables/items.ndjson', ...written }]));
  return { data };
}

describe('isSafeEntryPath', () => {
  it.each(['dump.sql', 'tables/users.ndjson', 'tables/ünïcode tåble.ndjson', 'a/b/c', '..a', 'a..'])('accepts %j', (path) => {
    expect(isSafeEntryPath(path)).toBe(true);
  });
  it.each(['', '/etc/passwd', '../evil', 'tables/../../x', 'a/..', './a', 'a/./b', 'a//b', 'a/', 'a\\b', '..\\x', 'C:/x', 'c:x', 'a\u0000b', 'a\nb', 'a\u007fb', 'x'.repeat(1025)])(
    'rejects %j',
    (path) => {
      expect(isSafeEntryPath(path)).toBe(false);
    },
  );
  it('accepts exactly 1024 characters', () => {
    expect(isSafeEntryPath('x'.repeat(1024))).toBe(true);
  });
});

describe('parseManifest', () => {
  const valid = manifestFor([entryFor('tables/a.ndjson', 'x')]);

  it('accepts a valid manifest and keeps unknown keys', () => {
    const parsed = parseManifest({ ...valid, added_in_1_1: { x: 1 } }, 'test');
    expect(parsed.entries[0]?.path).toBe('tables/a.ndjson');
    expect((parsed as unknown as Record<string, unknown>)['added_in_1_1']).toEqual({ x: 1 });
  });
  it('names the bad field', () => {
    const bad = { ...valid, entries: [{ ...valid.entries[0], sha256: 'nope' }] };
    expect(() => parseManifest(bad, 'my.zip')).toThrow(ArchiveError);
    expect(() => parseManifest(bad, 'my.zip')).toThrow(/my\.zip: invalid manifest: entries\[0\]\.sha256/);
  });
  it('refuses a newer format version, saying which one it reads', () => {
    expect(() => parseManifest({ ...valid, format_version: 2 }, 'x')).toThrow(/format version 2 is newer.*reads format version 1/);
  });
  it('refuses another format', () => {
    expect(() => parseManifest({ ...valid, format: 'other' }, 'x')).toThrow(/not a tenant-backup manifest/);
  });
  it('refuses a non-UTC created_at, unsafe or duplicate entry paths, a missing owner', () => {
    expect(() => parseManifest({ ...valid, created_at: '2025-01-31T23:59:59+01:00' }, 'x')).toThrow(/created_at/);
    expect(() => parseManifest({ ...valid, entries: [entryFor('../x', 'x')] }, 'x')).toThrow(/entries\[0\]\.path/);
    expect(() => parseManifest({ ...valid, entries: [entryFor('a', 'x'), entryFor('a', 'x')] }, 'x')).toThrow(/entries\[1\]\.path: duplicates/);
    expect(() => parseManifest({ ...valid, entries: [entryFor(MANIFEST_PATH, 'x')] }, 'x')).toThrow(/entries\[0\]\.path/);
    expect(() => parseManifest({ ...valid, organization: undefined }, 'x')).toThrow(/organization: is required/);
    expect(() => parseManifest({ ...valid, kind: 'database', organization: undefined }, 'x')).toThrow(/tenant: is required/);
  });
});

describe('ArchiveWriter + ArchiveReader round trip', () => {
  it('round-trips several entries, including a 50 MB streamed one, and verifies them', async () => {
    const file = join(dir, 'backup.zip');
    const bigHash = createHash('sha256');
    let generatedBytes = 0;
    async function* big(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 50; i++) {
        const chunk = Buffer.alloc(1024 * 1024, i % 251);
        chunk.writeUInt32BE(i, 0);
        bigHash.update(chunk);
        generatedBytes += chunk.length;
        yield chunk;
      }
    }
    async function* text(): AsyncGenerator<string> {
      yield '{"id":1,"name":"ä"}\n';
      yield '{"id":2,"name":"b"}\n';
    }
    const stringData = '{"id":1,"name":"ä"}\n{"id":2,"name":"b"}\n';

    const writer = await ArchiveWriter.open(file);
    const written: ManifestEntry[] = [];
    written.push({ path: 'tables/big.ndjson', table: 'big', rows: 50, ...(await writer.addEntry('tables/big.ndjson', big())) });
    written.push({ path: 'tables/strings ünï.ndjson', ...(await writer.addEntry('tables/strings ünï.ndjson', text())) });
    written.push({ path: 'tables/buffer.ndjson', ...(await writer.addEntry('tables/buffer.ndjson', Buffer.from('buffer\n'))) });
    written.push({ path: 'tables/stream.ndjson', ...(await writer.addEntry('tables/stream.ndjson', Readable.from(['a', 'b', 'c']))) });
    written.push({ path: 'tables/empty.ndjson', ...(await writer.addEntry('tables/empty.ndjson', Buffer.alloc(0))) });
    const manifest = manifestFor(written, { columns_note: 'extra key' });
    const { bytes } = await writer.finish(manifest);

    expect(written[0]).toMatchObject({ bytes: 50 * 1024 * 1024, sha256: bigHash.digest('hex') });
    expect(generatedBytes).toBe(50 * 1024 * 1024);
    expect(written[1]).toMatchObject({ bytes: Buffer.byteLength(stringData), sha256: sha256(stringData) });
    expect(written[3]).toMatchObject({ bytes: 3, sha256: sha256('abc') });
    expect(written[4]).toMatchObject({ bytes: 0, sha256: sha256('') });
    expect(bytes).toBe((await stat(file)).size);
    expect(bytes).toBeLessThan(5 * 1024 * 1024); // compressed, and the level-1 default is in effect

    const reader = await ArchiveReader.open(file);
    try {
      expect(reader.manifest).toEqual(manifest);
      await reader.verify();
      expect((await readAll(await reader.openEntry('tables/strings ünï.ndjson'))).toString('utf8')).toBe(stringData);
      expect((await readAll(await reader.openEntry('tables/buffer.ndjson'))).toString()).toBe('buffer\n');
      expect((await readAll(await reader.openEntry('tables/empty.ndjson'))).length).toBe(0);
      const rehash = createHash('sha256');
      let rebytes = 0;
      await pipeline(
        await reader.openEntry('tables/big.ndjson'),
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            rehash.update(chunk);
            rebytes += chunk.length;
            callback();
          },
        }),
      );
      expect(rebytes).toBe(50 * 1024 * 1024);
      expect(rehash.digest('hex')).toBe(written[0]?.sha256);
      await expectArchiveError(reader.openEntry('tables/nope.ndjson'), /has no entry "tables\/nope\.ndjson"/);
      await expectArchiveError(reader.openEntry(MANIFEST_PATH), /has no entry "manifest\.json"/);
    } finally {
      await reader.close();
    }
  });

  it('writes manifest.json as the last entry, readable by unzip', async () => {
    const file = join(dir, 'db.zip');
    const writer = await ArchiveWriter.open(file, { compressionLevel: 9 });
    const dump = 'CREATE TABLE t (id int);\n';
    const written = await writer.addEntry('dump.sql', Buffer.from(dump));
    await writer.finish(manifestFor([{ path: 'dump.sql', ...written }], { kind: 'database', organization: undefined, tenant: 'acme' }));
    const raw = await readFile(file);
    // Central directory order: dump.sql then manifest.json.
    expect(raw.lastIndexOf('manifest.json')).toBeGreaterThan(raw.lastIndexOf('dump.sql'));
    let unzipAvailable = true;
    try {
      execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    } catch {
      unzipAvailable = false;
    }
    if (unzipAvailable) {
      expect(execFileSync('unzip', ['-p', file, 'dump.sql']).toString()).toBe(dump);
      expect(JSON.parse(execFileSync('unzip', ['-p', file, MANIFEST_PATH]).toString())).toMatchObject({ tenant: 'acme' });
    }
  });

  it('creates the file with mode 0600', async () => {
    const file = join(dir, 'mode.zip');
    await writeSmallArchive(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});

describe('ArchiveWriter refusals and failures', () => {
  it('refuses an existing path and leaves it alone', async () => {
    const file = join(dir, 'exists.zip');
    await writeFile(file, 'precious');
    await expectArchiveError(ArchiveWriter.open(file), /already exists/);
    expect(await readFile(file, 'utf8')).toBe('precious');
  });

  it('refuses a bad compression level', async () => {
    await expectArchiveError(ArchiveWriter.open(join(dir, 'x.zip'), { compressionLevel: 10 }), /0 to 9/);
    expect(existsSync(join(dir, 'x.zip'))).toBe(false);
  });

  it('abort removes the partial file, and is safe to repeat', async () => {
    const file = join(dir, 'partial.zip');
    const writer = await ArchiveWriter.open(file);
    await writer.addEntry('tables/a.ndjson', Buffer.from('a\n'));
    expect(existsSync(file)).toBe(true);
    await writer.abort();
    await writer.abort();
    expect(existsSync(file)).toBe(false);
    await expectArchiveError(writer.addEntry('tables/b.ndjson', Buffer.from('b')), /aborted/);
  });

  it('a staging that spills to its part file only after abort() removes that part itself (nothing left beside the archive)', async () => {
    const file = join(dir, 'staging.zip');
    const writer = await ArchiveWriter.open(file);
    const source = new Readable({ read() {} });
    // Under the in-memory limit so far: no part file exists when abort() goes through the parts.
    source.push(randomBytes(512 * 1024));
    const staging = writer.stage('tables/big.ndjson', source);
    await new Promise((resolve) => setImmediate(resolve));
    await writer.abort();
    // The rest arrives afterwards (rows already in the pipe): the part file is created now.
    source.push(randomBytes(2 * 1024 * 1024));
    source.push(null);
    await expectArchiveError(staging, /aborted/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('abort rejects a pending addEntry instead of leaving it hanging', async () => {
    const file = join(dir, 'pending.zip');
    const writer = await ArchiveWriter.open(file);
    const neverEnds = new Readable({ read() {} });
    neverEnds.push('some data');
    const pending = writer.addEntry('tables/slow.ndjson', neverEnds);
    const rejected = expectArchiveError(pending, /aborted/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.abort();
    await rejected;
    expect(neverEnds.destroyed).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('abort in the middle of a large compressed entry stops the source and removes the file', async () => {
    const file = join(dir, 'midway.zip');
    const writer = await ArchiveWriter.open(file, { compressionLevel: 6 });
    let produced = 0;
    let stopped = false;
    async function* endless(): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; ; i++) {
          const chunk = Buffer.alloc(64 * 1024, i % 7);
          produced += chunk.length;
          yield chunk;
        }
      } finally {
        stopped = true;
      }
    }
    const rejected = expectArchiveError(writer.addEntry('dump.sql', endless()), /aborted/);
    while (produced < 8 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 5));
    await writer.abort();
    await rejected;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('rejects with the source error itself, then refuses to continue', async () => {
    const file = join(dir, 'failing.zip');
    const writer = await ArchiveWriter.open(file);
    const boom = new Error('connection lost while copying');
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from('first row\n');
      throw boom;
    }
    await expect(writer.addEntry('tables/a.ndjson', failing())).rejects.toBe(boom);
    await expectArchiveError(writer.addEntry('tables/b.ndjson', Buffer.from('b')), /connection lost while copying/);
    await expectArchiveError(writer.finish(manifestFor([])), /connection lost while copying/);
    await writer.abort();
    expect(existsSync(file)).toBe(false);
  });

  it('rejects a source that yields something other than bytes or text', async () => {
    const writer = await ArchiveWriter.open(join(dir, 'objects.zip'));
    async function* objects(): AsyncGenerator<unknown> {
      yield { not: 'bytes' };
    }
    await expect(writer.addEntry('tables/a.ndjson', objects() as AsyncIterable<Buffer>)).rejects.toThrow();
    await writer.abort();
  });

  it('refuses overlapping, unsafe, reserved and duplicate entries', async () => {
    const writer = await ArchiveWriter.open(join(dir, 'misuse.zip'));
    const slow = new Readable({ read() {} });
    const first = writer.addEntry('tables/a.ndjson', slow);
    await expectArchiveError(writer.addEntry('tables/b.ndjson', Buffer.from('b')), /still being written/);
    slow.push('a');
    slow.push(null);
    await expect(first).resolves.toEqual({ bytes: 1, sha256: sha256('a') });
    await expectArchiveError(writer.addEntry('../evil', Buffer.from('x')), /not a safe relative path/);
    await expectArchiveError(writer.addEntry('/etc/passwd', Buffer.from('x')), /not a safe relative path/);
    await expectArchiveError(writer.addEntry(MANIFEST_PATH, Buffer.from('x')), /reserved/);
    await expectArchiveError(writer.addEntry('tables/a.ndjson', Buffer.from('x')), /already added/);
    await writer.abort();
  });

  it('refuses a manifest that does not describe what was written', async () => {
    const file = join(dir, 'mismatch.zip');
    const writer = await ArchiveWriter.open(file);
    const written = await writer.addEntry('tables/a.ndjson', Buffer.from('a'));
    await expectArchiveError(writer.finish(manifestFor([])), /not in manifest: \[tables\/a\.ndjson\]/);
    await expectArchiveError(writer.finish(manifestFor([{ path: 'tables/a.ndjson', ...written, bytes: 2 }])), /2 bytes/);
    await expectArchiveError(writer.finish(manifestFor([{ path: 'tables/a.ndjson', ...written }], { format_version: 2 })), /format version 2/);
    await writer.finish(manifestFor([{ path: 'tables/a.ndjson', ...written }]));
    await expectArchiveError(writer.addEntry('tables/b.ndjson', Buffer.from('b')), /already finished/);
    await writer.abort(); // no-op after finish
    expect(existsSync(file)).toBe(true);
  });
});

describe('ArchiveReader refusals', () => {
  it('refuses a truncated archive', async () => {
    const file = join(dir, 'cut.zip');
    await writeSmallArchive(file);
    await truncate(file, Math.floor((await stat(file)).size / 2));
    await expectArchiveError(ArchiveReader.open(file), /not a tenant-backup archive or truncated/);
  });

  it('refuses a file that is not a zip, and a missing file', async () => {
    const file = join(dir, 'text.zip');
    await writeFile(file, 'this is not a zip file at all\n'.repeat(10));
    await expectArchiveError(ArchiveReader.open(file), /not a tenant-backup archive or truncated/);
    await writeFile(join(dir, 'empty.zip'), '');
    await expectArchiveError(ArchiveReader.open(join(dir, 'empty.zip')), /not a tenant-backup archive or truncated/);
    await expectArchiveError(ArchiveReader.open(join(dir, 'missing.zip')), /Cannot read archive/);
  });

  it('detects a flipped byte in stored entry data, in verify() and in an openEntry consumer before it commits', async () => {
    const file = join(dir, 'flipped.zip');
    await writeSmallArchive(file, 0);
    const raw = await readFile(file);
    const at = raw.indexOf('MARKER-') + 1000;
    raw[at] = raw[at]! ^ 0x01;
    await writeFile(file, raw);

    const reader = await ArchiveReader.open(file); // sizes are intact: only the data check can tell
    try {
      await expectArchiveError(reader.verify(), /entry "tables\/items\.ndjson" is corrupt: sha256 mismatch/);
      let committed = false;
      let received = 0;
      const database = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          callback();
        },
        final(callback) {
          committed = true;
          callback();
        },
      });
      await expectArchiveError(pipeline(await reader.openEntry('tables/items.ndjson'), database), /sha256 mismatch/);
      expect(received).toBeGreaterThan(0);
      expect(committed).toBe(false);
    } finally {
      await reader.close();
    }
  });

  it('detects a flipped byte in compressed entry data', async () => {
    const file = join(dir, 'flipped-deflate.zip');
    const writer = await ArchiveWriter.open(file, { compressionLevel: 6 });
    const data = Buffer.from(Array.from({ length: 20000 }, (_, i) => `{"id":${i},"v":"${(i * 7919) % 10007}"}\n`).join(''));
    const written = await writer.addEntry('tables/t.ndjson', data);
    await writer.finish(manifestFor([{ path: 'tables/t.ndjson', ...written }]));
    const raw = await readFile(file);
    const at = Math.floor(written.bytes / 20); // well inside the deflated data of the first entry
    expect(at).toBeLessThan(raw.indexOf(MANIFEST_PATH));
    raw[at] = raw[at]! ^ 0x10;
    await writeFile(file, raw);
    const reader = await ArchiveReader.open(file);
    try {
      await expectArchiveError(reader.verify(), /entry "tables\/t\.ndjson" is corrupt/);
    } finally {
      await reader.close();
    }
  });

  it('refuses an entry that is not in the manifest', async () => {
    const file = join(dir, 'extra.zip');
    await writeRawZip(file, [
      { name: 'tables/a.ndjson', data: 'a' },
      { name: 'tables/extra.ndjson', data: 'x' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([entryFor('tables/a.ndjson', 'a')])) },
    ]);
    const error = await expectArchiveError(ArchiveReader.open(file), /in the zip but not in the manifest: "tables\/extra\.ndjson"/);
    expect(error.details).toMatchObject({ extra: ['tables/extra.ndjson'], missing: [] });
  });

  it('refuses a manifest entry that is missing from the zip', async () => {
    const file = join(dir, 'missing-entry.zip');
    await writeRawZip(file, [
      { name: 'tables/a.ndjson', data: 'a' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([entryFor('tables/a.ndjson', 'a'), entryFor('tables/gone.ndjson', 'g')])) },
    ]);
    await expectArchiveError(ArchiveReader.open(file), /listed in the manifest but missing from the zip: "tables\/gone\.ndjson"/);
  });

  it('refuses an entry whose size differs from the manifest', async () => {
    const file = join(dir, 'size.zip');
    await writeRawZip(file, [
      { name: 'tables/a.ndjson', data: 'abc' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([{ ...entryFor('tables/a.ndjson', 'abc'), bytes: 4 }])) },
    ]);
    await expectArchiveError(ArchiveReader.open(file), /"tables\/a\.ndjson" is 3 bytes in the zip, but the manifest says 4/);
  });

  it.each([
    ['../evil', 'zz/evil'],
    ['/etc/passwd', 'zetc/passwd'],
    ['tables/../../x', 'tables/zz/zz/x'],
    ['tables//x', 'tables/zx'],
    ['tables/./x', 'tables/z/x'],
    ['a\\b', 'azb'],
    ['C:/x', 'Cz/x'],
    ['a\u0001b', 'azb'],
  ])('refuses a zip containing the entry name %j', async (evil, placeholder) => {
    const file = join(dir, 'evil.zip');
    await writeRawZip(file, [
      { name: 'tables/a.ndjson', data: 'a' },
      { name: placeholder, data: 'pwned' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([entryFor('tables/a.ndjson', 'a')])) },
    ]);
    await patchBytes(file, placeholder, evil);
    const error = await expectArchiveError(ArchiveReader.open(file), /unsafe entry name/);
    expect(error.message).toContain(JSON.stringify(evil));
  });

  it('refuses duplicate entry names', async () => {
    const file = join(dir, 'dup.zip');
    await writeRawZip(file, [
      { name: 'tables/aaaa.ndjson', data: 'a' },
      { name: 'tables/bbbb.ndjson', data: 'b' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([entryFor('tables/aaaa.ndjson', 'a')])) },
    ]);
    await patchBytes(file, 'tables/bbbb.ndjson', 'tables/aaaa.ndjson');
    await expectArchiveError(ArchiveReader.open(file), /contains the entry "tables\/aaaa\.ndjson" twice/);
  });

  it('refuses a manifest with format_version 2', async () => {
    const file = join(dir, 'v2.zip');
    await writeRawZip(file, [
      { name: 'tables/a.ndjson', data: 'a' },
      { name: MANIFEST_PATH, data: JSON.stringify(manifestFor([entryFor('tables/a.ndjson', 'a')], { format_version: 2 })) },
    ]);
    await expectArchiveError(ArchiveReader.open(file), /format version 2 is newer than this tool supports; this version of tenant-backup reads format version 1/);
  });

  it('refuses a zip without a manifest, and one whose manifest is not JSON or not valid', async () => {
    const noManifest = join(dir, 'plain.zip');
    await writeRawZip(noManifest, [{ name: 'readme.txt', data: 'hello' }]);
    await expectArchiveError(ArchiveReader.open(noManifest), /has no manifest\.json/);

    const notJson = join(dir, 'notjson.zip');
    await writeRawZip(notJson, [{ name: MANIFEST_PATH, data: '{ not json' }]);
    await expectArchiveError(ArchiveReader.open(notJson), /manifest\.json is not valid UTF-8 JSON/);

    const invalid = join(dir, 'invalid.zip');
    await writeRawZip(invalid, [{ name: MANIFEST_PATH, data: JSON.stringify({ ...manifestFor([]), engine: 'oracle' }) }]);
    await expectArchiveError(ArchiveReader.open(invalid), /invalid manifest: engine/);
  });
});
