/**
 * The embedded ledger, format 2: human-readable JSON whose cost follows one owner's history, not
 * the whole ledger's. `<storage>/ledger.json` is a small head (format, host, next id); each
 * organization and each tenant has its own file of records under `<storage>/ledger/` (layout in
 * json/files.ts, file format in json/owner-file.ts). `auto`'s skip path reads the head and one
 * owner's file; a backup rewrites its owner's file, never the others'.
 *
 * Writes are serialized by a kernel file lock (`locks/.ledger-write.lck`, file-lock.ts) and each
 * file is replaced atomically; reads take no lock. Operation locks (`withLock`) are kernel locks
 * too, and every `in_progress` record has a run lock its process holds until it finishes: a
 * record whose run lock is free belongs to a process that ended (`recoverInterrupted`) — no pid,
 * no clock is ever consulted.
 *
 * One machine: file locks are only as good as the file system's, so the JSON ledger refuses a
 * storage folder on a file system that several machines share (NFS, SMB, …) and a ledger whose
 * head names another host. Several servers use the database ledger (database.ts).
 *
 * A format-1 ledger (one `ledger.json` holding everything) is migrated on first use (json/migrate-v1.ts).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { DailySlotTakenError, NotFoundError, UsageError } from '../errors.js';
import type { Clock, ZonedDay } from '../retention/clock.js';
import { DEFAULT_HISTORY_POLICY, recordsToForget, type HistoryPolicy } from '../retention/history.js';
import { StoreGuard } from '../store/safety.js';
import { lockFile, probeLockFile, takeNewRunLock, type HeldLock } from './file-lock.js';
import { hostIdentity } from './host.js';
import { LEDGER_FILE_NAME, LedgerPaths, serializeHead, writeLedgerFile } from './json/files.js';
import { writeDayCache } from './json/day-cache.js';
import { recoverSuspect, type Suspect } from './json/recover.js';
import { JsonLedgerStore } from './json/store.js';
import { newestFirst, ownerName, ownerOfRecord, type OwnerDoc } from './json/owner-file.js';
import { assertOutcome, matchesFilter } from './records.js';
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
} from './types.js';

export { LEDGER_FILE_NAME };

const OPERATION_WAIT_MS = 60_000;
/** Ids whose owner is remembered (the most recent ones). */
const REMEMBERED_IDS = 100_000;

export interface JsonLedgerOptions {
  /** The history policy (`ledger.keep`); its failure limit applies whenever an owner's file is written. */
  keep?: HistoryPolicy;
  /** The host name recorded and checked (default: hostIdentity()). */
  host?: string;
}

export class JsonFileLedger implements Ledger {
  /** The head, `<storage>/ledger.json`. */
  readonly file: string;
  readonly paths: LedgerPaths;
  private readonly files: JsonLedgerStore;
  private readonly ownerOfId = new Map<RecordId, LedgerOwner>();
  private readonly runLocks = new Map<RecordId, HeldLock>();

  constructor(
    storageDir: string,
    private readonly clock: Clock,
    /** The store's ownership check (shared with the LocalStore of the same Deps). */
    guard: StoreGuard = new StoreGuard(storageDir),
    options: JsonLedgerOptions = {},
  ) {
    this.paths = new LedgerPaths(storageDir);
    this.file = this.paths.head;
    this.files = new JsonLedgerStore(this.paths, clock, guard, options.host ?? hostIdentity(), options.keep ?? DEFAULT_HISTORY_POLICY);
  }

