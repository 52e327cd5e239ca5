/**
 * The database ledger (`"ledger": { "type": "database" }`): records in `auto_backup_logs` and
 * settings in `auto_backup_settings` of the organizations database (or `ledger.connection`), on
 * PostgreSQL, MariaDB/MySQL or SQLite; locks in the database (locks.ts). It is what several
 * application servers share: every server sees every record, lock and running backup.
 *
 * - Every statement goes through one connection, one operation at a time (a queue), and several
 *   statements that must agree run in one transaction.
 * - Exactly once for `auto`: an `auto_daily` record holds its organization's `daily_slot` for the
 *   day while `in_progress` or `success`, under a unique key (dialect.ts).
 * - Every `in_progress` record names the run lock its process holds (`run_lock`); a record whose
 *   run lock nobody holds belongs to a process that is gone, on whatever host — `recoverInterrupted`
 *   asks the database, not a pid.
 * - The tables are created on first use (schema.ts), or named in a clear error when the user may not.
 */
import { randomBytes } from 'node:crypto';
import { DailySlotTakenError, LockedError, NotFoundError, OperationError, UsageError } from '../../errors.js';
import type { Clock } from '../../retention/clock.js';
import { failureCutoff, recordsToForget, type HistoryPolicy } from '../../retention/history.js';
import { isProcessAlive } from '../../store/local.js';
import { hostIdentity } from '../host.js';
import { assertOutcome } from '../records.js';
import type {
  BeginOptions,
  HistoryPruneOptions,
  HistoryPruneResult,
  Ledger,
  LedgerEntry,
  LedgerOwner,
  LedgerRecord,
  NewRecord,
  OrganizationDay,
  OrganizationSettings,
  Outcome,
  RecordFilter,
  RecordId,
} from '../types.js';
import type { LedgerTables } from './dialect.js';
import { createLockManager, type LockManager } from './locks.js';
import { entryOfRow, ownerColumn, ownerFilter, selectRecords, whereOf } from './rows.js';
import { importEntries, importSettings } from './import.js';
import { MainSession } from './main-session.js';
import { createLedgerTables } from './schema.js';
import { dayOfOrganization, organizationDays } from './days.js';
import type { SessionTarget, SqlSession } from './session.js';

const PAGE = 500;
const OPERATION_WAIT_MS = 60_000;

export interface DatabaseLedgerOptions {
  target: SessionTarget;
  tables: LedgerTables;
  clock: Clock;
  keep: HistoryPolicy;
  host?: string;
  /** How often both sessions are kept in use while a lock is held (locks.ts); tests make it short. */
  keepaliveMs?: number;
}

const KEEPALIVE_MS = 30_000;

export class DatabaseLedger implements Ledger {
  private readonly main: MainSession;
  private readonly locks: LockManager;
  private readonly runKeys = new Map<RecordId, string>();
  private readonly host: string;
  private tablesReady: Promise<void> | undefined;

  constructor(private readonly options: DatabaseLedgerOptions) {
    this.main = new MainSession(options.target, options.tables);
    this.locks = createLockManager(options.target, options.tables.logs, { intervalMs: options.keepaliveMs ?? KEEPALIVE_MS, ping: () => this.main.ping() });
    this.host = options.host ?? hostIdentity();
  }

  /** `ledger init`: creates the tables if they are missing; true when it created them. */
  async init(): Promise<boolean> {
    return this.main.serial(async () => createLedgerTables(await this.main.connect(), this.options.tables));
  }

  async begin(record: NewRecord, options: BeginOptions = {}): Promise<LedgerRecord> {
    const owner = record.kind === 'organization' ? record.organization_id : record.tenant;
    if (owner === null || owner === '') throw new UsageError('A ledger record needs its organization_id (organizations) or tenant (tenant databases).');
    const runKey = `run-${randomBytes(12).toString('hex')}`;
    if (!(await this.locks.tryAcquire(runKey))) throw new OperationError(`Cannot take the run lock ${runKey}.`);
    try {
      return await this.run(async (db) => {
        const now = this.options.clock.now().toISOString();
        const slot = options.backupType === 'auto_daily' && record.kind === 'organization' ? `${record.organization_id}/${record.backup_date}` : null;
        const { dialect } = db;
        let id: number | null;
        try {
          ({ insertId: id } = await db.execute(
            `INSERT INTO ${dialect.quote(this.options.tables.logs)} (kind, organization_id, tenant, user_id, day_of_week, backup_filename, backup_path, backup_size, sha256, status, error_message, backup_date, created_at, updated_at, backup_type, host, run_pid, run_lock, daily_slot) ` +
              `VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, 'in_progress', NULL, ?, ?, ?, ?, ?, ?, ?, ?)${dialect.returningId}`,
            [
              record.kind,
              record.organization_id,
              record.tenant,
              record.user_id,
              record.day_of_week,
              record.backup_filename,
              record.backup_path,
              record.backup_date,
              dialect.timestamp(now),
              dialect.timestamp(now),
              options.backupType ?? null,
              this.host,
              process.pid,
              runKey,
              slot,
            ],
          ));
        } catch (error) {
          if (slot === null || !dialect.isUniqueViolation(error)) throw error;
          const taken = (await db.query(`SELECT id, status FROM ${dialect.quote(this.options.tables.logs)} WHERE daily_slot = ?`, [slot]))[0];
          throw new DailySlotTakenError(record.organization_id!, record.backup_date, { id: Number(taken?.id ?? 0), status: String(taken?.status ?? 'in_progress') });
        }
        if (id === null) throw new OperationError(`${db.where}: the new ledger record has no id.`);
        this.runKeys.set(id, runKey);
        return (await this.byId(db, id))!.record;
      });
    } catch (error) {
      await this.locks.release(runKey);
      throw error;
    }
  }

