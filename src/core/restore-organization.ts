/**
 * `restore --org <id> <backup>`: puts exactly the archive's rows back for one organization.
 *
 * Before the database is touched: the archive's format, its every checksum and its organization
 * id are verified (organization 7's backup is never restored into 42), and its tables and columns
 * are matched with today's (restore-match.ts: harmless schema drift is accepted and listed). Then
 * ONE transaction, under the organization's operation lock:
 *   1. counts the organization's current rows; a table the archive does not hold (created after
 *      the backup) whose rows would be removed and not put back needs `allowRemovingNewTables`;
 *   2. notes the rows that are not restored but reference the organization's rows (another
 *      organization's row pointing at one of them): engines/restore-checks.ts;
 *   3. deletes the organization's rows (children first) and inserts the archive's (parents first);
 *   4. checks that every inserted row is this organization's (an archive is untrusted input: a
 *      crafted row of another organization, a global row, a child of another organization's
 *      parent or a second organizations row refuses the whole restore, exit 5), that every
 *      restored row's references exist, and that no noted row is left pointing at nothing;
 *   5. moves counters (sequences, AUTO_INCREMENT) past the restored ids, and commits.
 * Any failure rolls everything back, so the organization is exactly as before. A dry run runs the
 * very same steps and checks, then rolls back: it succeeds or fails exactly as the restore would.
 */
import type { ArchiveReader } from '../archive/zip-reader.js';
import { formatElapsed } from '../format.js';
import { ENGINE_OF_CLIENT, loadOrganizationEngine } from '../engines/registry.js';
import { MAX_NDJSON_LINE_BYTES } from '../engines/ndjson-lines.js';
import { ownedCondition, strangerRowError } from '../engines/restore-checks.js';
import type { RestoreWriter, TablePlan } from '../engines/types.js';
import { ArchiveError, InvalidNameError, OperationError, asTypedError } from '../errors.js';
import { ORGANIZATIONS_AREA } from '../retention/naming.js';
import type { Deps } from './context.js';
import { organizationLockKey } from './targets.js';
import { connectionSecrets } from '../engines/connection.js';
import { abortSessionOn, connectOptions, organizationsConfig } from './organization-config.js';
import { planOrganizationTables } from './plan-organization.js';
import { resolveBackupReference } from './backup-reference.js';
import { matchArchive, type AcceptedDrift, type MatchedArchive } from './restore-match.js';
import { openVerifiedArchive } from './open-archive.js';

export interface OrganizationRestoreOptions {
  organizationId: string;
  /** A name from `list`, `latest`, or a path to an archive in the store. */
  backup?: string;
  /** An archive anywhere (`--file`): verified and ownership-checked like one in the store. */
  file?: string;
  dryRun?: boolean;
  /** Lets the restore remove the rows of tables the archive does not hold (created after the backup). */
  allowRemovingNewTables?: boolean;
  /** Longest NDJSON line (one row, bytes) accepted; default and upper bound MAX_NDJSON_LINE_BYTES. */
  maxLineBytes?: number;
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
  /** False for a table the archive does not hold: its rows are removed and not put back. */
  in_archive: boolean;
}

export interface RemovedTable {
  table: string;
  rows: number;
}

export type OrganizationRestoreResult =
  | {
      action: 'restored' | 'dry-run';
      backup_filename: string;
      organization_id: string;
      created_at: string;
      tables: TableChange[];
      /** Schema differences accepted (each keeps every value exact). */
      accepted_drift: AcceptedDrift[];
      /** Tables absent from the archive whose rows of the organization are (or would be) removed. */
      removed_tables: RemovedTable[];
    }
  | { action: 'cancelled'; backup_filename: string };

class DryRunRollback extends Error {}

export async function restoreOrganization(deps: Deps, options: OrganizationRestoreOptions): Promise<OrganizationRestoreResult> {
  const config = organizationsConfig(deps);
  if ((options.backup === undefined) === (options.file === undefined)) throw new InvalidNameError('Name one backup: a name (or path in the store), or --file <path>.');
  const reference = options.backup === undefined ? undefined : await resolveBackupReference(deps, { kind: 'organization', organizationId: options.organizationId }, options.backup);
  try {
    const { name, reader } = await openVerifiedArchive(deps, {
      area: ORGANIZATIONS_AREA,
      reference: reference ?? '',
      file: options.file,
      cwd: options.cwd,
      expected: { kind: 'organization', organizationId: options.organizationId, engine: ENGINE_OF_CLIENT[config.client] },
    }).catch((error: unknown) => {
      throw withFileHint(error, reference);
    });
    try {
      const engine = await loadOrganizationEngine(config.client);
      // A dry run writes too (inside a transaction it rolls back): it takes the lock like a restore.
      return await deps.ledger.withLock(organizationLockKey(options.organizationId), () => restoreVerified(deps, options, reader, name, engine));
    } finally {
      await reader.close();
    }
  } finally {
    deps.progress.stop();
  }
}