  async begin(record: NewRecord, options: BeginOptions = {}): Promise<LedgerRecord> {
    const owner = ownerOfRecord(record);
    if (!owner) throw new UsageError('A ledger record needs its organization_id (organizations) or tenant (tenant databases).');
    this.paths.owner(owner);
    await this.files.ensureWritable();
    return this.files.write(async () => {
      const doc = await this.files.readOwnerFresh(owner);
      if (options.backupType === 'auto_daily') {
        const taken = doc.records.find(
          (r) => r.backup_date === record.backup_date && (r.status === 'success' || r.status === 'in_progress') && doc.meta[String(r.id)]?.backup_type === 'auto_daily',
        );
        if (taken) throw new DailySlotTakenError(ownerName(owner), record.backup_date, taken);
      }
      const head = await this.files.readHeadFresh();
      const id = head.next_id;
      await writeLedgerFile(this.paths, this.paths.head, serializeHead({ ...head, next_id: id + 1 }));
      await this.files.indexName(record.kind, record.backup_filename, ownerName(owner));
      // The run's lock first, then its file, then the record: an `in_progress` record that
      // anyone can see always has a run lock that tells whether its process lives.
      await mkdir(this.paths.runs, { recursive: true, mode: 0o700 });
      const runLock = await takeNewRunLock(this.paths.runLock(id));
      try {
        const now = this.clock.now().toISOString();
        const run = { pid: process.pid, host: this.files.host, lock: options.lockKey ?? null, started_at: now };
        await writeLedgerFile(this.paths, this.paths.runInfo(id), `${JSON.stringify({ id, kind: owner.kind, owner: ownerName(owner), ...run })}\n`);
        const created: LedgerRecord = { id, ...record, backup_size: 0, sha256: null, status: 'in_progress', error_message: null, created_at: now, updated_at: now };
        doc.records.push(created);
        doc.meta[String(id)] = { ...(options.backupType ? { backup_type: options.backupType } : {}), run };
        await this.files.writeOwner(doc);
        this.runLocks.set(id, runLock);
        this.rememberOwner(id, owner);
        return { ...created };
      } catch (error) {
        await rm(this.paths.runInfo(id), { force: true }).catch(() => undefined);
        await runLock.release({ remove: true });
        throw error;
      }
    });
  }

  async finish(id: RecordId, outcome: Outcome): Promise<LedgerRecord> {
    assertOutcome(outcome);
    const finished = await this.changeRecord(id, (record, doc) => {
      record.status = outcome.status;
      record.updated_at = this.clock.now().toISOString();
      if (outcome.status === 'success') {
        record.backup_size = outcome.backup_size;
        record.sha256 = outcome.sha256;
        record.error_message = null;
        // The committed file replaced the archive that had this name before: so does its record.
        // Failed attempts stay (the history policy forgets them after ledger.keep.failedDays).
        const replaced = doc.records.filter((r) => r.id !== id && r.status === 'success' && r.backup_filename === record.backup_filename);
        for (const old of replaced) delete doc.meta[String(old.id)];
        doc.records = doc.records.filter((r) => !replaced.includes(r));
      } else {
        record.error_message = outcome.error_message;
      }
      const meta = doc.meta[String(id)];
      if (meta) delete meta.run;
    });
    await this.endRun(id);
    return finished;
  }

  async annotate(id: RecordId, note: string): Promise<LedgerRecord> {
    return this.changeRecord(id, (record) => {
      record.error_message = record.error_message ? `${record.error_message}; ${note}` : note;
    });
  }

  async remove(id: RecordId): Promise<void> {
    const owner = await this.ownerOf(id);
    if (!owner) return;
    await this.files.ensureWritable();
    await this.files.write(async () => {
      const doc = await this.files.readOwnerFresh(owner);
      if (!doc.records.some((r) => r.id === id)) return;
      doc.records = doc.records.filter((r) => r.id !== id);
      delete doc.meta[String(id)];
      await this.files.writeOwner(doc);
    });
    await this.endRun(id);
  }

  async find(filter: RecordFilter = {}): Promise<LedgerRecord[]> {
    return (await this.findEntries(filter)).map((entry) => entry.record);
  }

  async findEntries(filter: RecordFilter = {}): Promise<LedgerEntry[]> {
    await this.files.ensureReadable();
    const entries: LedgerEntry[] = [];
    const owners = await this.files.ownersFor(filter);
    for (const owner of owners) {
      const doc = await this.files.readOwner(owner);
      if (doc) entries.push(...this.entriesOf(doc, filter, true));
    }
    return owners.length > 1 ? entries.sort((a, b) => newestFirst(a.record, b.record)) : entries;
  }

  async *scan(filter: RecordFilter = {}): AsyncGenerator<LedgerEntry> {
    await this.files.ensureReadable();
    const owners = await this.files.ownersFor(filter);
    const batches = async function* (this: JsonFileLedger) {
      for (const owner of owners) {
        const doc = await this.files.readOwner(owner, { cache: false });
        if (doc) yield this.entriesOf(doc, filter, false);
      }
    }.call(this);
    // Loaded here: readline and the temp-file merge are for listings, not for `auto`'s start-up.
    const { mergeNewestFirst } = await import('./json/merge.js');
    yield* mergeNewestFirst(batches);
  }

  async owners(): Promise<LedgerOwner[]> {
    await this.files.ensureReadable();
    return this.files.owners();
  }

