/**
 * `backup --org <id>`: every row of one organization, read in one consistent snapshot, streamed
 * table by table into `organizations/org_<code>_<weekday>_backup.zip`.
 *
 * Safety: the archive is made through verified-archive.ts (temp file, verification, atomic rename
 * over last week's file, ledger record): until that rename, last week's archive and its record are
 * untouched, and a failure — connecting included — records a `failed` entry. Only one backup of an
 * organization runs at a time (operation lock `org-<id>`).
 */
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type BackupType, type Manifest } from '../archive/manifest.js';
import { NotFoundError, TenantBackupError, UsageError, asTypedError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { localDate, localWeekday, type Weekday } from '../retention/clock.js';
import { ORGANIZATIONS_AREA, organizationArchiveName, rotationSibling } from '../retention/naming.js';
import { cipherSuffixOf, writeCipherOf } from '../cipher/settings.js';
import { TOOL_VERSION } from '../version.js';
import type { Deps } from './context.js';
import { organizationLockKey } from './targets.js';
import { assertExactId, checkConditions } from './plan-check.js';
import { planOrganizationTables } from './plan-organization.js';
import { excludedReferenceWarnings } from './plan-reach.js';
import { assertArchiveNameIsOurs } from './archive-ownership.js';
import { connectionSecrets } from '../engines/connection.js';
import { abortSessionOn, organizationsConfig } from './organization-config.js';
import { exportTables } from './export-tables.js';
import { connectNow, type ConnectionSource } from './organization-run.js';
import { PendingArchive, backupFailure, isFailedAttempt, recordFailedStart } from './verified-archive.js';

export interface OrganizationBackupOptions {
  organizationId: string;
  userId?: string | null;
  backupType?: Extract<BackupType, 'manual' | 'auto_daily'>;
  /** Aborting stops the backup; the temp file is removed and the record marked failed. */
  signal?: AbortSignal;
  /**
   * Automatic backups honour an `auto_backup_enabled` column of the organizations table: when it
   * is false the backup is skipped before anything is written or recorded.
   */
  honourDisabledColumn?: boolean;
  /**
   * Tables exported at a time, each on its own connection to the same snapshot (default
   * DEFAULT_JOBS). Engines that cannot share a snapshot between connections use one.
   */
  jobs?: number;
}

/**
 * Two tables at a time: the database's COPY, our conversion and the compression of one table run
 * beside those of another, on a machine's second core (bench/PERFORMANCE.md, pair 1). More
 * helps only with more cores, on both sides.
 */
export const DEFAULT_JOBS = 2;
/** Connections one backup may open to the production database at once (`--jobs` above is refused). */
export const MAX_JOBS = 16;

/** Thrown (and caught by `auto`) when the organizations table disables automatic backups. */
export class DisabledInDatabase extends Error {
  constructor(readonly organizationId: string) {
    super(`Automatic backups are disabled for organization ${organizationId} (auto_backup_enabled is false in the organizations table).`);
  }
}

export interface TableSummary {
  table: string;
  rows: number;
  bytes: number;
}

export interface OrganizationBackupResult {
  action: 'created';
  record: LedgerRecord;
  organization: { id: string; name: string | null; code: string | null };
  tables: TableSummary[];
  /** The record of the archive this one replaced (same name: last week's, or an earlier one today), or null. */
  replaced: LedgerRecord | null;
  /** What the configuration leaves out that a restore will trip over (excluded tables referencing planned ones). */
  warnings: string[];
}

export async function backupOrganization(deps: Deps, options: OrganizationBackupOptions): Promise<OrganizationBackupResult> {
  jobsOf(options); // a wrong `jobs` is refused before anything is connected or recorded
  const lockKey = organizationLockKey(options.organizationId);
  // Connecting — the driver's import, TCP, authentication: ~0.1 s — need not wait for the lock:
  // it starts now and is awaited where the backup connects, so every error still comes in the
  // same order. A connection left unused (the lock is held elsewhere) is closed.
  const early = connectNow(deps);
  try {
    return await deps.ledger.withLock(lockKey, () => backupOrganizationLocked(deps, options, lockKey, early));
  } finally {
    early.dispose();
  }
}

/**
 * The backup itself; the caller holds the organization's operation lock. `connections`: where
 * its session and catalogue come from — a connection already under way (see backupOrganization),
 * an `auto --all` run's (organization-run.ts), or by default one of its own.
 */
export async function backupOrganizationLocked(deps: Deps, options: OrganizationBackupOptions, lockKey: string, connections?: ConnectionSource): Promise<OrganizationBackupResult> {
  const config = organizationsConfig(deps);
  const { clock, progress } = deps;
  const secrets = connectionSecrets(config.connection);
  const startedAt = clock.now();
  const weekday = localWeekday(startedAt, deps.config.timezone);
  const backupDate = localDate(startedAt, deps.config.timezone);
  options.signal?.throwIfAborted();

  // An unusable key is a configuration error, found before anything is recorded or connected.
  const cipher = await writeCipherOf(deps.config);
  const source = connections ?? connectNow(deps);
  const engine = await source.engine;
  progress.update(`Connecting to the shared database (${engine.name})…`);
  // An unreachable server or a refused password is a failed backup too: cron's failures must show
  // in the ledger and `status`, not only in a mail nobody reads.
  const unstarted = (error: unknown) => recordUnstartedBackup(deps, options, weekday, backupDate, asTypedError(error, secrets));
  const connection = await source.acquire().catch(async (error: unknown) => {
    throw await unstarted(error);
  });
  const { session } = connection;
  // Ctrl-C / SIGTERM end the session's connections: no wait on the server outlives the signal.
  const stopAborting = abortSessionOn(session, options.signal, 'Backup');
  let archive: PendingArchive | undefined;
  let failed = true;
  try {
    const { schema, serverVersion } = await connection.catalogue();
    const plans = planOrganizationTables(schema, config, session.dialect, options.organizationId);
    const warnings = excludedReferenceWarnings(schema, config, plans);

    const { organization, entries, tables } = await session.withSnapshot(
      async (reader, more) => {
        const found = await reader.findOrganization(config, options.organizationId);
        if (!found) throw NotFoundError.organization(options.organizationId, config.table);
        assertExactId(found, options.organizationId, config.table);
        if (options.honourDisabledColumn && found.autoBackupEnabled === false) throw new DisabledInDatabase(options.organizationId);
        // Before anything is written: a condition of organizations.include the database cannot run is a config error.
        await checkConditions(reader, plans);
        const archiveName = organizationArchiveName(found, weekday, cipher.suffix);
        await assertArchiveNameIsOurs(deps, archiveName, options.organizationId);
        archive = await PendingArchive.begin(deps, {
          area: ORGANIZATIONS_AREA,
          name: archiveName,
          ...recordOf(options, weekday, backupDate),
          lockKey,
          secrets,
          signal: options.signal,
          compressionLevel: deps.config.compressionLevel,
          cipher,
        });
        const exported = await exportTables([reader, ...more], archive.writer, plans, {
          signal: options.signal,
          sizes: more.length > 0 ? await reader.tableSizes?.() : undefined,
          onRows: throttled((plan, rows) => progress.update(`Organization ${options.organizationId}: ${plan.table} — ${rows.toLocaleString('en-US')} rows`)),
        });
        const written = exported.map((table) => table.entry);
        const summaries = exported.map((table) => table.summary);
        return { organization: found, entries: written, tables: summaries };
      },
      { readers: Math.min(jobsOf(options), Math.max(1, plans.length)), onWarning: (warning) => warnings.push(warning) },
    );

    const manifest: Manifest = {
      format: ARCHIVE_FORMAT,
      format_version: ARCHIVE_FORMAT_VERSION,
      kind: 'organization',
      engine: engine.name,
      server_version: serverVersion,
      tool_version: TOOL_VERSION,
      created_at: startedAt.toISOString(),
      day_of_week: weekday,
      backup_type: options.backupType ?? 'manual',
      organization: { id: options.organizationId, name: organization.name, code: organization.code },
      compression: { method: deps.config.compressionLevel === 0 ? 'store' : 'deflate', level: deps.config.compressionLevel },
      entries,
    };
    // The success record of the archive this one replaces (last week's, or today's earlier one), to say so.
    const name = organizationArchiveName(organization, weekday, cipher.suffix);
    const [replaced] = [
      ...(await deps.ledger.find({ kind: 'organization', backup_filename: name, status: 'success' })),
      ...(await deps.ledger.find({ kind: 'organization', backup_filename: rotationSibling(name)!, status: 'success' })),
    ].filter((record) => record.organization_id === options.organizationId);
    const finished = await archive!.commit(manifest);
    failed = false;
    return {
      action: 'created',
      record: finished,
      replaced: replaced ?? null,
      organization: { id: options.organizationId, name: organization.name, code: organization.code },
      tables,
      warnings,
    };
  } catch (error) {
    if (error instanceof DisabledInDatabase) {
      failed = false;
      throw error;
    }
    // Before the record was begun (the store could not be asked whether the file is ours: no S3
    // credentials; the connection lost while planning): a failed attempt is recorded all the same.
    throw archive ? await archive.fail(error) : await recordUnstartedBackup(deps, options, weekday, backupDate, backupFailure(error, secrets));
  } finally {
    stopAborting();
    progress.stop();
    await connection.release(failed);
  }
}

/** At most one progress update per 100 ms: rendering one costs more than a chunk of rows. */
function throttled<A extends unknown[]>(update: (...args: A) => void): (...args: A) => void {
  let last = 0;
  return (...args) => {
    const now = performance.now();
    if (now - last < 100) return;
    last = now;
    update(...args);
  };
}

/** Tables exported at a time: `--jobs` (1 to MAX_JOBS), else DEFAULT_JOBS (see OrganizationBackupOptions.jobs). */
function jobsOf(options: OrganizationBackupOptions): number {
  const jobs = options.jobs ?? DEFAULT_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) throw new UsageError(`jobs must be an integer from 1 to ${MAX_JOBS}, not ${String(jobs)}.`);
  return jobs;
}

