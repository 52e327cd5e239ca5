/**
 * The embedded ledger: one JSON file (`<storage>/ledger.json`, 0600). Every change runs under a
 * cross-process lock and is written atomically (temp file, fsync, rename, fsync folder), so many
 * processes can record at once without losing or tearing a record. A file that does not parse is
 * never overwritten: it is reported (LedgerCorruptError) and left for a human.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { LedgerCorruptError, NotFoundError } from '../errors.js';
import { WEEKDAYS } from '../retention/clock.js';
import type { Clock } from '../retention/clock.js';
import { fsyncPath, isProcessAlive } from '../store/local.js';
import { isLockHeld, lockPathFor, withFileLock } from './locks.js';
import type {
  BeginOptions,
  Ledger,
  LedgerRecord,
  NewRecord,
  OrganizationSettings,
  Outcome,
  RecordFilter,
  RecordId,
} from './types.js';

export const LEDGER_FILE_NAME = 'ledger.json';
const LEDGER_FORMAT = 'tenant-backup-ledger';

const recordSchema = z.strictObject({
  id: z.number().int().positive(),
  kind: z.enum(['organization', 'database']),
  organization_id: z.string().nullable(),
  tenant: z.string().nullable(),
  user_id: z.string().nullable(),
  day_of_week: z.enum(WEEKDAYS),
  backup_filename: z.string(),
  backup_path: z.string(),
  backup_size: z.number().int().nonnegative(),
  sha256: z.string().nullable(),
  status: z.enum(['success', 'failed', 'in_progress']),
  error_message: z.string().nullable(),
  backup_date: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

/** Who is running an `in_progress` record: kept beside the records, not in them (they mirror a table). */
const runSchema = z.object({ pid: z.number().int(), host: z.string(), lock: z.string().nullable(), started_at: z.string() });

const fileSchema = z.object({
  format: z.literal(LEDGER_FORMAT),
  version: z.literal(1),
  next_id: z.number().int().positive(),
  records: z.array(recordSchema),
  runs: z.record(z.string(), runSchema).default({}),
  /** Facts about a record that are not `auto_backup_logs` columns (backup type). */
  record_meta: z.record(z.string(), z.object({ backup_type: z.enum(['manual', 'auto_daily', 'pre_restore']) })).default({}),
  organizations: z
    .record(z.string(), z.object({ auto_backup_enabled: z.boolean(), updated_at: z.string().nullable() }))
    .default({}),
});

type LedgerFile = z.infer<typeof fileSchema>;

function emptyLedger(): LedgerFile {
  return { format: LEDGER_FORMAT, version: 1, next_id: 1, records: [], runs: {}, record_meta: {}, organizations: {} };
}

export class JsonFileLedger implements Ledger {
  readonly file: string;
  private readonly locksDir: string;

  constructor(
    storageDir: string,
    private readonly clock: Clock,
  ) {
    this.file = path.join(storageDir, LEDGER_FILE_NAME);
    this.locksDir = path.join(storageDir, 'locks');
  }

  async begin(record: NewRecord, options: BeginOptions = {}): Promise<LedgerRecord> {
    return this.mutate((data) => {
      const now = this.clock.now().toISOString();
      const created: LedgerRecord = {
        id: data.next_id,
        ...record,
        backup_size: 0,
        sha256: null,
        status: 'in_progress',
        error_message: null,
        created_at: now,
        updated_at: now,
      };
      data.next_id += 1;
      data.records.push(created);
      data.runs[String(created.id)] = {
        pid: process.pid,
        host: hostname(),
        lock: options.lockKey ? lockPathFor(this.locksDir, options.lockKey) : null,
        started_at: now,
      };
      if (options.backupType) data.record_meta[String(created.id)] = { backup_type: options.backupType };
      return created;
    });
  }

  async finish(id: RecordId, outcome: Outcome): Promise<LedgerRecord> {
    return this.mutate((data) => {
      const record = data.records.find((r) => r.id === id);
      if (!record) throw new NotFoundError(`Ledger record ${id} does not exist (was it deleted meanwhile?).`);
      record.status = outcome.status;
      record.updated_at = this.clock.now().toISOString();
      if (outcome.status === 'success') {
        record.backup_size = outcome.backup_size;
        record.sha256 = outcome.sha256;
        record.error_message = null;
        // The committed file replaced whatever had this name before: so does its record.
        const replaced = data.records.filter((r) => r.id !== id && r.kind === record.kind && r.backup_path === record.backup_path);
        for (const old of replaced) delete data.record_meta[String(old.id)];
        data.records = data.records.filter((r) => !replaced.includes(r));
      } else {
        record.error_message = outcome.error_message;
      }
      delete data.runs[String(id)];
      return { ...record };
    });
  }