  async backupTypeOf(id: RecordId) {
    const owner = await this.ownerOf(id);
    const doc = owner ? await this.files.readOwner(owner) : null;
    return doc?.meta[String(id)]?.backup_type ?? null;
  }

  async recoverInterrupted(): Promise<LedgerRecord[]> {
    await this.files.ensureReadable();
    // A first look without the write lock (`auto`'s start): runs whose lock looks free. A probe
    // takes a run lock for an instant; begin retries its new lock for that instant (takeNewRunLock).
    const names = await readdir(this.paths.runs).catch(() => [] as string[]);
    const suspects: Suspect[] = [];
    for (const name of names) {
      const match = /^(\d+)\.(json|lck)$/.exec(name);
      if (!match) continue;
      const id = Number(match[1]);
      if (this.runLocks.has(id) || (match[2] === 'lck' && names.includes(`${id}.json`))) continue;
      const lockOnly = match[2] === 'lck';
      const state = await probeLockFile(this.paths.runLock(id));
      if (lockOnly ? state === false : state !== true) suspects.push({ id, lockOnly });
    }
    // Another host's runs cannot be judged from here (and that host is refused anyway).
    if (suspects.length === 0 || (await this.files.writeProblem())) return [];
    await this.files.ensureWritable();
    const recovered: LedgerRecord[] = [];
    // Judged again under the write lock (json/recover.ts).
    await this.files.write(async () => {
      for (const suspect of suspects) {
        const record = await recoverSuspect(
          this.files,
          this.paths,
          suspect,
          (id) => this.runLocks.has(id),
          () => this.clock.now().toISOString(),
        );
        if (record) recovered.push(record);
      }
    });
    return recovered;
  }

  async getOrganizationSettings(organizationId: string): Promise<OrganizationSettings> {
    return (await this.dayOfOrganization(organizationId, '')).settings;
  }

  async dayOfOrganization(organizationId: string, backupDate: string): Promise<OrganizationDay> {
    await this.files.ensureReadable();
    return this.dayOf(await this.files.readOwner({ kind: 'organization', organization_id: organizationId }), backupDate);
  }

  async organizationDays(backupDate: string): Promise<Map<string, OrganizationDay | null>> {
    await this.files.ensureReadable();
    const days = new Map<string, OrganizationDay | null>();
    const owners = (await this.files.owners()).filter((owner) => owner.kind === 'organization');
    // A few files read at once (the disk's latency overlaps; memory stays bounded). A damaged file is null.
    for (let i = 0; i < owners.length; i += 16) {
      await Promise.all(
        owners.slice(i, i + 16).map(async (owner) => {
          const doc = await this.files.readOwner(owner, { cache: false }).catch(() => undefined);
          if (owner.kind === 'organization' && doc !== null) days.set(owner.organization_id, doc ? this.dayOf(doc, backupDate) : null);
        }),
      );
    }
    return days;
  }

  async setOrganizationSettings(organizationId: string, patch: { auto_backup_enabled: boolean }): Promise<OrganizationSettings> {
    const owner: LedgerOwner = { kind: 'organization', organization_id: organizationId };
    this.paths.owner(owner);
    await this.files.ensureWritable();
    return this.files.write(async () => {
      const doc = await this.files.readOwnerFresh(owner);
      doc.settings = { auto_backup_enabled: patch.auto_backup_enabled, updated_at: this.clock.now().toISOString() };
      await this.files.writeOwner(doc);
      return { ...doc.settings };
    });
  }

  async withLock<T>(key: string, fn: () => Promise<T>, options: { wait?: boolean } = {}): Promise<T> {
    const file = this.paths.operationLock(key);
    await this.files.ensureWritable();
    await mkdir(this.paths.locks, { recursive: true, mode: 0o700 });
    const held = await lockFile(file, { waitMs: options.wait ? OPERATION_WAIT_MS : 0, describe: `the lock ${key}` });
    try {
      return await fn();
    } finally {
      await held.release();
    }
  }

