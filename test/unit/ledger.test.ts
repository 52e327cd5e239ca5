import { execFile, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerCorruptError, LockedError } from '../../src/errors.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { LEDGER_RECORD_FIELDS, type NewRecord } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const run = promisify(execFile);
const worker = path.resolve(import.meta.dirname, '../helpers/ledger-worker.ts');

afterEach(removeTempDirs);

function newRecord(overrides: Partial<NewRecord> = {}): NewRecord {
  return {
    kind: 'organization',
    organization_id: '42',
    tenant: null,
    user_id: '7',
    day_of_week: 'monday',
    backup_filename: 'org_ACME_monday_backup.zip',
    backup_path: '/b/organizations/org_ACME_monday_backup.zip',
    backup_date: '2026-11-23',
    ...overrides,
  };
}

describe('JSON file ledger', () => {
  it('records exactly the auto_backup_logs columns through begin and finish', async () => {
    const dir = await makeTempDir();
    const clock = frozenClock('2026-11-23T08:00:00Z');
    const ledger = new JsonFileLedger(dir, clock);
    const started = await ledger.begin(newRecord());
    expect(started.status).toBe('in_progress');
    clock.set('2026-11-23T08:00:05Z');
    const done = await ledger.finish(started.id, { status: 'success', backup_size: 1234, sha256: 'f'.repeat(64) });
    expect(Object.keys(done).sort()).toEqual([...LEDGER_RECORD_FIELDS].sort());
    expect(done).toMatchObject({ status: 'success', backup_size: 1234, created_at: '2026-11-23T08:00:00.000Z', updated_at: '2026-11-23T08:00:05.000Z' });
    expect((await stat(ledger.file)).mode & 0o777).toBe(0o600);
  });

  it('annotates a finished record\'s error_message and changes nothing else', async () => {
    const dir = await makeTempDir();
    const clock = frozenClock('2026-11-23T08:00:00Z');
    const ledger = new JsonFileLedger(dir, clock);
    const success = await ledger.finish((await ledger.begin(newRecord())).id, { status: 'success', backup_size: 9, sha256: 'c'.repeat(64) });
    const failed = await ledger.finish((await ledger.begin(newRecord({ backup_filename: 'b.zip', backup_path: '/b/b.zip' }))).id, { status: 'failed', error_message: 'boom' });
    clock.set('2026-11-23T09:00:00Z');
    expect(await ledger.annotate(success.id, 'notification failed: ping')).toEqual({ ...success, error_message: 'notification failed: ping' });
    expect(await ledger.annotate(success.id, 'notification failed: mail')).toEqual({ ...success, error_message: 'notification failed: ping; notification failed: mail' });
    expect(await ledger.annotate(failed.id, 'notification failed: webhook')).toEqual({ ...failed, error_message: 'boom; notification failed: webhook' });
    expect(await ledger.find({ status: 'success' })).toEqual([{ ...success, error_message: 'notification failed: ping; notification failed: mail' }]);
    await expect(ledger.annotate(999, 'x')).rejects.toThrow(/does not exist/);
  });

  it('replaces last week\'s record of the same file on success, keeps it on failure', async () => {
    const dir = await makeTempDir();
    const clock = frozenClock('2026-11-16T08:00:00Z');
    const ledger = new JsonFileLedger(dir, clock);
    const lastWeek = await ledger.begin(newRecord({ backup_date: '2026-11-16' }));
    await ledger.finish(lastWeek.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
    const tuesday = await ledger.begin(newRecord({ day_of_week: 'tuesday', backup_filename: 'org_ACME_tuesday_backup.zip', backup_path: '/b/organizations/org_ACME_tuesday_backup.zip' }));
    await ledger.finish(tuesday.id, { status: 'success', backup_size: 2, sha256: 'b'.repeat(64) });

    clock.set('2026-11-23T08:00:00Z');
    const failed = await ledger.begin(newRecord());
    await ledger.finish(failed.id, { status: 'failed', error_message: 'boom' });
    expect((await ledger.find({ organization_id: '42' })).map((r) => [r.id, r.status])).toEqual([
      [failed.id, 'failed'],
      [tuesday.id, 'success'],
      [lastWeek.id, 'success'],
    ]);

    const thisWeek = await ledger.begin(newRecord());
    await ledger.finish(thisWeek.id, { status: 'success', backup_size: 3, sha256: 'c'.repeat(64) });
    const remaining = await ledger.find({ organization_id: '42' });
    expect(remaining.map((r) => r.id)).toEqual([thisWeek.id, tuesday.id]);
  });

  it('keeps per-organization settings beside the records', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    expect((await ledger.getOrganizationSettings('42')).auto_backup_enabled).toBe(true);
    await ledger.setOrganizationSettings('42', { auto_backup_enabled: false });
    expect((await ledger.getOrganizationSettings('42')).auto_backup_enabled).toBe(false);
    expect((await ledger.getOrganizationSettings('7')).auto_backup_enabled).toBe(true);
  });

  it('refuses a corrupt file with its name and never overwrites it', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    await writeFile(ledger.file, '{"format": "tenant-backup-ledger", "records": [');
    await expect(ledger.find()).rejects.toThrow(LedgerCorruptError);
    await expect(ledger.begin(newRecord())).rejects.toThrow(ledger.file);
    expect(await readFile(ledger.file, 'utf8')).toBe('{"format": "tenant-backup-ledger", "records": [');

    await writeFile(ledger.file, JSON.stringify({ format: 'tenant-backup-ledger', version: 1, next_id: 2, records: [{ id: 1 }] }));
    await expect(ledger.find()).rejects.toThrow(/records\.0/);
  });

  it('loses no record when 20 processes write at once', async () => {
    const dir = await makeTempDir();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(process.execPath, ['--import', 'tsx', worker, dir, String(i + 1)])),
    );
    expect(results).toHaveLength(20);
    const raw = JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8'));
    expect(raw.records).toHaveLength(20);
    expect(raw.next_id).toBe(21);
    expect(new Set(raw.records.map((r: { id: number }) => r.id)).size).toBe(20);
    expect(raw.records.every((r: { status: string }) => r.status === 'success')).toBe(true);
    expect(raw.records.map((r: { organization_id: string }) => Number(r.organization_id)).sort((a: number, b: number) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(Object.keys(raw.runs)).toEqual([]);
  }, 60_000);

  it('marks the record of a killed process failed instead of leaving it in progress', async () => {
    const dir = await makeTempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', worker, dir, '5', 'hang'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const id = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', () => reject(new Error('worker exited early')));
    });
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T09:00:00Z'));
    expect(await ledger.recoverInterrupted()).toEqual([]);
    expect((await ledger.find())[0]?.status).toBe('in_progress');

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const recovered = await ledger.recoverInterrupted();
    expect(recovered.map((r) => r.id)).toEqual([id]);
    const [record] = await ledger.find();
    expect(record?.status).toBe('failed');
    expect(record?.error_message).toMatch(/Interrupted.*pid/);
  }, 30_000);

  it('gives an operation lock to one holder at a time', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T09:00:00Z'));
    let release!: () => void;
    const holding = ledger.withLock('org-42', () => new Promise<void>((resolve) => (release = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(ledger.withLock('org-42', async () => 'second')).rejects.toThrow(LockedError);
    expect(await ledger.withLock('org-7', async () => 'other key')).toBe('other key');
    release();
    await holding;
    expect(await ledger.withLock('org-42', async () => 'after release')).toBe('after release');
  });
});
