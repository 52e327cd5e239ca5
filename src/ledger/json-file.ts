/**
 * The embedded ledger: one JSON file (`<storage>/ledger.json`, 0600). Every change runs under a
 * cross-process lock and is written atomically (temp file, fsync, rename, fsync folder), so many
 * processes can record at once without losing or tearing a record. A file that does not parse is
 * never overwritten: it is reported (LedgerCorruptError) and left for a human.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import path from 'node:path';
import type { z as Zod } from 'zod';
import { LedgerCorruptError, NotFoundError, OperationError, describeCause, describeJsonError } from '../errors.js';
import { WEEKDAYS } from '../retention/clock.js';
import type { Clock } from '../retention/clock.js';
import { fsyncPath, isProcessAlive, removeDeadTemps } from '../store/local.js';
import { createExclusive, readFileNoFollow, StoreGuard } from '../store/safety.js';
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

/**
 * The file's schema (zod), as a function of `z`: reads validate with `fastParseLedger` below
 * (zod-free, same result), and zod is loaded only when that check declines, to word the error.
 * Start-up cost matters here: `auto` reads the ledger on every login. KEEP THE TWO IN STEP.
 * @internal Exported for test/unit/startup-fast-paths.test.ts.
 */
export function defineLedgerSchema(z: typeof Zod) {
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

  return z.object({
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
}

type LedgerFile = Zod.infer<ReturnType<typeof defineLedgerSchema>>;

let zodLedgerSchema: ReturnType<typeof defineLedgerSchema> | undefined;
function ledgerSchema(): ReturnType<typeof defineLedgerSchema> {
  zodLedgerSchema ??= defineLedgerSchema((createRequire(import.meta.url)('zod') as typeof import('zod')).z);
  return zodLedgerSchema;
}

const RECORD_KEYS = [
  'id', 'kind', 'organization_id', 'tenant', 'user_id', 'day_of_week', 'backup_filename', 'backup_path',
  'backup_size', 'sha256', 'status', 'error_message', 'backup_date', 'created_at', 'updated_at',
] as const;
const KINDS: readonly string[] = ['organization', 'database'];
const STATUSES: readonly string[] = ['success', 'failed', 'in_progress'];
const BACKUP_TYPES: readonly string[] = ['manual', 'auto_daily', 'pre_restore'];
const DAYS: readonly string[] = WEEKDAYS;

/**
 * The zod-free check of a ledger file: accepts only what the schema above certainly accepts and
 * returns what zod would (keys in schema order, defaults filled, fresh objects); anything else —
 * an unknown key (zod would strip or refuse it), a wrong type — gives undefined and zod decides.
 * @internal Exported for test/unit/startup-fast-paths.test.ts.
 */
export function fastParseLedger(value: unknown): LedgerFile | undefined {
  type Plain = Record<string, unknown>;
  const isObject = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
  const onlyKeys = (v: Plain, keys: readonly string[]) => Object.keys(v).every((key) => keys.includes(key) && v[key] !== undefined);
  const int = (v: unknown, min: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  const str = (v: unknown) => typeof v === 'string';
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  /** A record keyed by string (`__proto__` declined), its values checked and copied by `each`. */
  const map = <T>(v: unknown, each: (item: unknown) => T | undefined): Record<string, T> | undefined => {
    if (v === undefined) return {};
    if (!isObject(v)) return undefined;
    const out: Record<string, T> = {};
    for (const [key, item] of Object.entries(v)) {
      const parsed = key === '__proto__' ? undefined : each(item);
      if (parsed === undefined) return undefined;
      out[key] = parsed;
    }
    return out;
  };

  if (!isObject(value) || !onlyKeys(value, ['format', 'version', 'next_id', 'records', 'runs', 'record_meta', 'organizations'])) return undefined;
  if (value.format !== LEDGER_FORMAT || value.version !== 1 || !int(value.next_id, 1) || !Array.isArray(value.records)) return undefined;
  const records: LedgerRecord[] = [];
  for (const r of value.records as unknown[]) {
    if (!isObject(r) || !onlyKeys(r, RECORD_KEYS)) return undefined;
    const ok =
      int(r.id, 1) && KINDS.includes(r.kind as string) && strOrNull(r.organization_id) && strOrNull(r.tenant) && strOrNull(r.user_id) &&
      DAYS.includes(r.day_of_week as string) && str(r.backup_filename) && str(r.backup_path) && int(r.backup_size, 0) && strOrNull(r.sha256) &&
      STATUSES.includes(r.status as string) && strOrNull(r.error_message) && str(r.backup_date) && str(r.created_at) && str(r.updated_at);
    if (!ok) return undefined;
    const copy: Plain = {};
    for (const key of RECORD_KEYS) copy[key] = r[key];
    records.push(copy as unknown as LedgerRecord);
  }
  const runs = map((value as Plain).runs, (run) =>
    isObject(run) && onlyKeys(run, ['pid', 'host', 'lock', 'started_at']) && int(run.pid, Number.MIN_SAFE_INTEGER) && str(run.host) && strOrNull(run.lock) && str(run.started_at)
      ? { pid: run.pid as number, host: run.host as string, lock: run.lock as string | null, started_at: run.started_at as string }
      : undefined,
  );
  const recordMeta = map((value as Plain).record_meta, (meta) =>
    isObject(meta) && onlyKeys(meta, ['backup_type']) && BACKUP_TYPES.includes(meta.backup_type as string)
      ? { backup_type: meta.backup_type as 'manual' | 'auto_daily' | 'pre_restore' }
      : undefined,
  );
  const organizations = map((value as Plain).organizations, (settings) =>
    isObject(settings) && onlyKeys(settings, ['auto_backup_enabled', 'updated_at']) && typeof settings.auto_backup_enabled === 'boolean' && strOrNull(settings.updated_at)
      ? { auto_backup_enabled: settings.auto_backup_enabled, updated_at: settings.updated_at as string | null }
      : undefined,
  );
  if (!runs || !recordMeta || !organizations) return undefined;
  return { format: LEDGER_FORMAT, version: 1, next_id: value.next_id as number, records, runs, record_meta: recordMeta, organizations };
}

/** Locks (proper-lockfile) are loaded on first need: reading the ledger takes none. */
let locksModule: Promise<typeof import('./locks.js')> | undefined;
const locks = () => (locksModule ??= import('./locks.js'));

function emptyLedger(): LedgerFile {
  return { format: LEDGER_FORMAT, version: 1, next_id: 1, records: [], runs: {}, record_meta: {}, organizations: {} };
}

export class JsonFileLedger implements Ledger {
  readonly file: string;
  private readonly locksDir: string;

  constructor(
    storageDir: string,
    private readonly clock: Clock,
    /** The store's ownership check (shared with the LocalStore of the same Deps). */
    private readonly guard: StoreGuard = new StoreGuard(storageDir),
  ) {
    this.file = path.join(storageDir, LEDGER_FILE_NAME);
    this.locksDir = path.join(storageDir, 'locks');
  }

  async begin(record: NewRecord, options: BeginOptions = {}): Promise<LedgerRecord> {
    const { lockPathFor } = await locks();
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
        // Only the same owner's records: another owner's record of that path is never dropped silently.
        const replaced = data.records.filter(
          (r) =>
            r.id !== id &&
            r.kind === record.kind &&
            r.backup_path === record.backup_path &&
            r.organization_id === record.organization_id &&
            r.tenant === record.tenant,
        );
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

  async annotate(id: RecordId, note: string): Promise<LedgerRecord> {
    return this.mutate((data) => {
      const record = data.records.find((r) => r.id === id);
      if (!record) throw new NotFoundError(`Ledger record ${id} does not exist (was it deleted meanwhile?).`);
      record.error_message = record.error_message ? `${record.error_message}; ${note}` : note;
      return { ...record };
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
    await this.guard.check();
    const { lockPathFor, withFileLock } = await locks();
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
      const lockGone = run.lock !== null && !(await (await locks()).isLockHeld(run.lock));
      if (deadHere || lockGone) ids.add(record.id);
    }
    return ids;
  }

  /**
   * Reads the ledger without locking: writes are atomic renames, so a read sees a whole version.
   * Never through a symbolic link, and an error never quotes the file's contents.
   */
  private async read(): Promise<LedgerFile> {
    await this.guard.check();
    const text = await readFileNoFollow(this.file);
    if (text === null) return emptyLedger();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new LedgerCorruptError(this.file, new Error(describeJsonError(error, text)));
    }
    const fast = fastParseLedger(parsed);
    if (fast) return fast;
    const result = ledgerSchema().safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const at = issue?.path.map(String).join('.').slice(0, 200) || 'top level';
      throw new LedgerCorruptError(this.file, new Error(`${at}: ${issue?.message}`));
    }
    return result.data;
  }

  /** Read-modify-write under the ledger lock; `change` edits `data` in place and returns a result. */
  private async mutate<T>(change: (data: LedgerFile) => T | Promise<T>): Promise<T> {
    await this.guard.check();
    const dir = path.dirname(this.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { withFileLock } = await locks();
    return withFileLock(path.join(dir, `${LEDGER_FILE_NAME}.lock`), { wait: true, waitMs: 120_000 }, async () => {
      const data = await this.read();
      const result = await change(data);
      await removeDeadTemps(dir);
      await this.write(data);
      return result;
    });
  }

  /**
   * Temp file (created exclusively, never through a link), fsync, rename, fsync the folder. Any
   * failure removes the temp file and is reported as an OperationError naming the ledger (a full
   * disk says so): the ledger itself is then unchanged.
   */
  private async write(data: LedgerFile): Promise<void> {
    const temp = path.join(path.dirname(this.file), `.${LEDGER_FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let created = false;
    let renamed = false;
    try {
      const handle = await createExclusive(temp, constants.O_WRONLY);
      created = true;
      try {
        await handle.writeFile(`${JSON.stringify(data, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.file);
      created = false;
      renamed = true;
      await fsyncPath(path.dirname(this.file));
    } catch (error) {
      if (created) await rm(temp, { force: true }).catch(() => undefined);
      const outcome = renamed ? 'The new version was written but may not survive a crash.' : 'The ledger was left as it was.';
      throw new OperationError(`Could not write the ledger ${this.file}: ${describeCause(error)}. ${outcome}`, {
        cause: error,
        details: { file: this.file },
      });
    }
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