  async finish(id: RecordId, outcome: Outcome): Promise<LedgerRecord> {
    assertOutcome(outcome);
    // A run whose lock session ended is no longer protected (another server may have judged it
    // interrupted): it is not recorded as a success, and the caller puts the archive back.
    const runKey = this.runKeys.get(id);
    const lost = outcome.status === 'success' && runKey ? this.locks.lost(runKey) : null;
    if (lost) throw new OperationError(`Lost the run lock of ledger record ${id} while working: ${lost.message}.`);
    const finished = await this.change(id, async (db, record, now) => {
      const logs = db.dialect.quote(this.options.tables.logs);
      if (outcome.status === 'success') {
        await db.execute(`UPDATE ${logs} SET status = 'success', backup_size = ?, sha256 = ?, error_message = NULL, updated_at = ?, run_pid = NULL, run_lock = NULL WHERE id = ?`, [
          outcome.backup_size,
          outcome.sha256,
          now,
          id,
        ]);
        // The committed file replaced the archive that had this name before: so does its record.
        // Failed attempts stay (the history policy forgets them after ledger.keep.failedDays).
        const column = ownerColumn(record);
        await db.execute(`DELETE FROM ${logs} WHERE id <> ? AND kind = ? AND ${column} = ? AND backup_filename = ? AND status = 'success'`, [
          id,
          record.kind,
          record[column],
          record.backup_filename,
        ]);
      } else {
        await db.execute(`UPDATE ${logs} SET status = 'failed', error_message = ?, updated_at = ?, run_pid = NULL, run_lock = NULL, daily_slot = NULL WHERE id = ?`, [
          outcome.error_message,
          now,
          id,
        ]);
      }
    });
    await this.endRun(id);
    return finished;
  }

  async annotate(id: RecordId, note: string): Promise<LedgerRecord> {
    return this.change(id, async (db, record) => {
      const message = record.error_message ? `${record.error_message}; ${note}` : note;
      await db.execute(`UPDATE ${db.dialect.quote(this.options.tables.logs)} SET error_message = ? WHERE id = ?`, [message, id]);
    });
  }

  async remove(id: RecordId): Promise<void> {
    await this.run((db) => db.execute(`DELETE FROM ${db.dialect.quote(this.options.tables.logs)} WHERE id = ?`, [id]));
    await this.endRun(id);
  }

  async find(filter: RecordFilter = {}): Promise<LedgerRecord[]> {
    return (await this.findEntries(filter)).map((entry) => entry.record);
  }

  async findEntries(filter: RecordFilter = {}): Promise<LedgerEntry[]> {
    return this.run(async (db) => {
      const where = whereOf(filter, 'l', db.dialect);
      return (await db.query(selectRecords(db.dialect, this.options.tables.logs, where.sql), where.params)).map(entryOfRow);
    });
  }

  /** Pages of PAGE records, newest first (keyset pagination on the `(created_at, id)` order). */
  async *scan(filter: RecordFilter = {}): AsyncGenerator<LedgerEntry> {
    let after: LedgerRecord | undefined;
    for (;;) {
      const page = await this.run(async (db) => {
        const where = whereOf(filter, 'l', db.dialect);
        const params = [...where.params];
        let sql = where.sql;
        if (after) {
          const at = db.dialect.timestamp(after.created_at);
          sql += ' AND (l.created_at < ? OR (l.created_at = ? AND l.id < ?))';
          params.push(at, at, after.id);
        }
        return (await db.query(selectRecords(db.dialect, this.options.tables.logs, sql, ` LIMIT ${PAGE}`), params)).map(entryOfRow);
      });
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.record;
    }
  }

