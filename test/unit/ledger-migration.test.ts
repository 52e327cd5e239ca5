/**
 * Format 1 (one `ledger.json` holding every record) → format 2 (a head and one file per owner),
 * done by the first command that meets a format-1 file: every record kept as it was, backup types
 * and settings too, the old file kept beside as `ledger-v1.json`; a file that is not valid is
 * left alone. The reader under it (stream-json.ts) is checked on its own, chunk edge by chunk edge.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerCorruptError } from '../../src/errors.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { streamJsonObject } from '../../src/ledger/json/stream-json.js';
import { frozenClock } from '../../src/retention/clock.js';
import { newRecord } from '../contract/ledger.contract.js';
import { generateFormat1Ledger } from '../helpers/ledger-generator.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterEach(removeTempDirs);

const clock = () => frozenClock('2026-11-27T08:00:00Z');

describe('migration from format 1', () => {
  it('keeps every record, backup type and setting, and the old file beside', async () => {
    const dir = await makeTempDir();
    const generated = await generateFormat1Ledger(dir, { records: 3000, organizations: 40, tenants: 15, settings: { '3': false, '99': true } });
    const original = await readFile(path.join(dir, 'ledger.json'), 'utf8');
    const v1 = JSON.parse(original) as { records: Array<{ id: number }>; record_meta: Record<string, { backup_type: string }> };
    expect(v1.records).toHaveLength(3000);

    const ledger = new JsonFileLedger(dir, clock());
    const entries = await ledger.findEntries();
    expect(entries.map((e) => e.record).sort((a, b) => a.id - b.id)).toEqual([...v1.records].sort((a, b) => a.id - b.id));
    for (const entry of entries) expect(entry.backup_type).toBe(v1.record_meta[String(entry.record.id)]!.backup_type);
    expect((await ledger.getOrganizationSettings('3')).auto_backup_enabled).toBe(false);
    expect(await ledger.getOrganizationSettings('99')).toEqual({ auto_backup_enabled: true, updated_at: '2026-11-01T00:00:00.000Z' });
    expect(await readFile(path.join(dir, 'ledger-v1.json'), 'utf8')).toBe(original);
    expect(JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8'))).toMatchObject({ version: 2, next_id: generated.nextId });
    expect((await readdir(path.join(dir, 'ledger', 'organizations'))).length).toBe(41);
    // Names are indexed (a lookup by file name alone finds its owner).
    const sample = v1.records[1234] as unknown as { backup_filename: string; id: number };
    expect((await ledger.find({ backup_filename: sample.backup_filename })).map((r) => r.id)).toContain(sample.id);
    // Once: a second instance reads format 2; new records continue the ids.
    expect((await new JsonFileLedger(dir, clock()).find()).length).toBe(3000);
    expect((await ledger.begin(newRecord({ organization_id: '1' }))).id).toBe(generated.nextId);
  });

  it('converted by a reading command on another machine, belongs to the first host that writes (format 1 named none)', async () => {
    const dir = await makeTempDir();
    const generated = await generateFormat1Ledger(dir, { records: 50, organizations: 3, tenants: 2 });
    const admin = new JsonFileLedger(dir, clock(), undefined, { host: 'admin-box' });
    expect(await admin.find()).toHaveLength(50);
    expect(await admin.recoverInterrupted()).toEqual([]);
    expect(JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8'))).toMatchObject({ version: 2, host: '' });
    const server = new JsonFileLedger(dir, clock(), undefined, { host: 'app-1' });
    const started = await server.begin(newRecord({ organization_id: '1' }));
    expect(started.id).toBe(generated.nextId);
    expect((await server.finish(started.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) })).status).toBe('success');
    expect(JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8'))).toMatchObject({ version: 2, host: 'app-1', next_id: generated.nextId + 1 });
    // Claimed now: the other machine reads, and may not write.
    expect(await admin.find()).toHaveLength(51);
    await expect(new JsonFileLedger(dir, clock(), undefined, { host: 'admin-box' }).begin(newRecord())).rejects.toThrow(/belongs to host "app-1", and this is "admin-box"/);
  });

  it('marks the records of runs of the older version failed', async () => {
    const dir = await makeTempDir();
    const record = {
      ...newRecord(),
      id: 1,
      backup_size: 0,
      sha256: null,
      status: 'in_progress',
      error_message: null,
      created_at: '2026-11-23T08:00:00.000Z',
      updated_at: '2026-11-23T08:00:00.000Z',
    };
    await writeFile(
      path.join(dir, 'ledger.json'),
      JSON.stringify(
        {
          format: 'tenant-backup-ledger',
          version: 1,
          next_id: 2,
          records: [record],
          runs: { '1': { pid: 4242, host: 'old-host', lock: '/x/locks/org-42.lock', started_at: record.created_at } },
        },
        null,
        2,
      ),
      { mode: 0o600 },
    );
    const [migrated] = await new JsonFileLedger(dir, clock()).find();
    expect(migrated).toMatchObject({ id: 1, status: 'failed', updated_at: '2026-11-27T08:00:00.000Z' });
    expect(migrated!.error_message).toMatch(/upgraded to format 2 while this backup ran \(pid 4242 on old-host\)/);
  });

  it('leaves a format-1 file that is not valid as it is, naming the record (exit 6)', async () => {
    const dir = await makeTempDir();
    await generateFormat1Ledger(dir, { records: 50, organizations: 3, tenants: 2 });
    const text = (await readFile(path.join(dir, 'ledger.json'), 'utf8')).replace('"status": "success"', '"status": "done"');
    await writeFile(path.join(dir, 'ledger.json'), text);
    const error = await new JsonFileLedger(dir, clock()).find().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerCorruptError);
    expect((error as Error).message).toMatch(/records\[\d+\]\.status: invalid value/);
    expect(await readFile(path.join(dir, 'ledger.json'), 'utf8')).toBe(text);
    expect(await readdir(path.join(dir, 'ledger', 'organizations')).catch(() => [])).toEqual([]);

    // A file cut short (beyond the size of a format-2 head: read piece by piece).
    await generateFormat1Ledger(path.join(dir, 'big'), { records: 500, organizations: 3, tenants: 2 });
    const cut = (await readFile(path.join(dir, 'big', 'ledger.json'), 'utf8')).slice(0, 100_000);
    await writeFile(path.join(dir, 'ledger.json'), cut);
    await expect(new JsonFileLedger(dir, clock()).find()).rejects.toThrow(/ends too early at byte 100000/);
    expect(await readFile(path.join(dir, 'ledger.json'), 'utf8')).toBe(cut);
  });

  it('generates format 1 byte for byte as format 1 wrote it (JSON.stringify(…, null, 2))', async () => {
    const dir = await makeTempDir();
    await generateFormat1Ledger(dir, { records: 30, organizations: 2, tenants: 2, settings: { '1': false } });
    const text = await readFile(path.join(dir, 'ledger.json'), 'utf8');
    expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  });
});

describe('reading one large JSON object piece by piece', () => {
  const doc = {
    format: 'x',
    version: 1,
    next_id: 3,
    records: [
      { id: 1, s: 'a"b\\c{[é€😀', n: null },
      { id: 2, nested: { x: [1, 2, { y: '}' }] } },
    ],
    runs: {},
    record_meta: { '1': { backup_type: 'manual' }, 'we"ird': 5 },
    organizations: { '7': { a: true } },
    tail: [1, 2],
    e: '',
    t: true,
    num: -1.5e3,
  };

  it.each([0, 2])('gives every value, whatever the chunk size (indent %i)', async (indent) => {
    const dir = await makeTempDir();
    const file = path.join(dir, 'doc.json');
    await writeFile(file, JSON.stringify(doc, null, indent));
    for (const chunkBytes of [1, 2, 3, 5, 7, 11, 64, 1 << 20]) {
      const rebuilt: Record<string, unknown> = {};
      await streamJsonObject(
        file,
        new Set(['records', 'runs', 'record_meta', 'organizations']),
        async (values) => {
          for (const value of values) {
            const parsed = JSON.parse(value.text) as unknown;
            if (value.child === undefined) rebuilt[value.key] = parsed;
            else {
              const container = (rebuilt[value.key] ??= typeof value.child === 'number' ? [] : {}) as Record<string | number, unknown>;
              container[value.child] = parsed;
            }
          }
        },
        { chunkBytes },
      );
      rebuilt.runs ??= {};
      expect(JSON.stringify(Object.fromEntries(Object.keys(doc).map((k) => [k, rebuilt[k]])))).toBe(JSON.stringify(doc));
    }
  });

  it.each(['{"a":1,}', '{"a" 1}', '{"a":1', '[1]', '{"a":1}x', '{"records":[{"a":1},]}'])('refuses %s', async (text) => {
    const file = path.join(await makeTempDir(), 'bad.json');
    await writeFile(file, text);
    await expect(streamJsonObject(file, new Set(['records']), async () => undefined)).rejects.toThrow(/at byte \d+/);
  });
});
