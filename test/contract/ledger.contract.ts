/**
 * The contract every Ledger keeps (the record of every backup, with exactly the columns of
 * `auto_backup_logs`, plus settings and operation locks): a kind's test file calls
 * `describeLedgerContract` with a factory, so a database ledger is checked by the same cases as
 * the JSON file from its first day. What needs other processes (many writers, a killed owner) is
 * the kind's own test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockedError, NotFoundError } from '../../src/errors.js';
import { LEDGER_RECORD_FIELDS, type Ledger, type NewRecord } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';

export interface LedgerFactory {
  /** A fresh, empty ledger on `clock`; `cleanup` removes everything it made. */
  create(clock: ReturnType<typeof frozenClock>): Promise<{ ledger: Ledger; cleanup(): Promise<void> }>;
}

export function newRecord(overrides: Partial<NewRecord> = {}): NewRecord {
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

const tenantRecord = (overrides: Partial<NewRecord> = {}) =>
  newRecord({
    kind: 'database',
    organization_id: null,
    tenant: 'acme',
    day_of_week: 'saturday',
    backup_filename: 'acme_2026-11-21_19-04-00.zip',
    backup_path: '/b/tenant-databases/acme_2026-11-21_19-04-00.zip',
    backup_date: '2026-11-21',
    ...overrides,
  });

export function describeLedgerContract(name: string, factory: LedgerFactory): void {
  describe(`${name}: ledger contract`, () => {
    let ledger: Ledger;
    let cleanup: () => Promise<void>;
    let clock: ReturnType<typeof frozenClock>;

    beforeEach(async () => {
      clock = frozenClock('2026-11-23T08:00:00Z');
      ({ ledger, cleanup } = await factory.create(clock));
    });
    afterEach(async () => {
      await cleanup?.();
    });

    it('records exactly the auto_backup_logs columns through begin and finish', async () => {
      const started = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
      expect(started).toMatchObject({ status: 'in_progress', backup_size: 0, sha256: null, error_message: null });
      clock.set('2026-11-23T08:00:05Z');
      const done = await ledger.finish(started.id, { status: 'success', backup_size: 1234, sha256: 'f'.repeat(64) });
      expect(Object.keys(done).sort()).toEqual([...LEDGER_RECORD_FIELDS].sort());
      expect(done).toMatchObject({
        ...newRecord(),
        id: started.id,
        status: 'success',
        backup_size: 1234,
        sha256: 'f'.repeat(64),
        created_at: '2026-11-23T08:00:00.000Z',
        updated_at: '2026-11-23T08:00:05.000Z',
      });
      expect(await ledger.find()).toEqual([done]);
      expect(await ledger.backupTypeOf(started.id)).toBe('auto_daily');
      await expect(ledger.finish(9999, { status: 'failed', error_message: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    });

    it("annotates a finished record's error_message and changes nothing else", async () => {
      const success = await ledger.finish((await ledger.begin(newRecord())).id, { status: 'success', backup_size: 9, sha256: 'c'.repeat(64) });
      const failed = await ledger.finish((await ledger.begin(newRecord({ backup_filename: 'b.zip', backup_path: '/b/b.zip' }))).id, { status: 'failed', error_message: 'boom' });
      clock.set('2026-11-23T09:00:00Z');
      expect(await ledger.annotate(success.id, 'notification failed: ping')).toEqual({ ...success, error_message: 'notification failed: ping' });
      expect(await ledger.annotate(success.id, 'notification failed: mail')).toEqual({ ...success, error_message: 'notification failed: ping; notification failed: mail' });
      expect(await ledger.annotate(failed.id, 'notification failed: webhook')).toEqual({ ...failed, error_message: 'boom; notification failed: webhook' });
      expect(await ledger.find({ status: 'success' })).toEqual([{ ...success, error_message: 'notification failed: ping; notification failed: mail' }]);
      await expect(ledger.annotate(999, 'x')).rejects.toThrow(/does not exist/);
    });

    it("replaces last week's success of the same file on success, keeps it on failure; failed attempts stay", async () => {
      clock.set('2026-11-16T08:00:00Z');
      const lastWeek = await ledger.begin(newRecord({ backup_date: '2026-11-16' }));
      await ledger.finish(lastWeek.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
      const tuesday = await ledger.begin(
        newRecord({ day_of_week: 'tuesday', backup_filename: 'org_ACME_tuesday_backup.zip', backup_path: '/b/organizations/org_ACME_tuesday_backup.zip' }),
      );
      await ledger.finish(tuesday.id, { status: 'success', backup_size: 2, sha256: 'b'.repeat(64) });

      clock.set('2026-11-23T08:00:00Z');
      const failed = await ledger.begin(newRecord());
      await ledger.finish(failed.id, { status: 'failed', error_message: 'boom' });
      expect((await ledger.find({ organization_id: '42' })).map((r) => [r.id, r.status, r.error_message])).toEqual([
        [failed.id, 'failed', 'boom'],
        [tuesday.id, 'success', null],
        [lastWeek.id, 'success', null],
      ]);

      const thisWeek = await ledger.begin(newRecord());
      await ledger.finish(thisWeek.id, { status: 'success', backup_size: 3, sha256: 'c'.repeat(64) });
      expect((await ledger.find({ organization_id: '42' })).map((r) => r.id)).toEqual([thisWeek.id, failed.id, tuesday.id]);
    });

    it("never drops another owner's record of the same path", async () => {
      const other = await ledger.begin(newRecord({ organization_id: '7' }));
      await ledger.finish(other.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
      const ours = await ledger.begin(newRecord());
      await ledger.finish(ours.id, { status: 'success', backup_size: 2, sha256: 'b'.repeat(64) });
      expect((await ledger.find()).map((r) => r.id).sort()).toEqual([other.id, ours.id].sort());
    });

    it('finds by every filter, newest first, and removes records', async () => {
      const org = await ledger.begin(newRecord());
      clock.set('2026-11-23T09:00:00Z');
      const tenant = await ledger.begin(tenantRecord());
      await ledger.finish(tenant.id, { status: 'failed', error_message: 'unreachable' });
      clock.set('2026-11-23T10:00:00Z');
      const later = await ledger.begin(
        tenantRecord({ backup_filename: 'acme_2026-11-23_10-00-00.zip', backup_path: '/b/tenant-databases/acme_2026-11-23_10-00-00.zip', backup_date: '2026-11-23' }),
      );
      const ids = async (filter: Parameters<Ledger['find']>[0]) => (await ledger.find(filter)).map((r) => r.id);
      expect(await ids({})).toEqual([later.id, tenant.id, org.id]);
      expect(await ids({ kind: 'organization' })).toEqual([org.id]);
      expect(await ids({ organization_id: '42' })).toEqual([org.id]);
      expect(await ids({ tenant: 'acme' })).toEqual([later.id, tenant.id]);
      expect(await ids({ status: 'failed' })).toEqual([tenant.id]);
      expect(await ids({ status: 'in_progress' })).toEqual([later.id, org.id]);
      expect(await ids({ backup_filename: 'acme_2026-11-21_19-04-00.zip' })).toEqual([tenant.id]);
      expect(await ids({ backup_date: '2026-11-23' })).toEqual([later.id, org.id]);
      expect(await ids({ kind: 'database', backup_date: '2026-11-21' })).toEqual([tenant.id]);
      await ledger.remove(tenant.id);
      expect(await ids({})).toEqual([later.id, org.id]);
      expect(await ledger.backupTypeOf(tenant.id)).toBeNull();
    });

    it('keeps per-organization settings beside the records', async () => {
      expect(await ledger.getOrganizationSettings('42')).toEqual({ auto_backup_enabled: true, updated_at: null });
      expect(await ledger.setOrganizationSettings('42', { auto_backup_enabled: false })).toEqual({ auto_backup_enabled: false, updated_at: '2026-11-23T08:00:00.000Z' });
      expect((await ledger.getOrganizationSettings('42')).auto_backup_enabled).toBe(false);
      expect((await ledger.getOrganizationSettings('7')).auto_backup_enabled).toBe(true);
    });

    it("reads an organization's day in one call: its settings and that day's successes, newest first", async () => {
      expect(await ledger.dayOfOrganization('42', '2026-11-23')).toEqual({ settings: { auto_backup_enabled: true, updated_at: null }, successes: [] });
      const first = await ledger.finish((await ledger.begin(newRecord(), { backupType: 'auto_daily' })).id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
      clock.set('2026-11-23T09:00:00Z');
      const second = await ledger.finish((await ledger.begin(newRecord({ backup_filename: 'b.zip', backup_path: '/b/b.zip' }))).id, {
        status: 'success',
        backup_size: 2,
        sha256: 'b'.repeat(64),
      });
      await ledger.finish((await ledger.begin(newRecord({ backup_filename: 'c.zip', backup_path: '/b/c.zip' }))).id, { status: 'failed', error_message: 'x' });
      await ledger.finish((await ledger.begin(newRecord({ backup_date: '2026-11-22', backup_filename: 'd.zip', backup_path: '/b/d.zip' }))).id, {
        status: 'success',
        backup_size: 3,
        sha256: 'c'.repeat(64),
      });
      await ledger.finish((await ledger.begin(newRecord({ organization_id: '7' }))).id, { status: 'success', backup_size: 4, sha256: 'd'.repeat(64) });
      await ledger.setOrganizationSettings('42', { auto_backup_enabled: false });
      const day = await ledger.dayOfOrganization('42', '2026-11-23');
      expect(day.settings).toEqual({ auto_backup_enabled: false, updated_at: '2026-11-23T09:00:00.000Z' });
      expect(day.successes.map((e) => [e.record, e.backup_type])).toEqual([
        [second, null],
        [first, 'auto_daily'],
      ]);
      // Every organization's day in one read says exactly what each one's own read says.
      await ledger.setOrganizationSettings('9', { auto_backup_enabled: true });
      await ledger.finish((await ledger.begin(tenantRecord({ backup_date: '2026-11-23' }))).id, { status: 'success', backup_size: 5, sha256: 'e'.repeat(64) });
      const days = await ledger.organizationDays('2026-11-23');
      expect([...days.keys()].sort()).toEqual(['42', '7', '9']);
      for (const id of ['42', '7', '9']) expect(days.get(id), id).toEqual(await ledger.dayOfOrganization(id, '2026-11-23'));
      expect((await ledger.organizationDays('2026-11-22')).get('42')?.successes.map((e) => e.record.backup_filename)).toEqual(['d.zip']);
    });

    it('gives an operation lock to exactly one holder at a time', async () => {
      let release: (() => void) | undefined;
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const holding = ledger.withLock('org-42', () => new Promise<void>((resolve) => ((release = resolve), entered())));
      // The contenders come once the holder is inside (a fixed delay was too short on a loaded machine).
      await inside;
      const contenders = await Promise.allSettled(Array.from({ length: 5 }, () => ledger.withLock('org-42', async () => 'second')));
      expect(contenders.every((c) => c.status === 'rejected' && c.reason instanceof LockedError)).toBe(true);
      expect(await ledger.withLock('org-7', async () => 'other key')).toBe('other key');
      release!();
      await holding;
      expect(await ledger.withLock('org-42', async () => 'after release')).toBe('after release');
    });

    it("does not recover a live run's record: only records whose run is gone are marked failed", async () => {
      expect(await ledger.recoverInterrupted()).toEqual([]);
      await ledger.withLock('org-42', async () => {
        const running = await ledger.begin(newRecord(), { lockKey: 'org-42' });
        expect(await ledger.recoverInterrupted()).toEqual([]);
        expect((await ledger.find())[0]).toMatchObject({ id: running.id, status: 'in_progress' });
        await ledger.finish(running.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
      });
      expect(await ledger.recoverInterrupted()).toEqual([]);
    });
  });
}
