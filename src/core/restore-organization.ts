/**
 * `restore --org <id> <backup>`: puts exactly the archive's rows back for one organization.
 *
 * Before the database is touched: the archive's format, its every checksum and its organization
 * id are verified (organization 7's backup is never restored into 42). Then ONE transaction
 * deletes the organization's current rows (children first) and inserts the archive's (parents
 * first); any failure rolls everything back, so the organization is exactly as before. Counters
 * (sequences, AUTO_INCREMENT) are moved past the restored ids. Other organizations' rows are
 * neither read nor written: every statement is restricted by the planner's condition.
 */
import type { ArchiveReader } from '../archive/zip-reader.js';
import { formatElapsed } from '../format.js';
import type { ManifestEntry } from '../archive/manifest.js';
import { ENGINE_OF_CLIENT, loadOrganizationEngine } from '../engines/registry.js';
import type { ColumnInfo, TablePlan } from '../engines/types.js';
import { ArchiveError, OperationError, asTypedError } from '../errors.js';
import { ORGANIZATIONS_AREA } from '../retention/naming.js';
import type { Deps } from './context.js';
import { organizationLockKey } from './targets.js';
import { connectionSecrets } from '../engines/connection.js';
import { abortSessionOn, connectOptions, organizationsConfig } from './organization-config.js';
import { planOrganizationTables } from './plan-organization.js';
import { resolveBackupReference } from './backup-reference.js';
import { openVerifiedArchive } from './verified-archive.js';

export interface OrganizationRestoreOptions {
  organizationId: string;
  /** A name from `list`, or a path to an archive in the store. */
  backup: string;
  dryRun?: boolean;
  /** Asked after verification, before any change; false cancels. */
  confirm?: (question: string) => Promise<boolean>;
  cwd?: string;
  /** Aborting ends the restore's connections: the transaction rolls back, nothing changes. */
  signal?: AbortSignal;
}

export interface TableChange {
  table: string;
  /** Rows of the organization now in the table (deleted by the restore). */
  current_rows: number;
  /** Rows in the archive (inserted by the restore). */
  archive_rows: number;
}

export type OrganizationRestoreResult =
  | { action: 'restored' | 'dry-run'; backup_filename: string; organization_id: string; created_at: string; tables: TableChange[] }
  | { action: 'cancelled'; backup_filename: string };

class DryRunRollback extends Error {}

export async function restoreOrganization(deps: Deps, options: OrganizationRestoreOptions): Promise<OrganizationRestoreResult> {
  const config = organizationsConfig(deps);
  const reference = await resolveBackupReference(deps, { kind: 'organization', organizationId: options.organizationId }, options.backup);
  try {
    const { name, reader } = await openVerifiedArchive(deps, {
      area: ORGANIZATIONS_AREA,
      reference,
      cwd: options.cwd,
      expected: { kind: 'organization', organizationId: options.organizationId, engine: ENGINE_OF_CLIENT[config.client] },
    });
    try {
      const engine = await loadOrganizationEngine(config.client);
      const run = () => restoreVerified(deps, options, reader, name, engine);
      return options.dryRun ? await run() : await deps.ledger.withLock(organizationLockKey(options.organizationId), run);
    } finally {
      await reader.close();
    }
  } finally {
    deps.progress.stop();
  }
}

