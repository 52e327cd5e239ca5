/**
 * `backup --org <id>`: every row of one organization, read in one consistent snapshot, streamed
 * table by table into `organizations/org_<code>_<weekday>_backup.zip`.
 *
 * Safety: the archive is written to a temp file beside the final name, re-read and verified
 * (every entry's sha256), then renamed over last week's file. Until that rename, last week's
 * archive and its ledger record are untouched; a failure leaves them as they were and records a
 * `failed` entry. Only one backup of an organization runs at a time (operation lock `org-<id>`).
 */
import { PassThrough } from 'node:stream';
import { ArchiveReader } from '../archive/zip-reader.js';
import { ArchiveWriter } from '../archive/zip-writer.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type BackupType, type Manifest, type ManifestEntry } from '../archive/manifest.js';
import { loadOrganizationEngine } from '../engines/registry.js';
import { NotFoundError, OperationError, TenantBackupError, describeCause, redactSecrets } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { localDate, localWeekday } from '../retention/clock.js';
import { ORGANIZATIONS_AREA, organizationArchiveName } from '../retention/naming.js';
import { sha256OfFile } from '../store/hash.js';
import { TOOL_VERSION } from '../version.js';
import type { Deps } from './context.js';
import { planOrganizationTables } from './plan-organization.js';
import { connectionSecrets, organizationsConfig, tableEntryPath } from './organization-config.js';

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
}

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
}

export function organizationLockKey(organizationId: string): string {
  return `org-${organizationId}`;
}

export async function backupOrganization(deps: Deps, options: OrganizationBackupOptions): Promise<OrganizationBackupResult> {
  const lockKey = organizationLockKey(options.organizationId);
  return deps.ledger.withLock(lockKey, () => backupOrganizationLocked(deps, options, lockKey));
}

/** The backup itself; the caller holds the organization's operation lock. */
export async function backupOrganizationLocked(
  deps: Deps,
  options: OrganizationBackupOptions,
  lockKey: string,
): Promise<OrganizationBackupResult> {
  const config = organizationsConfig(deps);
  const { clock, ledger, store, progress } = deps;
  const secrets = connectionSecrets(config.connection);
  const startedAt = clock.now();
  const weekday = localWeekday(startedAt, deps.config.timezone);
  const backupDate = localDate(startedAt, deps.config.timezone);
  options.signal?.throwIfAborted();

  const engine = await loadOrganizationEngine(config.client);
  progress.update(`Connecting to the shared database (${engine.name})…`);
  const session = await engine.connect(config);
  let record: LedgerRecord | undefined;
  let writer: ArchiveWriter | undefined;
  let tempPath: string | undefined;
  try {
    const [schema, serverVersion] = await Promise.all([session.introspect(), session.serverVersion()]);
    const plans = planOrganizationTables(schema, config, session.dialect, options.organizationId);

    const { organization, name, entries, tables } = await session.withSnapshot(async (reader) => {
      const found = await reader.findOrganization(config, options.organizationId);
      if (!found) throw NotFoundError.organization(options.organizationId, config.table);
      if (options.honourDisabledColumn && found.autoBackupEnabled === false) throw new DisabledInDatabase(options.organizationId);
      const archiveName = organizationArchiveName(found, weekday);
      record = await ledger.begin(
        {
          kind: 'organization',
          organization_id: options.organizationId,
          tenant: null,
          user_id: options.userId ?? null,
          day_of_week: weekday,
          backup_filename: archiveName,
          backup_path: store.localPath(ORGANIZATIONS_AREA, archiveName),
          backup_date: backupDate,
        },
        { lockKey, backupType: options.backupType ?? 'manual' },
      );
      tempPath = await store.tempPath(ORGANIZATIONS_AREA, archiveName);
      writer = await ArchiveWriter.open(tempPath, { compressionLevel: deps.config.compressionLevel });
      const written: ManifestEntry[] = [];
      const summaries: TableSummary[] = [];
      for (const plan of plans) {
        options.signal?.throwIfAborted();
        const path = tableEntryPath(plan.table);
        const pipe = new PassThrough({ highWaterMark: 1024 * 1024 });
        const abort = () => pipe.destroy(new OperationError('Backup cancelled.'));
        options.signal?.addEventListener('abort', abort, { once: true });
        try {
          const [entry, exported] = await Promise.all([
            writer.addEntry(path, pipe),
            reader.exportTable(plan, pipe, (rows) => progress.update(`Organization ${options.organizationId}: ${plan.table} — ${rows.toLocaleString('en-US')} rows`)),
          ]);
          written.push({
            path,
            bytes: entry.bytes,
            sha256: entry.sha256,
            table: plan.table,
            rows: exported.rows,
            columns: plan.columns.map((c) => ({ name: c.name, type: c.type, encoding: c.encoding })),
          });
          summaries.push({ table: plan.table, rows: exported.rows, bytes: entry.bytes });
        } finally {
          options.signal?.removeEventListener('abort', abort);
        }
      }
      return { organization: found, name: archiveName, entries: written, tables: summaries };
    });

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
    progress.update(`Verifying ${name}…`);
    await writer!.finish(manifest);
    writer = undefined;
    await verifyArchive(tempPath!);
    const sha256 = await sha256OfFile(tempPath!);
    options.signal?.throwIfAborted();
    const stored = await store.commit(tempPath!, ORGANIZATIONS_AREA, name);
    tempPath = undefined;
    const finished = await ledger.finish(record!.id, { status: 'success', backup_size: stored.bytes, sha256 });
    return {
      action: 'created',
      record: finished,
      organization: { id: options.organizationId, name: organization.name, code: organization.code },
      tables,
    };
  } catch (error) {
    if (error instanceof DisabledInDatabase) throw error;
    if (writer) await writer.abort();
    if (tempPath) await store.discard(tempPath);
    const failure = asTypedError(error, secrets);
    if (record) await ledger.finish(record.id, { status: 'failed', error_message: failure.message }).catch(() => undefined);
    throw failure;
  } finally {
    progress.stop();
    await session.close().catch(() => undefined);
  }
}

async function verifyArchive(filePath: string): Promise<void> {
  const reader = await ArchiveReader.open(filePath);
  try {
    await reader.verify();
  } finally {
    await reader.close();
  }
}

/** Typed errors pass through (redacted); anything else becomes an OperationError without secrets. */
export function asTypedError(error: unknown, secrets: string[]): TenantBackupError {
  if (error instanceof TenantBackupError) {
    const message = redactSecrets(error.message, secrets);
    if (message === error.message) return error;
    return new TenantBackupError(error.code, message, { details: error.details });
  }
  if (error instanceof Error && error.name === 'AbortError') return new OperationError('Backup cancelled.');
  return new OperationError(redactSecrets(`Backup failed: ${describeCause(error)}`, secrets), { cause: error });
}