  async owners(): Promise<LedgerOwner[]> {
    return this.run(async (db) => {
      const q = db.dialect.quote;
      const rows = await db.query(
        `SELECT DISTINCT kind, organization_id, tenant FROM ${q(this.options.tables.logs)} UNION SELECT 'organization', organization_id, NULL FROM ${q(this.options.tables.settings)}`,
      );
      const owners = new Map<string, LedgerOwner>();
      for (const row of rows) {
        if (row.kind === 'organization' && row.organization_id != null)
          owners.set(`o:${String(row.organization_id)}`, { kind: 'organization', organization_id: String(row.organization_id) });
        else if (row.kind === 'database' && row.tenant != null) owners.set(`t:${String(row.tenant)}`, { kind: 'database', tenant: String(row.tenant) });
      }
      return [...owners.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, owner]) => owner);
    });
  }

  async backupTypeOf(id: RecordId) {
    return (await this.run((db) => this.byId(db, id)))?.backup_type ?? null;
  }

  async recoverInterrupted(): Promise<LedgerRecord[]> {
    const running = await this.findEntriesWithRun();
    const recovered: LedgerRecord[] = [];
    for (const { record, runLock, host, pid } of running) {
      if (this.runKeys.has(record.id)) continue;
      // Records without a run lock (copied from a JSON ledger) are judged by their pid, on their own host only.
      const gone = runLock !== null ? !(await this.run((db) => this.locks.isHeld(runLock, db))) : host === this.host && pid !== null && !isProcessAlive(pid);
      if (!gone) continue;
      const message = `Interrupted: the process that ran this backup${pid !== null ? ` (pid ${pid} on ${host ?? 'an unknown host'})` : ''} ended before it finished.`;
      const changed = await this.run(async (db) => {
        const { changes } = await db.execute(
          `UPDATE ${db.dialect.quote(this.options.tables.logs)} SET status = 'failed', error_message = ?, updated_at = ?, run_pid = NULL, run_lock = NULL, daily_slot = NULL WHERE id = ? AND status = 'in_progress'`,
          [message, db.dialect.timestamp(this.options.clock.now().toISOString()), record.id],
        );
        return changes > 0 ? (await this.byId(db, record.id))?.record : undefined;
      });
      if (changed) recovered.push(changed);
    }
    return recovered;
  }

  async getOrganizationSettings(organizationId: string): Promise<OrganizationSettings> {
    return this.run(async (db) => {
      const rows = await db.query(
        `SELECT CASE WHEN auto_backup_enabled THEN 1 ELSE 0 END AS enabled, ${db.dialect.timestampText('updated_at')} AS updated FROM ${db.dialect.quote(this.options.tables.settings)} WHERE organization_id = ?`,
        [organizationId],
      );
      const row = rows[0];
      return row
        ? { auto_backup_enabled: Number(row.enabled) === 1, updated_at: row.updated == null ? null : String(row.updated) }
        : { auto_backup_enabled: true, updated_at: null };
    });
  }

  async dayOfOrganization(organizationId: string, backupDate: string): Promise<OrganizationDay> {
    return this.run((db) => dayOfOrganization(db, this.options.tables, organizationId, backupDate));
  }

  async organizationDays(backupDate: string): Promise<Map<string, OrganizationDay | null>> {
    return this.run((db) => organizationDays(db, this.options.tables, backupDate));
  }

  async setOrganizationSettings(organizationId: string, patch: { auto_backup_enabled: boolean }): Promise<OrganizationSettings> {
    const now = this.options.clock.now().toISOString();
    await this.run((db) => db.execute(db.dialect.upsertSettings(this.options.tables), [organizationId, patch.auto_backup_enabled, db.dialect.timestamp(now)]));
    return { auto_backup_enabled: patch.auto_backup_enabled, updated_at: now };
  }

  async withLock<T>(key: string, fn: () => Promise<T>, options: { wait?: boolean } = {}): Promise<T> {
    // Before any operation under a lock: the tables exist (the organization planner must see them
    // to leave them out of the organization's backup, config/load.ts), or the error names the SQL.
    this.tablesReady ??= this.init()
      .then(() => undefined)
      .catch((error: unknown) => {
        this.tablesReady = undefined;
        throw error;
      });
    await this.tablesReady;
    const deadline = Date.now() + (options.wait ? OPERATION_WAIT_MS : 0);
    let pause = 20;
    while (!(await this.locks.tryAcquire(key))) {
      if (Date.now() >= deadline) {
        throw new LockedError(
          `Another process (on this or another server) holds the lock ${key}; try again when it has finished. A lock is released the moment its process ends.`,
          { lock: key },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
      pause = Math.min(250, pause * 1.5);
    }
    try {
      const result = await fn();
      const lost = this.locks.lost(key);
      if (lost) throw new OperationError(`Lost the lock ${key} while working: ${lost.message}.`);
      return result;
    } finally {
      await this.locks.release(key);
    }
  }

  async pruneHistory(options: HistoryPruneOptions): Promise<HistoryPruneResult> {
    const result: HistoryPruneResult = { failures: 0, missing_archives: 0 };
    const now = this.options.clock.now();
    for (const owner of options.owner ? [options.owner] : await this.owners()) {
      const entries = await this.findEntries(ownerFilter(owner));
      const missing = new Set<RecordId>();
      for (const entry of entries) if (entry.record.status === 'success' && (await options.archiveExists(entry)) === false) missing.add(entry.record.id);
      const doomed = recordsToForget(
        entries.map((e) => e.record),
        options.policy,
        now,
        (record) => !missing.has(record.id),
      );
      for (const record of doomed) result[record.status === 'failed' ? 'failures' : 'missing_archives'] += 1;
      if (options.dryRun || doomed.length === 0) continue;
      await this.run(async (db) => {
        for (const record of doomed) await db.execute(`DELETE FROM ${db.dialect.quote(this.options.tables.logs)} WHERE id = ? AND status <> 'in_progress'`, [record.id]);
      });
    }
    return result;
  }

  /** Copies records of another ledger (`ledger migrate --from json`): see import.ts. */
  async importEntries(entries: AsyncIterable<LedgerEntry>): Promise<{ copied: number; skipped: number }> {
    return importEntries((fn) => this.run(fn), this.options.target.client, this.options.tables, entries);
  }

  /** Sets an organization's switch only where this ledger has none yet (`ledger migrate`). */
  async importSettings(organizationId: string, settings: OrganizationSettings): Promise<boolean> {
    return this.run((db) => importSettings(db, this.options.tables, organizationId, settings));
  }

  async close(): Promise<void> {
    await this.locks.close();
    await this.main.close();
  }

  private run<T>(fn: (db: SqlSession) => Promise<T>): Promise<T> {
    return this.main.run(fn);
  }

  /** Changes one record in a transaction (the history policy's failure limit applied to its owner); returns it. */
  private async change(id: RecordId, edit: (db: SqlSession, record: LedgerRecord, now: string) => Promise<void>): Promise<LedgerRecord> {
    return this.run(async (db) => {
      await db.execute(db.dialect.name === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN');
      try {
        const found = await this.byId(db, id, true);
        if (!found) throw new NotFoundError(`Ledger record ${id} does not exist (was it deleted meanwhile?).`);
        const now = db.dialect.timestamp(this.options.clock.now().toISOString());
        await edit(db, found.record, now);
        const column = ownerColumn(found.record);
        await db.execute(`DELETE FROM ${db.dialect.quote(this.options.tables.logs)} WHERE id <> ? AND kind = ? AND ${column} = ? AND status = 'failed' AND created_at < ?`, [
          id,
          found.record.kind,
          found.record[column],
          db.dialect.timestamp(failureCutoff(this.options.keep, this.options.clock.now()).toISOString()),
        ]);
        const changed = await this.byId(db, id);
        await db.execute('COMMIT');
        if (!changed) throw new NotFoundError(`Ledger record ${id} does not exist (was it deleted meanwhile?).`);
        return changed.record;
      } catch (error) {
        await db.execute('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  private async byId(db: SqlSession, id: RecordId, forUpdate = false): Promise<LedgerEntry | undefined> {
    const tail = forUpdate && db.dialect.name !== 'sqlite' ? ' FOR UPDATE' : '';
    const row = (await db.query(selectRecords(db.dialect, this.options.tables.logs, 'l.id = ?', tail), [id]))[0];
    return row ? entryOfRow(row) : undefined;
  }

  private async findEntriesWithRun(): Promise<Array<{ record: LedgerRecord; runLock: string | null; host: string | null; pid: number | null }>> {
    return this.run(async (db) => {
      const rows = await db.query(selectRecords(db.dialect, this.options.tables.logs, "l.status = 'in_progress'"));
      return rows.map((row) => ({
        record: entryOfRow(row).record,
        runLock: row.run_lock == null ? null : String(row.run_lock),
        host: row.host == null ? null : String(row.host),
        pid: row.run_pid == null ? null : Number(row.run_pid),
      }));
    });
  }

  private async endRun(id: RecordId): Promise<void> {
    const key = this.runKeys.get(id);
    this.runKeys.delete(id);
    if (key) await this.locks.release(key);
  }
}