/** The ledger record of this backup, and its type: the same for a run and for an attempt that never started. */
function recordOf(options: OrganizationBackupOptions, weekday: Weekday, backupDate: string) {
  return {
    record: {
      kind: 'organization' as const,
      organization_id: options.organizationId,
      tenant: null,
      user_id: options.userId ?? null,
      day_of_week: weekday,
      backup_date: backupDate,
    },
    backupType: options.backupType ?? ('manual' as const),
  };
}

/**
 * Records a backup that failed before its record was begun (connecting failed, the store could not
 * be asked about the archive's name, …) when that is a failed attempt: under the name of the
 * organization's last archive for this weekday, else its id-based name. Returns the error.
 */
async function recordUnstartedBackup(deps: Deps, options: OrganizationBackupOptions, weekday: Weekday, backupDate: string, error: TenantBackupError): Promise<TenantBackupError> {
  if (!isFailedAttempt(error)) return error;
  const previous = (await deps.ledger.find({ kind: 'organization', organization_id: options.organizationId })).find((r) => r.day_of_week === weekday);
  await recordFailedStart(
    deps,
    {
      area: ORGANIZATIONS_AREA,
      name: previous?.backup_filename ?? organizationArchiveName({ id: options.organizationId }, weekday, cipherSuffixOf(deps.config)),
      ...recordOf(options, weekday, backupDate),
    },
    error,
  );
  return error;
}