/** A path outside the store is refused by the store; say how to restore it anyway. */
function withFileHint(error: unknown, reference: string | undefined): unknown {
  if (!(error instanceof InvalidNameError) || reference === undefined || !/[/\\]/.test(reference) || !/not inside the store/.test(error.message)) return error;
  return new InvalidNameError(
    `${error.message} To restore an archive kept elsewhere, name it with --file ${reference} (it is verified and checked to be this organization's like any other).`,
    error.details,
  );
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
    const matched = matchArchive(plans, manifest, name);

    const changes: TableChange[] = [];
    const execute = async (dryRun: boolean) =>
      session.withRestoreTransaction(plans, async (writer) => {
        changes.length = 0;
        for (const plan of plans) {
          const entry = matched.entries.get(plan.table);
          changes.push({ table: plan.table, current_rows: await writer.countRows(plan), archive_rows: entry?.rows ?? 0, in_archive: entry !== undefined });
        }
        const removed = removedTables(changes);
        if (removed.length > 0 && !dryRun && !options.allowRemovingNewTables) throw removalRefused(removed, options.organizationId);
        await writer.noteReferences(schema, plans, config.tenantColumn);
        for (const plan of [...plans].reverse()) {
          deps.progress.update(`Deleting current rows of ${plan.table}…`);
          await writer.deleteRows(plan);
        }
        const owned = (plan: TablePlan) => ({ ...plan, where: ownedCondition(plan, plans, session.dialect.quoteIdentifier) });
        await importTables(deps, writer, plans, { matched, reader, name, owned, maxLineBytes: Math.min(options.maxLineBytes ?? MAX_NDJSON_LINE_BYTES, MAX_NDJSON_LINE_BYTES) });
        deps.progress.update('Checking references…');
        await writer.checkReferences();
        for (const plan of plans) await writer.resetCounters(plan);
        if (dryRun) throw new DryRunRollback();
      });

    const base = { backup_filename: name, organization_id: options.organizationId, created_at: manifest.created_at, accepted_drift: matched.drift };
    if (options.dryRun) {
      await execute(true).catch((error: unknown) => {
        if (!(error instanceof DryRunRollback)) throw error;
      });
      return { action: 'dry-run', ...base, tables: changes, removed_tables: removedTables(changes) };
    }
    if (options.confirm) {
      const question = `Replace all data of organization ${options.organizationId} with ${name} (made ${manifest.created_at})?`;
      if (!(await options.confirm(question))) return { action: 'cancelled', backup_filename: name };
    }
    await execute(false);
    return { action: 'restored', ...base, tables: changes, removed_tables: removedTables(changes) };
  } catch (error) {
    throw asTypedError(error, connectionSecrets(config.connection));
  } finally {
    stopAborting();
    await session.close().catch(() => undefined);
  }
}

function removedTables(changes: TableChange[]): RemovedTable[] {
  return changes.filter((c) => !c.in_archive && c.current_rows > 0).map((c) => ({ table: c.table, rows: c.current_rows }));
}

function removalRefused(removed: RemovedTable[], organizationId: string): OperationError {
  const list = removed.map((r) => `"${r.table}" (${r.rows.toLocaleString('en-US')} rows)`).join(', ');
  return new OperationError(
    `Restore refused: the archive does not hold table${removed.length > 1 ? 's' : ''} ${list} (created after the backup?), so organization ${organizationId}'s rows there would be removed and not put back. ` +
      'Run it again with --allow-removing-new-tables to accept that (see them with --dry-run). Nothing was changed.',
    { details: { removed_tables: removed } },
  );
}

/**
 * Streams each archive entry into its table, parents first. Each table is given to the engine
 * with its ownership condition (`owned`: see ownedCondition) instead of its selection, so the
 * engines check each row or batch as it goes, naming it; and after each table, the rows meeting
 * that condition must be exactly as many as were inserted (the deletes removed every row the plan
 * selected, and no row left can start meeting it without a duplicate key) — the one check that
 * holds on every engine and every table, with or without a primary key. A refusal is an
 * ArchiveError (exit 5): an archive is untrusted input.
 */
async function importTables(
  deps: Deps,
  writer: RestoreWriter,
  plans: TablePlan[],
  { matched, reader, name, owned, maxLineBytes }: { matched: MatchedArchive; reader: ArchiveReader; name: string; owned: (plan: TablePlan) => TablePlan; maxLineBytes: number },
): Promise<void> {
  const started = Date.now();
  for (const [index, plan] of plans.entries()) {
    const entry = matched.entries.get(plan.table);
    if (!entry) continue;
    const checked = owned(plan);
    const stream = await reader.openEntry(entry.path);
    const rows = await writer.importTable(
      checked,
      matched.columns.get(plan.table)!,
      stream,
      (count) =>
        deps.progress.update(
          `Restoring table ${index + 1}/${plans.length} ${plan.table}: ${count.toLocaleString('en-US')} of ${entry.rows!.toLocaleString('en-US')} rows, ${formatElapsed((Date.now() - started) / 1000)} elapsed`,
        ),
      { maxLineBytes },
    );
    if (rows !== entry.rows) throw new ArchiveError(`${name}: ${plan.table} inserted ${rows} rows, but the manifest says ${entry.rows}.`);
    if (rows > 0 && (await writer.countRows(checked)) !== rows) throw strangerRowError(plan, await writer.findStrangerRow(checked));
  }
}