async function restoreVerified(
  deps: Deps,
  options: OrganizationRestoreOptions,
  reader: ArchiveReader,
  name: string,
  engine: Awaited<ReturnType<typeof loadOrganizationEngine>>,
): Promise<OrganizationRestoreResult> {
  const config = organizationsConfig(deps);
  const manifest = reader.manifest;
  options.signal?.throwIfAborted();
  const session = await engine.connect(config, connectOptions(config));
  const stopAborting = abortSessionOn(session, options.signal, 'Restore');
  try {
    const schema = await session.introspect();
    const plans = planOrganizationTables(schema, config, session.dialect, options.organizationId);
    const entries = matchEntries(plans, manifest.entries, name);

    const changes: TableChange[] = [];
    const execute = async (dryRun: boolean) =>
      session.withRestoreTransaction(plans, async (writer) => {
        changes.length = 0;
        for (const plan of plans) {
          changes.push({ table: plan.table, current_rows: await writer.countRows(plan), archive_rows: entries.get(plan.table)?.rows ?? 0 });
        }
        if (dryRun) throw new DryRunRollback();
        for (const plan of [...plans].reverse()) {
          deps.progress.update(`Deleting current rows of ${plan.table}…`);
          await writer.deleteRows(plan);
        }
        const started = Date.now();
        for (const [index, plan] of plans.entries()) {
          const entry = entries.get(plan.table);
          if (!entry) continue;
          const columns = manifestColumns(entry, plan);
          const stream = await reader.openEntry(entry.path);
          const inserted = await writer.importTable(plan, columns, stream, (rows) =>
            deps.progress.update(
              `Restoring table ${index + 1}/${plans.length} ${plan.table}: ${rows.toLocaleString('en-US')} of ${entry.rows!.toLocaleString('en-US')} rows, ${formatElapsed((Date.now() - started) / 1000)} elapsed`,
            ),
          );
          if (inserted !== entry.rows) {
            throw new ArchiveError(`${name}: ${plan.table} inserted ${inserted} rows, but the manifest says ${entry.rows}.`);
          }
        }
        for (const plan of plans) await writer.resetCounters(plan);
      });

    const base = { backup_filename: name, organization_id: options.organizationId, created_at: manifest.created_at };
    if (options.dryRun) {
      await execute(true).catch((error: unknown) => {
        if (!(error instanceof DryRunRollback)) throw error;
      });
      return { action: 'dry-run', ...base, tables: changes };
    }
    if (options.confirm) {
      const question = `Replace all data of organization ${options.organizationId} with ${name} (made ${manifest.created_at})?`;
      if (!(await options.confirm(question))) return { action: 'cancelled', backup_filename: name };
    }
    await execute(false);
    return { action: 'restored', ...base, tables: changes };
  } catch (error) {
    throw asTypedError(error, connectionSecrets(config.connection));
  } finally {
    stopAborting();
    await session.close().catch(() => undefined);
  }
}

/**
 * Every archive table must still exist in today's plan (else its rows would have nowhere to go).
 * A planned table absent from the archive (created after the backup) is restored as empty.
 */
function matchEntries(plans: TablePlan[], entries: ManifestEntry[], name: string): Map<string, ManifestEntry> {
  const planned = new Set(plans.map((p) => p.table));
  const byTable = new Map<string, ManifestEntry>();
  for (const entry of entries) {
    if (entry.table === undefined) continue;
    if (!planned.has(entry.table)) {
      throw new OperationError(
        `${name} holds table "${entry.table}", which is no longer part of this organization's tables in the shared database (dropped, renamed or excluded?). Nothing was changed.`,
      );
    }
    if (entry.rows === undefined || !entry.columns) throw new ArchiveError(`${name}: manifest entry ${entry.path} has no rows or columns.`);
    byTable.set(entry.table, entry);
  }
  return byTable;
}

/** The archive's columns, typed by today's table (the engine inserts by name). */
function manifestColumns(entry: ManifestEntry, plan: TablePlan): ColumnInfo[] {
  const live = new Map(plan.columns.map((c) => [c.name, c]));
  return entry.columns!.map((column) => {
    const current = live.get(column.name);
    if (!current) {
      throw new OperationError(`Table "${plan.table}" has no column "${column.name}" any more, but the backup has it. Nothing was changed.`);
    }
    if (current.encoding !== column.encoding) {
      throw new OperationError(
        `Column "${plan.table}"."${column.name}" changed type since the backup (${column.type} → ${current.type}); restore refused, nothing was changed.`,
      );
    }
    return current;
  });
}