  async find(filter: RecordFilter = {}): Promise<LedgerRecord[]> {
    const data = await this.read();
    return data.records.filter((r) => matches(r, filter)).sort(newestFirst);
  }

  async remove(id: RecordId): Promise<void> {
    await this.mutate((data) => {
      data.records = data.records.filter((r) => r.id !== id);
      delete data.runs[String(id)];
      delete data.record_meta[String(id)];
    });
  }

  async backupTypeOf(id: RecordId) {
    return (await this.read()).record_meta[String(id)]?.backup_type ?? null;
  }

  async recoverInterrupted(): Promise<LedgerRecord[]> {
    // Cheap read first: most runs find nothing to recover and should not take the ledger lock.
    const snapshot = await this.read();
    const candidates = await this.interruptedIds(snapshot);
    if (candidates.size === 0) return [];
    return this.mutate(async (data) => {
      const confirmed = await this.interruptedIds(data);
      const now = this.clock.now().toISOString();
      const recovered: LedgerRecord[] = [];
      for (const record of data.records) {
        if (!confirmed.has(record.id)) continue;
        const run = data.runs[String(record.id)];
        record.status = 'failed';
        record.error_message = `Interrupted: the process that ran this backup${run ? ` (pid ${run.pid} on ${run.host})` : ''} ended before it finished.`;
        record.updated_at = now;
        delete data.runs[String(record.id)];
        recovered.push({ ...record });
      }
      return recovered;
    });
  }

  async getOrganizationSettings(organizationId: string): Promise<OrganizationSettings> {
    const data = await this.read();
    return data.organizations[organizationId] ?? { auto_backup_enabled: true, updated_at: null };
  }

  async setOrganizationSettings(organizationId: string, patch: { auto_backup_enabled: boolean }): Promise<OrganizationSettings> {
    return this.mutate((data) => {
      const settings = { auto_backup_enabled: patch.auto_backup_enabled, updated_at: this.clock.now().toISOString() };
      data.organizations[organizationId] = settings;
      return settings;
    });
  }

  async withLock<T>(key: string, fn: () => Promise<T>, options: { wait?: boolean } = {}): Promise<T> {
    return withFileLock(lockPathFor(this.locksDir, key), { wait: options.wait ?? false }, fn);
  }

  private async interruptedIds(data: LedgerFile): Promise<Set<RecordId>> {
    const ids = new Set<RecordId>();
    for (const record of data.records) {
      if (record.status !== 'in_progress') continue;
      const run = data.runs[String(record.id)];
      if (!run) {
        ids.add(record.id);
        continue;
      }
      const deadHere = run.host === hostname() && !isProcessAlive(run.pid);
      const lockGone = run.lock !== null && !(await isLockHeld(run.lock));
      if (deadHere || lockGone) ids.add(record.id);
    }
    return ids;
  }

  /** Reads the ledger without locking: writes are atomic renames, so a read sees a whole version. */
  private async read(): Promise<LedgerFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyLedger();
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new LedgerCorruptError(this.file, error);
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new LedgerCorruptError(this.file, new Error(`${issue?.path.join('.') || 'top level'}: ${issue?.message}`));
    }
    return result.data;
  }

  /** Read-modify-write under the ledger lock; `change` edits `data` in place and returns a result. */
  private async mutate<T>(change: (data: LedgerFile) => T | Promise<T>): Promise<T> {
    const dir = path.dirname(this.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return withFileLock(path.join(dir, `${LEDGER_FILE_NAME}.lock`), { wait: true, waitMs: 120_000 }, async () => {
      const data = await this.read();
      const result = await change(data);
      await this.write(data);
      return result;
    });
  }

  private async write(data: LedgerFile): Promise<void> {
    const temp = path.join(path.dirname(this.file), `.${LEDGER_FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`, 'utf8');
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    await rename(temp, this.file);
    await fsyncPath(path.dirname(this.file));
  }
}

function matches(record: LedgerRecord, filter: RecordFilter): boolean {
  return (
    (filter.kind === undefined || record.kind === filter.kind) &&
    (filter.organization_id === undefined || record.organization_id === filter.organization_id) &&
    (filter.tenant === undefined || record.tenant === filter.tenant) &&
    (filter.status === undefined || record.status === filter.status) &&
    (filter.backup_filename === undefined || record.backup_filename === filter.backup_filename) &&
    (filter.backup_date === undefined || record.backup_date === filter.backup_date)
  );
}

function newestFirst(a: LedgerRecord, b: LedgerRecord): number {
  return b.created_at.localeCompare(a.created_at) || b.id - a.id;
}
