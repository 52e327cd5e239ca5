/**
 * `restore <tenant> <backup> [--yes] [--dry-run] [--no-safety-backup]`: replaces the tenant's
 * database with an archive's dump.
 *
 * Never leave the tenant with nothing:
 * 1. Before anything else the archive is opened and checked: kind `database`, made for THIS
 *    tenant (else ForbiddenTargetError), by the engine of the tenant's configured client, with
 *    the entry that engine loads, every sha256 matching. Then the engine's preflight (tools,
 *    server reachable, password). A dry-run stops here and reports what would happen.
 * 2. Under the tenant's operation lock: a safety backup of the current database (a normal
 *    timestamped backup, `backup_type: pre_restore` in the ledger and its manifest), unless
 *    `safetyBackup: false`.
 * 3. The load, which makes the database exactly the archive's: objects created after the backup do
 *    not survive (they are in the safety backup). PostgreSQL empties the schemas and loads in ONE
 *    transaction, SQLite copies pages in one transaction: a failure leaves the database as it was
 *    and the error says so. MySQL/MariaDB cannot (DDL commits implicitly): the database is
 *    emptied (only when a safety backup exists; without one the dump replaces its own objects in
 *    place and later objects stay), then loaded; on failure the safety backup is loaded back
 *    automatically into the emptied database, and the error reports both outcomes. Every failure
 *    message names the safety backup.
 * The database itself is never dropped or recreated: its objects are replaced inside it, so its
 * owner, grants and settings stay.
 *
 * Killed at any moment (SIGKILL, power loss), a MySQL/MariaDB restore is finished or undone by the
 * next backup or restore of the tenant, first thing (restore-tenant-recovery.ts). A dump is
 * untrusted: the engines load it so that it can run no client meta-command (dump-postgres.ts,
 * dump-mysql.ts); such a dump is refused as an ArchiveError (exit 5) and rolled back like any
 * failed load.
 */
import { pipeline, type Readable } from 'node:stream';
import { formatBytes, formatElapsed } from '../format.js';
import { ProgressMeter } from './progress-meter.js';
import { ArchiveReader } from '../archive/zip-reader.js';
import type { Manifest } from '../archive/manifest.js';
import { loadDatabaseEngine } from '../engines/registry.js';
import { ArchiveError, ConfigError, OperationError, TenantBackupError, asTypedError, describeCause, redactSecrets } from '../errors.js';
import { canReadOwnArchives } from '../cipher/settings.js';
import type { LedgerRecord } from '../ledger/types.js';
import { TENANT_DATABASES_AREA } from '../retention/naming.js';
import { backupTenantLocked, prepareTenant, type PreparedTenant } from './backup-tenant.js';
import { tenantLockKey } from './targets.js';
import type { Deps } from './context.js';
import { connectionSecrets } from '../engines/connection.js';
import { tenantConnectionConfig } from './targets.js';
import { resolveBackupReference } from './backup-reference.js';
import { archiveKeys, openVerifiedArchive } from './open-archive.js';
import { readRestoreMarker, removeRestoreMarker, repairInterruptedRestore, writeRestoreMarker, type RepairOutcome } from './restore-tenant-recovery.js';

export interface TenantRestoreOptions {
  tenant: string;
  /** A name from `list`, or a path to an archive in the store's tenant-databases folder. */
  backup: string;
  dryRun?: boolean;
  /** Take a safety backup first (default true). */
  safetyBackup?: boolean;
  /** Asked after verification, before any change; false cancels. */
  confirm?: (question: string) => Promise<boolean>;
  signal?: AbortSignal;
  userId?: string | null;
  cwd?: string;
  /** PATH for the dump and load tools (default: the process's PATH). */
  searchPath?: string;
}

interface RestoreFacts {
  tenant: string;
  backup_filename: string;
  /** When the archive was made (manifest). */
  created_at: string;
  engine: PreparedTenant['engine']['name'];
  /** Uncompressed size of the dump entry. */
  dump_bytes: number;
}

export type TenantRestoreResult =
  | (RestoreFacts & {
      action: 'restored';
      safety_backup: LedgerRecord | null;
      /** An earlier restore of this tenant had been interrupted (killed) and was repaired first. */
      repaired_interrupted_restore: RepairOutcome | null;
    })
  | (RestoreFacts & { action: 'dry-run'; safety_backup: null; steps: string[] })
  | { action: 'cancelled'; tenant: string; backup_filename: string };

