/**
 * `backup <tenant>`: the tenant's whole database, dumped by its engine (pg_dump, mariadb-dump,
 * SQLite online backup) and streamed into `tenant-databases/<tenant>_<YYYY-MM-DD_HH-mm-ss>.zip`
 * (time in the configured zone), or `<tenant>_<weekday>_backup.zip` with `rotate: 'weekday'`.
 *
 * Order, and what each failure leaves behind:
 * 1. Unknown tenant → ConfigError, nothing written. Preflight (tool present and recent enough,
 *    server reachable, password accepted) → ToolMissingError / ConnectionError: no archive is
 *    written, and the attempt is recorded `failed` in the ledger under the name it would have had
 *    (as an organization backup that cannot connect is).
 * 2. Under the operation lock `tenant-<name>`, through verified-archive.ts: a ledger record
 *    `in_progress`, the dump streamed into a temp file beside the final name, manifest, then
 *    verification (the tool exited 0, the dump is not empty, the file re-read), atomic rename,
 *    ledger `success`. Any failure removes the temp file and marks the record `failed` (redacted
 *    message); an older archive of the same name is untouched until the rename.
 * 3. Retention (`keepLast` / configured `retention`) after a success, never for safety backups.
 *    A retention failure does not undo the backup: it is reported in `prune_error`.
 *
 * Timestamped names have a one-second resolution: when the name is already taken (two backups in
 * the same second), the backup waits for the clock to move on, and refuses with a clear error if
 * it does not within ~1.5 s (a frozen clock). An existing archive is never overwritten silently.
 */
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type BackupType, type Manifest } from '../archive/manifest.js';
import { loadDatabaseEngine } from '../engines/registry.js';
import type { DatabaseEngine, DatabaseTarget, PreflightInfo } from '../engines/types.js';
import { OperationError, asTypedError, describeCause, type TenantBackupError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { localDate, localWeekday, type Weekday } from '../retention/clock.js';
import { assertTenantName, TENANT_DATABASES_AREA, tenantArchiveName, tenantTimestampedName, tenantWeekdayName, type CipherSuffix } from '../retention/naming.js';
import { cipherSuffixOf, writeCipherOf } from '../cipher/settings.js';
import { formatBytes, formatElapsed } from '../format.js';
import { TOOL_VERSION } from '../version.js';
import type { Deps } from './context.js';
import { connectionSecrets } from '../engines/connection.js';
import { ProgressMeter } from './progress-meter.js';
import { pruneTenantLocked } from './prune.js';
import { repairInterruptedRestore } from './restore-tenant-recovery.js';
import { tenantConnectionConfig, tenantLockKey } from './targets.js';
import { recordFailedStart, writeVerifiedArchive, type ArchiveSpec } from './verified-archive.js';
import { assertSameStore } from './archive-ownership.js';

export interface TenantBackupOptions {
  tenant: string;
  userId?: string | null;
  /** `weekday`: `<tenant>_<weekday>_backup.zip`, replacing last week's archive of that day. */
  rotate?: 'weekday';
  /** Retention after the backup (overrides the configured keepLast). */
  keepLast?: number;
  backupType?: BackupType;
  /** Aborting stops the dump; the temp file is removed and the record marked failed. */
  signal?: AbortSignal;
  /** PATH for the dump tools (default: the process's PATH). */
  searchPath?: string;
}

export interface TenantBackupResult {
  action: 'created';
  record: LedgerRecord;
  engine: DatabaseEngine['name'];
  server_version: string;
  dump_tool: string;
  /** Uncompressed size of the dump entry. */
  dump_bytes: number;
  /** Backups removed by retention after this one. */
  pruned: LedgerRecord[];
  /** Set when retention failed (the backup itself succeeded). */
  prune_error?: string;
}

/** What a run needs once the tenant has passed preflight (shared with restore's safety backup). */
export interface PreparedTenant {
  engine: DatabaseEngine;
  target: DatabaseTarget;
  preflight: PreflightInfo;
}

/** Looks the tenant up and runs the engine's preflight; nothing is written. */
export async function prepareTenant(
  deps: Pick<Deps, 'config'>,
  tenant: string,
  purpose: 'backup' | 'restore',
  options: { searchPath?: string; signal?: AbortSignal } = {},
): Promise<PreparedTenant> {
  const config = tenantConnectionConfig(deps.config, tenant);
  assertTenantName(tenant);
  const target: DatabaseTarget = { tenant, client: config.client, connection: config.connection };
  const engine = await loadDatabaseEngine(config.client);
  try {
    const preflight = await engine.preflight(target, purpose, options);
    return { engine, target, preflight };
  } catch (error) {
    throw asTypedError(error, connectionSecrets(config.connection));
  }
}

export async function backupTenant(deps: Deps, options: TenantBackupOptions): Promise<TenantBackupResult> {
  try {
    // Bad input (unknown tenant, invalid name) is refused before anything starts.
    tenantConnectionConfig(deps.config, options.tenant);
    assertTenantName(options.tenant);
    // The preflight (tool, server, password: ~0.1–0.2 s) runs while the lock is taken; it is awaited
    // under the lock before anything is written. prepareTenant's errors are typed and redacted already.
    const preflight = prepareTenant(deps, options.tenant, 'backup', options).catch(async (error: unknown) => {
      throw await recordUnstartedBackup(deps, options, asTypedError(error, []));
    });
    preflight.catch(() => undefined); // awaited under the lock, or below
    const lockKey = tenantLockKey(options.tenant);
    try {
      return await deps.ledger.withLock(lockKey, async () => {
        const prepared = await preflight;
        // A restore of this tenant killed midway is finished or undone before anything is dumped.
        await repairInterruptedRestore(deps, prepared, options);
        return backupTenantLocked(deps, options, lockKey, prepared);
      });
    } catch (error) {
      // A failed preflight is what the run reports (and records), also when the lock was busy:
      // as when the two ran one after the other.
      const failedPreflight = await preflight.then(
        () => undefined,
        (failure: unknown) => failure,
      );
      throw failedPreflight ?? error;
    }
  } finally {
    deps.progress.stop();
  }
}

/** The backup itself; the caller holds the tenant's operation lock `lockKey`. */
export async function backupTenantLocked(deps: Deps, options: TenantBackupOptions, lockKey: string, prepared: PreparedTenant): Promise<TenantBackupResult> {
  const { progress, config } = deps;
  const { engine, target, preflight } = prepared;
  const backupType = options.backupType ?? 'manual';
  options.signal?.throwIfAborted();

  // An unusable key is a configuration error, found before anything is recorded.
  const cipher = await writeCipherOf(config, options.tenant);
  const { name, startedAt } = await chooseName(deps, options, cipher.suffix);
  const weekday = localWeekday(startedAt, config.timezone);
  const spec: ArchiveSpec = {
    area: TENANT_DATABASES_AREA,
    name,
    record: tenantRecord(options, weekday, localDate(startedAt, config.timezone)),
    backupType,
    lockKey,
    secrets: connectionSecrets(target.connection),
    signal: options.signal,
    compressionLevel: config.compressionLevel,
    // The dump tool sets the pace, so the entry is checked (inflated again) while it is written,
    // in the CPU time the tool leaves idle; the verification then re-reads the file's bytes and layout.
    checkWhileWriting: true,
    cipher,
  };
  const { record: finished, result: dumpBytes } = await writeVerifiedArchive(deps, spec, async (writer) => {
    const meter = new ProgressMeter((bytes, seconds) => progress.update(`Tenant ${options.tenant}: ${formatBytes(bytes)} dumped, ${formatElapsed(seconds)} elapsed`));
    const [entry] = await Promise.all([writer.addEntry(engine.entryPath, meter), engine.dumpDatabase(target, meter, { signal: options.signal, searchPath: options.searchPath })]);
    if (entry.bytes === 0) throw new OperationError(`${preflight.toolVersion} exited successfully but produced no output for tenant "${options.tenant}".`);
    const manifest: Manifest & { dump_tool: string } = {
      format: ARCHIVE_FORMAT,
      format_version: ARCHIVE_FORMAT_VERSION,
      kind: 'database',
      engine: engine.name,
      server_version: preflight.serverVersion,
      tool_version: TOOL_VERSION,
      dump_tool: preflight.toolVersion,
      created_at: startedAt.toISOString(),
      day_of_week: weekday,
      backup_type: backupType,
      tenant: options.tenant,
      compression: { method: config.compressionLevel === 0 ? 'store' : 'deflate', level: config.compressionLevel },
      entries: [{ path: engine.entryPath, bytes: entry.bytes, sha256: entry.sha256 }],
    };
    return { manifest, result: entry.bytes };
  });

  const result: TenantBackupResult = {
    action: 'created',
    record: finished,
    engine: engine.name,
    server_version: preflight.serverVersion,
    dump_tool: preflight.toolVersion,
    dump_bytes: dumpBytes,
    pruned: [],
  };
  // Retention applies to timestamped, non-safety backups (rotation already bounds weekday ones).
  if (backupType !== 'pre_restore' && options.rotate !== 'weekday') {
    try {
      result.pruned = (await pruneTenantLocked(deps, options.tenant, { keepLast: options.keepLast })).removed;
    } catch (error) {
      result.prune_error = `Retention after the backup failed: ${describeCause(error)}`;
      progress.note(result.prune_error);
    }
  }
  return result;
}

/**
 * Records a backup whose preflight failed (see the header), under the name it would have had.
 * Returns the error.
 */
async function recordUnstartedBackup(deps: Deps, options: TenantBackupOptions, error: TenantBackupError): Promise<TenantBackupError> {
  const now = deps.clock.now();
  const weekday = localWeekday(now, deps.config.timezone);
  await recordFailedStart(
    deps,
    {
      area: TENANT_DATABASES_AREA,
      name: tenantArchiveName(options.tenant, options.rotate, now, deps.config.timezone, cipherSuffixOf(deps.config, options.tenant)),
      record: tenantRecord(options, weekday, localDate(now, deps.config.timezone)),
      backupType: options.backupType ?? 'manual',
    },
    error,
  );
  return error;
}

function tenantRecord(options: TenantBackupOptions, weekday: Weekday, backupDate: string): ArchiveSpec['record'] {
  return { kind: 'database', organization_id: null, tenant: options.tenant, user_id: options.userId ?? null, day_of_week: weekday, backup_date: backupDate };
}

/** The archive name, never one that is already taken (see the header). */
async function chooseName(deps: Deps, options: TenantBackupOptions, suffix: CipherSuffix): Promise<{ name: string; startedAt: Date }> {
  const { clock, config } = deps;
  if (options.rotate === 'weekday') {
    const startedAt = clock.now();
    const name = tenantWeekdayName(options.tenant, localWeekday(startedAt, config.timezone), suffix);
    // Servers sharing a database ledger must share the store: see assertSameStore.
    await assertSameStore(deps, TENANT_DATABASES_AREA, name, await deps.ledger.findEntries({ kind: 'database', tenant: options.tenant, backup_filename: name }));
    return { name, startedAt };
  }
  const deadline = Date.now() + 1_500;
  for (;;) {
    const startedAt = clock.now();
    const name = tenantTimestampedName(options.tenant, startedAt, config.timezone, suffix);
    if (!(await nameTaken(deps, name))) return { name, startedAt };
    if (Date.now() >= deadline) {
      throw new OperationError(
        `A backup named ${name} already exists (another backup of tenant "${options.tenant}" in the same second); refusing to overwrite it. Try again in a second.`,
        { details: { backup: name } },
      );
    }
    options.signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function nameTaken(deps: Deps, name: string): Promise<boolean> {
  if ((await deps.store.stat(TENANT_DATABASES_AREA, name)) !== null) return true;
  const records = await deps.ledger.find({ kind: 'database', backup_filename: name });
  return records.some((record) => record.status !== 'failed');
}