  async pruneHistory(options: HistoryPruneOptions): Promise<HistoryPruneResult> {
    if (options.dryRun) await this.files.ensureReadable();
    else await this.files.ensureWritable();
    const result: HistoryPruneResult = { failures: 0, missing_archives: 0 };
    const now = this.clock.now();
    for (const owner of options.owner ? [options.owner] : await this.owners()) {
      const doc = await this.files.readOwner(owner, { cache: false });
      if (!doc) continue;
      const missing = new Set<RecordId>();
      for (const entry of this.entriesOf(doc, { status: 'success' }, false)) {
        if ((await options.archiveExists(entry)) === false) missing.add(entry.record.id);
      }
      const doomed = new Set(recordsToForget(doc.records, options.policy, now, (record) => !missing.has(record.id)).map((r) => r.id));
      if (doomed.size === 0) continue;
      for (const record of doc.records) if (doomed.has(record.id)) result[record.status === 'failed' ? 'failures' : 'missing_archives'] += 1;
      if (options.dryRun) continue;
      await this.files.write(async () => {
        const fresh = await this.files.readOwnerFresh(owner);
        const gone = fresh.records.filter((r) => doomed.has(r.id) && r.status !== 'in_progress');
        fresh.records = fresh.records.filter((r) => !gone.includes(r));
        for (const record of gone) delete fresh.meta[String(record.id)];
        await this.files.writeOwner(fresh);
        await this.files.unindexNames(gone, fresh);
      });
    }
    return result;
  }

  /**
   * Keeps today's bounds for `auto`'s nothing-to-do path (json/day-cache.ts); only on a ledger this
   * process may write (a refused host changes nothing, not even a cache). Never throws.
   */
  async cacheDay(day: ZonedDay): Promise<void> {
    if ((await this.files.writeProblem().catch(() => true)) === null) await writeDayCache(this.paths.storageDir, day);
  }

  async close(): Promise<void> {
    // Nothing is held open between calls; run locks belong to their runs (finish releases them).
  }

  private dayOf(doc: OwnerDoc | null, backupDate: string): OrganizationDay {
    return {
      settings: doc?.settings ? { ...doc.settings } : { auto_backup_enabled: true, updated_at: null },
      successes: doc ? this.entriesOf(doc, { status: 'success', backup_date: backupDate }, true) : [],
    };
  }

  private entriesOf(doc: OwnerDoc, filter: RecordFilter, remember: boolean): LedgerEntry[] {
    const entries: LedgerEntry[] = [];
    for (const record of doc.records) {
      if (!matchesFilter(record, filter)) continue;
      if (remember) this.rememberOwner(record.id, doc.owner);
      entries.push({ record: { ...record }, backup_type: doc.meta[String(record.id)]?.backup_type ?? null, host: this.files.host });
    }
    return entries;
  }

  /**
   * Which owner an id belongs to, for the calls that take only an id (finish, annotate, remove,
   * backupTypeOf). Bounded: a walk over a million records must not keep a million entries.
   */
  private rememberOwner(id: RecordId, owner: LedgerOwner): void {
    if (this.ownerOfId.size >= REMEMBERED_IDS) this.ownerOfId.clear();
    this.ownerOfId.set(id, owner);
  }

  /** Changes one record under the write lock; returns a copy of it. */
  private async changeRecord(id: RecordId, change: (record: LedgerRecord, doc: OwnerDoc) => void): Promise<LedgerRecord> {
    const owner = await this.ownerOf(id);
    const missing = () => new NotFoundError(`Ledger record ${id} does not exist (was it deleted meanwhile?).`);
    if (!owner) throw missing();
    await this.files.ensureWritable();
    return this.files.write(async () => {
      const doc = await this.files.readOwnerFresh(owner);
      const record = doc.records.find((r) => r.id === id);
      if (!record) throw missing();
      change(record, doc);
      await this.files.writeOwner(doc);
      return { ...record };
    });
  }

  /** After finish/remove: the run's file and lock go (the lock released if this process held it). */
  private async endRun(id: RecordId): Promise<void> {
    await rm(this.paths.runInfo(id), { force: true }).catch(() => undefined);
    const held = this.runLocks.get(id);
    this.runLocks.delete(id);
    if (held) await held.release({ remove: true });
  }

  private async ownerOf(id: RecordId): Promise<LedgerOwner | null> {
    const known = this.ownerOfId.get(id) ?? (await this.files.readRunInfo(id))?.owner;
    if (known) return known;
    // A record this instance has not seen: look in every owner's file (rare: ids come from find).
    for (const owner of await this.files.owners()) {
      const doc = await this.files.readOwner(owner, { cache: false });
      if (doc?.records.some((r) => r.id === id)) {
        this.rememberOwner(id, owner);
        return owner;
      }
    }
    return null;
  }
}