export async function restoreTenant(deps: Deps, options: TenantRestoreOptions): Promise<TenantRestoreResult> {
  const { tenant } = options;
  try {
    // Unknown tenant first: a ConfigError before the store is even looked at.
    const config = tenantConnectionConfig(deps.config, tenant);
    const reference = await resolveBackupReference(deps, { kind: 'database', tenant }, options.backup);
    const { entryPath, name: engineName } = await loadDatabaseEngine(config.client);
    const { name, reader } = await openVerifiedArchive(deps, {
      area: TENANT_DATABASES_AREA,
      reference,
      cwd: options.cwd,
      expected: { kind: 'database', tenant, engine: engineName, entryPath },
    });
    try {
      const prepared = await prepareTenant(deps, tenant, 'restore', options);
      const facts: RestoreFacts = {
        tenant,
        backup_filename: name,
        created_at: reader.manifest.created_at,
        engine: prepared.engine.name,
        dump_bytes: reader.manifest.entries.find((e) => e.path === entryPath)!.bytes,
      };
      const safety = options.safetyBackup !== false;
      // A failed load of an engine that cannot roll back is undone by loading the safety backup
      // back: an encrypted one must be readable with the configured keys, or the restore must not start.
      if (safety && !prepared.engine.atomicRestore && !(await canReadOwnArchives(deps.config, tenant))) {
        throw new ConfigError(
          `Restoring tenant "${tenant}" (${prepared.engine.name}) may need to load its safety backup back, which will be encrypted to keys whose identity is not configured: ` +
            'set encryption.identityFile to an identity among encryption.recipients (or restore with --no-safety-backup). Nothing was changed.',
          { tenant },
        );
      }
      if (options.dryRun) {
        const pending = await readRestoreMarker(deps, tenant);
        return { action: 'dry-run', ...facts, safety_backup: null, steps: plannedSteps(facts, prepared, safety, pending?.reload ?? null) };
      }
      if (options.confirm) {
        const question =
          `Replace the whole database of tenant "${tenant}" with ${name} (made ${facts.created_at})?` +
          (safety ? ' A safety backup is taken first.' : ' No safety backup will be taken.');
        if (!(await options.confirm(question))) return { action: 'cancelled', tenant, backup_filename: name };
      }
      const lockKey = tenantLockKey(tenant);
      return await deps.ledger.withLock(lockKey, async () => {
        const repaired = await repairInterruptedRestore(deps, prepared, options);
        const safetyRecord = safety ? await takeSafetyBackup(deps, options, lockKey, prepared) : null;
        // Non-atomic loads are recorded as in progress before the database is touched (kill-safety).
        const marked = !prepared.engine.atomicRestore;
        if (marked) {
          await writeRestoreMarker(deps, {
            tenant,
            archive: name,
            reload_kind: safetyRecord ? 'safety_backup' : 'archive',
            reload: safetyRecord?.backup_filename ?? name,
          });
        }
        deps.progress.update(`Restoring ${name} into tenant ${tenant}…`);
        try {
          // Through a meter for the spinner; pipeline() hands an entry error (a checksum mismatch at
          // its end) on to the engine, which then never commits.
          const meter = new ProgressMeter((bytes, seconds) =>
            deps.progress.update(`Restoring ${name} into tenant ${tenant}: ${formatBytes(bytes)} of ${formatBytes(facts.dump_bytes)}, ${formatElapsed(seconds)} elapsed`),
          );
          const stream = pipeline(await reader.openEntry(entryPath), meter, () => undefined);
          // Emptying first (where the engine cannot do it inside a transaction) only once a safety backup exists.
          await prepared.engine.restoreDatabase(prepared.target, stream, {
            signal: options.signal,
            searchPath: options.searchPath,
            emptyFirst: safetyRecord !== null,
          });
        } catch (error) {
          throw await restoreFailure(deps, prepared, reader.manifest, name, error, safetyRecord, options);
        }
        if (marked) await removeRestoreMarker(deps, tenant);
        return { action: 'restored', ...facts, safety_backup: safetyRecord, repaired_interrupted_restore: repaired };
      });
    } finally {
      await reader.close();
    }
  } catch (error) {
    throw asRestoreError(error, connectionSecrets(deps.config.tenants[tenant]?.connection));
  } finally {
    deps.progress.stop();
  }
}

/** Typed errors pass through (redacted); anything else becomes an OperationError without secrets. */
function asRestoreError(error: unknown, secrets: string[]): TenantBackupError {
  if (error instanceof TenantBackupError || (error instanceof Error && error.name === 'AbortError')) return asTypedError(error, secrets);
  return new OperationError(redactSecrets(`Restore failed: ${describeCause(error)}`, secrets), { cause: error });
}

async function takeSafetyBackup(deps: Deps, options: TenantRestoreOptions, lockKey: string, prepared: PreparedTenant): Promise<LedgerRecord> {
  try {
    const { record } = await backupTenantLocked(
      deps,
      { tenant: options.tenant, backupType: 'pre_restore', userId: options.userId, signal: options.signal, searchPath: options.searchPath },
      lockKey,
      prepared,
    );
    return record;
  } catch (error) {
    const cause = asTypedError(error, connectionSecrets(prepared.target.connection));
    throw new TenantBackupError(cause.code, `The safety backup of tenant "${options.tenant}" failed, so nothing was restored and the database is unchanged: ${cause.message}`, {
      cause,
      details: cause.details,
    });
  }
}

