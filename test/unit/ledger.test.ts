/**
 * The JSON file ledger (format 2): the Ledger contract (test/contract/ledger.contract.ts), plus
 * what is the files' own — their mode and human-readable layout, a corrupt file never overwritten,
 * many processes writing at once, a killed process's record recovered, the once-a-day rule, the
 * history policy, one host only. Migration from format 1: ledger-migration.test.ts.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DailySlotTakenError, LedgerCorruptError } from '../../src/errors.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { mergeNewestFirst } from '../../src/ledger/json/merge.js';
import type { LedgerEntry } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { describeLedgerContract, newRecord } from '../contract/ledger.contract.js';
import { ledgerRecords, ledgerRuns } from '../helpers/ledger-files.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const run = promisify(execFile);
const worker = path.resolve(import.meta.dirname, '../helpers/ledger-worker.ts');

afterEach(removeTempDirs);

describeLedgerContract('JSON file', {
  create: async (clock) => ({ ledger: new JsonFileLedger(await makeTempDir(), clock), cleanup: removeTempDirs }),
});

const tenantRecord = (at: string) =>
  newRecord({
    kind: 'database',
    organization_id: null,
    tenant: 'acme',
    backup_filename: `acme_${at}.zip`,
    backup_path: `/b/tenant-databases/acme_${at}.zip`,
    backup_date: at.slice(0, 10),
  });

describe('JSON file ledger', () => {
  it('keeps a small head and one private, readable file per owner: one record per line', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    const started = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
    await ledger.finish(started.id, { status: 'success', backup_size: 5, sha256: 'f'.repeat(64) });
    await ledger.finish((await ledger.begin(tenantRecord('2026-11-23_08-00-00'))).id, { status: 'failed', error_message: 'boom' });
    const head = JSON.parse(await readFile(ledger.file, 'utf8'));
    expect(head).toMatchObject({ format: 'tenant-backup-ledger', version: 2, next_id: 3 });
    const owner = path.join(dir, 'ledger', 'organizations', '42.json');
    for (const file of [ledger.file, owner, path.join(dir, 'ledger', 'tenants', 'acme.json')]) expect((await stat(file)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(owner, 'utf8')).split('\n');
    expect(lines[0]).toMatch(/^\{"format":"tenant-backup-ledger-owner","version":2,"kind":"organization","owner":"42","settings":null,$/);
    expect(JSON.parse(lines[2]!.replace(/,$/, ''))).toEqual((await ledger.find({ organization_id: '42' }))[0]);
    expect(JSON.parse(await readFile(owner, 'utf8'))).toMatchObject({ meta: { [String(started.id)]: { backup_type: 'auto_daily' } } });
  });

  it('names owner files safely whatever the id (UUIDs, slashes, dots, long text)', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    const ids = ['../x', '.hidden', 'a/b c', 'ü', 'x'.repeat(300), '550e8400-e29b-41d4-a716-446655440000'];
    for (const id of ids) await ledger.begin(newRecord({ organization_id: id }));
    const files = await readdir(path.join(dir, 'ledger', 'organizations'));
    expect(files.every((name) => !name.startsWith('.') && !name.includes('/') && name.length < 220)).toBe(true);
    expect((await ledger.owners()).map((o) => (o.kind === 'organization' ? o.organization_id : '')).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await ledger.find({ organization_id: id })).toHaveLength(1);
  });

  it('refuses a corrupt owner file with its name (exit 6) and never overwrites it', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    await ledger.begin(newRecord());
    const file = path.join(dir, 'ledger', 'organizations', '42.json');
    await writeFile(file, '{"format": "tenant-backup-ledger-owner", "records": [');
    await expect(ledger.find({ organization_id: '42' })).rejects.toThrow(LedgerCorruptError);
    await expect(ledger.begin(newRecord())).rejects.toThrow(file);
    expect(await readFile(file, 'utf8')).toBe('{"format": "tenant-backup-ledger-owner", "records": [');
    // Other owners are unaffected.
    expect((await ledger.begin(newRecord({ organization_id: '7' }))).status).toBe('in_progress');

    const record = (await ledger.find({ organization_id: '7' }))[0]!;
    await writeFile(
      file,
      JSON.stringify({
        format: 'tenant-backup-ledger-owner',
        version: 2,
        kind: 'organization',
        owner: '42',
        settings: null,
        records: [{ ...record, organization_id: '42', status: 'done' }],
      }),
    );
    await expect(ledger.find({ organization_id: '42' })).rejects.toThrow(/records\[0\]\.status: invalid value/);
    await writeFile(ledger.file, JSON.stringify({ format: 'tenant-backup-ledger', version: 3 }));
    await expect(new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z')).find()).rejects.toThrow(/version: 3 is not a ledger format this version knows/);
  });

  it('loses no record when 20 processes write at once', async () => {
    const dir = await makeTempDir();
    // Half of them write the same organization's file, half their own.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => run(process.execPath, ['--import', 'tsx', worker, dir, String(i < 10 ? 1 : i)])));
    expect(results).toHaveLength(20);
    const records = await ledgerRecords(dir);
    expect(records).toHaveLength(20);
    expect(new Set(records.map((r) => r.id)).size).toBe(20);
    expect(JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8')).next_id).toBe(21);
    expect(records.every((r) => r.status === 'success')).toBe(true);
    expect(records.filter((r) => r.organization_id === '1')).toHaveLength(10);
    expect(await ledgerRuns(dir)).toEqual([]);
  }, 120_000);

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
    expect(await readdir(path.join(dir, 'ledger', 'runs'))).toEqual([]);
  }, 30_000);

  it('records one automatic backup per organization and day, even without the operation lock', async () => {
    const ledger = new JsonFileLedger(await makeTempDir(), frozenClock('2026-11-23T08:00:00Z'));
    const first = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
    const second = ledger.begin(newRecord(), { backupType: 'auto_daily' });
    await expect(second).rejects.toBeInstanceOf(DailySlotTakenError);
    await expect(second).rejects.toMatchObject({ existing: { id: first.id, status: 'in_progress' } });
    // Other days, other organizations, manual backups: not concerned.
    await ledger.begin(newRecord({ backup_date: '2026-11-24' }), { backupType: 'auto_daily' });
    await ledger.begin(newRecord({ organization_id: '7' }), { backupType: 'auto_daily' });
    await ledger.begin(newRecord(), { backupType: 'manual' });
    // A failed one gives the day back.
    await ledger.finish(first.id, { status: 'failed', error_message: 'boom' });
    expect((await ledger.begin(newRecord(), { backupType: 'auto_daily' })).status).toBe('in_progress');
  });

  it('forgets failures older than ledger.keep.failedDays whenever it writes their owner', async () => {
    const clock = frozenClock('2026-08-01T08:00:00Z');
    const ledger = new JsonFileLedger(await makeTempDir(), clock, undefined, { keep: { failedDays: 30, missingArchives: false } });
    const old = await ledger.finish((await ledger.begin(newRecord())).id, { status: 'failed', error_message: 'old' });
    const oldOther = await ledger.finish((await ledger.begin(newRecord({ organization_id: '7' }))).id, { status: 'failed', error_message: 'old' });
    clock.set('2026-09-15T08:00:00Z');
    const recent = await ledger.finish((await ledger.begin(newRecord({ backup_date: '2026-09-15' }))).id, { status: 'failed', error_message: 'new' });
    expect((await ledger.find()).map((r) => r.id)).toEqual([recent.id, oldOther.id]);
    expect(old.id).toBeLessThan(recent.id);
  });

  it('prune: forgets expired failures and records of vanished archives; dry run counts only; never a running record', async () => {
    const clock = frozenClock('2026-01-01T08:00:00Z');
    const ledger = new JsonFileLedger(await makeTempDir(), clock);
    const failed = await ledger.finish((await ledger.begin(newRecord({ organization_id: '7' }))).id, { status: 'failed', error_message: 'x' });
    clock.set('2026-11-23T08:00:00Z');
    const kept = await ledger.finish((await ledger.begin(newRecord())).id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
    const vanished = await ledger.finish((await ledger.begin(tenantRecord('2026-11-22_08-00-00'))).id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
    const running = await ledger.begin(tenantRecord('2026-11-23_08-00-00'));
    const policy = { failedDays: 90, missingArchives: false };
    const archiveExists = async (entry: LedgerEntry) => entry.record.id !== vanished.id;
    expect(await ledger.pruneHistory({ policy, archiveExists, dryRun: true })).toEqual({ failures: 1, missing_archives: 1 });
    expect(await ledger.find()).toHaveLength(4);
    expect(await ledger.pruneHistory({ policy, archiveExists, owner: { kind: 'database', tenant: 'acme' } })).toEqual({ failures: 0, missing_archives: 1 });
    expect(await ledger.pruneHistory({ policy, archiveExists })).toEqual({ failures: 1, missing_archives: 0 });
    expect((await ledger.find()).map((r) => r.id).sort()).toEqual([kept.id, running.id].sort());
    expect(await ledger.find({ backup_filename: vanished.backup_filename })).toEqual([]);
    expect(failed.id).toBeGreaterThan(0);
    expect(await ledger.pruneHistory({ policy: { failedDays: 0, missingArchives: true }, archiveExists: async () => false })).toEqual({ failures: 0, missing_archives: 0 });
  });

  it('streams every record newest first across owners, beyond what it sorts in memory', async () => {
    const entry = (id: number, at: string): LedgerEntry => ({
      record: { ...newRecord(), id, created_at: at, updated_at: at, backup_size: 0, sha256: null, status: 'success', error_message: null },
      backup_type: null,
      host: null,
    });
    async function* batches() {
      yield [entry(3, '2026-11-03'), entry(1, '2026-11-01')];
      yield [entry(6, '2026-11-06'), entry(2, '2026-11-02')];
      yield [entry(5, '2026-11-05'), entry(4, '2026-11-05')];
      yield [entry(7, '2026-11-04')];
    }
    const ids: number[] = [];
    for await (const item of mergeNewestFirst(batches(), 2)) ids.push(item.record.id);
    expect(ids).toEqual([6, 5, 4, 7, 3, 2, 1]);
  });

  it('keeps non-ASCII text whole through the temp-file merge (a character cut at a read boundary is never garbled)', async () => {
    // 3,000 entries of ~1 KiB of multi-byte text: the run files span many 64 KiB reads, and
    // characters of 2 and 3 bytes land on the boundaries.
    const text = 'é—…'.repeat(150);
    const entries: LedgerEntry[] = Array.from({ length: 3000 }, (_, i) => {
      const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString();
      return {
        record: {
          ...newRecord(),
          id: i + 1,
          created_at: at,
          updated_at: at,
          backup_size: 0,
          sha256: null,
          status: 'failed',
          error_message: `${i}:${text.slice(0, (i % 300) + 1)}`,
        },
        backup_type: 'manual',
        host: 'h',
      };
    });
    async function* batches() {
      for (let i = 0; i < entries.length; i += 97) yield entries.slice(i, i + 97);
    }
    const merged: LedgerEntry[] = [];
    for await (const item of mergeNewestFirst(batches(), 500)) merged.push(item);
    expect(merged).toEqual([...entries].reverse());
  });

  it('takes its run lock even while another process probes it (a probe holds a run lock for an instant)', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    await ledger.setOrganizationSettings('1', { auto_backup_enabled: true });
    const { mkdir } = await import('node:fs/promises');
    const { tryLockFile } = await import('../../src/ledger/file-lock.js');
    await mkdir(path.join(dir, 'ledger', 'runs'), { recursive: true });
    // What recoverInterrupted's probe does in another process, caught in the middle: record 1's lock taken.
    const probe = await tryLockFile(path.join(dir, 'ledger', 'runs', '1.lck'));
    if (!probe || probe === 'missing') throw new Error('the probe could not take the lock');
    const released = new Promise<void>((resolve) => setTimeout(() => void probe.release().then(resolve), 50));
    const started = await ledger.begin(newRecord());
    await released;
    expect(started).toMatchObject({ id: 1, status: 'in_progress' });
    expect(await ledger.recoverInterrupted()).toEqual([]);
    expect((await ledger.finish(started.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) })).status).toBe('success');
  });

  it('serves one host: another host (or a second machine on a shared store) is refused with a pointer to the database ledger', async () => {
    const dir = await makeTempDir();
    const here = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'), undefined, { host: 'web-1' });
    const done = await here.finish((await here.begin(newRecord())).id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
    const there = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'), undefined, { host: 'web-2' });
    expect(await there.find()).toEqual([done]);
    for (const attempt of [
      () => there.begin(newRecord()),
      () => there.withLock('org-42', async () => 1),
      () => there.setOrganizationSettings('42', { auto_backup_enabled: false }),
    ]) {
      const error = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/belongs to host "web-1", and this is "web-2".*database ledger/);
    }
    expect(await there.recoverInterrupted()).toEqual([]);
  });
});