function plannedSteps(facts: RestoreFacts, prepared: PreparedTenant, safety: boolean, pendingRepair: string | null): string[] {
  return [
    `verified ${facts.backup_filename}: made ${facts.created_at} for tenant "${facts.tenant}", ${prepared.engine.entryPath} ${facts.dump_bytes} bytes, checksums match`,
    `checked the ${prepared.engine.name} server (${prepared.preflight.serverVersion}) and ${prepared.preflight.toolVersion}`,
    ...(pendingRepair ? [`an earlier restore was interrupted: would first load ${pendingRepair} to make the database whole`] : []),
    safety ? `would take a safety backup of tenant "${facts.tenant}" first (backup_type pre_restore)` : 'would take NO safety backup (--no-safety-backup)',
    `would load ${prepared.engine.entryPath} with ${prepared.engine.restoreMethod}`,
  ];
}

/**
 * The error a failed load ends with. Non-atomic engines get the safety backup loaded back first
 * (into the emptied database), and the message reports both outcomes. A refused archive (a dump
 * holding a client command) stays an ArchiveError (exit 5); everything else is an OperationError.
 * The in-progress marker is removed once the outcome is settled; it stays only when loading the
 * safety backup back failed, so the next backup or restore repairs the database first.
 */
async function restoreFailure(
  deps: Deps,
  prepared: PreparedTenant,
  manifest: Manifest,
  name: string,
  error: unknown,
  safety: LedgerRecord | null,
  options: TenantRestoreOptions,
): Promise<TenantBackupError> {
  const secrets = connectionSecrets(prepared.target.connection);
  const cause = asRestoreError(error, secrets);
  const failure = (message: string, details: Record<string, unknown>) =>
    cause.code === 'ARCHIVE_INVALID' ? new ArchiveError(message, { cause, details }) : new OperationError(message, { cause, details });
  const head = `Restoring ${name} (made ${manifest.created_at}) into tenant "${options.tenant}" failed: ${cause.message}`;
  const where = safety ? `The safety backup taken just before is ${safety.backup_filename} (${safety.backup_path}).` : 'No safety backup was taken (--no-safety-backup).';
  const details = { tenant: options.tenant, backup: name, safety_backup: safety?.backup_filename ?? null, cause_code: cause.code };

  if (prepared.engine.atomicRestore) {
    const why = prepared.engine.name === 'postgres' ? 'PostgreSQL rolled the whole load back' : 'the SQLite file was not replaced';
    return failure(`${head}\nNothing was changed: ${why}. ${where}`, { ...details, database_changed: false });
  }
  if (!safety) {
    await removeRestoreMarker(deps, options.tenant);
    return failure(`${head}\n${prepared.engine.name} cannot roll a load back: the database may be partly restored. ${where}`, {
      ...details,
      database_changed: true,
      rolled_back: false,
    });
  }
  deps.progress.update(`Restore failed; loading the safety backup ${safety.backup_filename} back…`);
  try {
    // From the store (a download into staging for S3), read through the descriptor once open.
    const safetyCopy = await deps.store.fetch(TENANT_DATABASES_AREA, safety.backup_filename);
    const safetyReader = await ArchiveReader.open(safetyCopy.path, { keys: archiveKeys(deps, options.tenant) }).finally(() => safetyCopy.release());
    try {
      const stream: Readable = await safetyReader.openEntry(prepared.engine.entryPath);
      // No abort signal: an interrupted rollback would leave the tenant half restored.
      await prepared.engine.restoreDatabase(prepared.target, stream, { searchPath: options.searchPath, emptyFirst: true });
    } finally {
      await safetyReader.close();
    }
  } catch (rollbackError) {
    const reason = asRestoreError(rollbackError, secrets).message;
    return failure(
      `${head}\nRolling back by loading the safety backup ALSO failed: ${reason}\nThe database may be partly restored. ` +
        `The next backup or restore of tenant "${options.tenant}" loads the safety backup back automatically before anything else; ` +
        `to do it now: tenant-backup restore ${options.tenant} ${safety.backup_filename} --no-safety-backup (file ${safety.backup_path}).`,
      { ...details, database_changed: true, rolled_back: false, rollback_error: describeCause(rollbackError) },
    );
  }
  await removeRestoreMarker(deps, options.tenant);
  return failure(
    `${head}\n${prepared.engine.name} cannot roll a load back, so the safety backup was loaded back automatically: rollback succeeded, the database is as it was before the restore. ${where}`,
    { ...details, database_changed: false, rolled_back: true },
  );
}
