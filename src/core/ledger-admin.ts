/**
 * `tenant-backup ledger init` and `ledger migrate --from json`: setting up the database ledger
 * (`"ledger": { "type": "database" }`) and filling it from the JSON ledger of the store.
 */
import { access } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { DIALECTS } from '../ledger/database/dialect.js';
import type { DatabaseLedger } from '../ledger/database/index.js';
import { ledgerTablesSql } from '../ledger/database/schema.js';
import { databaseLedgerTarget, historyPolicyOf, ledgerTables, type Deps } from './context.js';

export interface LedgerInitResult {
  created: boolean;
  tables: { logs: string; settings: string };
}

export interface LedgerMigrateResult {
  /** Records copied now, and records already there (an earlier run copied them). */
  copied: number;
  skipped: number;
  /** Organizations whose automatic-backup switch was copied (where the table had none). */
  settings: number;
  source: string;
  /** False when the store has no JSON ledger at all (nothing was there to copy). */
  found: boolean;
}

function databaseLedgerOf(deps: Pick<Deps, 'config' | 'ledger'>, command: string): DatabaseLedger {
  if (deps.config.ledger?.type !== 'database') {
    throw new UsageError(`${command} is for the database ledger: set "ledger": { "type": "database" } in the configuration first (the JSON ledger needs no set-up).`);
  }
  return deps.ledger as DatabaseLedger;
}

/** Creates the ledger's tables if they are missing (idempotent). */
export async function initLedger(deps: Pick<Deps, 'config' | 'ledger'>): Promise<LedgerInitResult> {
  const created = await databaseLedgerOf(deps, 'ledger init').init();
  return { created, tables: ledgerTables(deps.config) };
}

/** The SQL `ledger init` runs, for an administrator (`ledger init --sql`). */
export async function ledgerInitSql(deps: Pick<Deps, 'config'>): Promise<string> {
  if (deps.config.ledger?.type !== 'database') throw new UsageError('ledger init --sql is for the database ledger: set "ledger": { "type": "database" } first.');
  const target = await databaseLedgerTarget(deps.config as Deps['config']);
  const dialect = target.client === 'pg' ? DIALECTS.pg : target.client === 'mysql2' ? DIALECTS.mysql : DIALECTS.sqlite;
  return ledgerTablesSql(dialect.name, ledgerTables(deps.config));
}

/**
 * Copies the store's JSON ledger into the database ledger, once: ids are kept, a second run copies
 * nothing more (no duplicates), and a table holding other records under the same ids is refused.
 * A backup still running in the JSON ledger (a live `in_progress` record) is refused: migrate when
 * it has finished. The JSON ledger is left as it was.
 */
export async function migrateLedgerFromJson(deps: Pick<Deps, 'config' | 'ledger' | 'clock'>): Promise<LedgerMigrateResult> {
  const target = databaseLedgerOf(deps, 'ledger migrate');
  const { JsonFileLedger } = await import('../ledger/json-file.js');
  const source = new JsonFileLedger(deps.config.storage.dir, deps.clock, undefined, { keep: historyPolicyOf(deps.config) });
  // No JSON ledger: nothing to copy (setup scripts may run this on every machine), and said so.
  if (
    !(await access(source.file).then(
      () => true,
      () => false,
    ))
  )
    return { copied: 0, skipped: 0, settings: 0, source: source.file, found: false };
  await source.recoverInterrupted().catch(() => undefined);
  const [running] = await source.find({ status: 'in_progress' });
  if (running) throw new UsageError(`A backup is running in the JSON ledger (record ${running.id}, ${running.backup_filename}); migrate once it has finished.`);
  await target.init();
  const { copied, skipped } = await target.importEntries(source.scan());
  let settings = 0;
  for (const owner of await source.owners()) {
    if (owner.kind !== 'organization') continue;
    const current = await source.getOrganizationSettings(owner.organization_id);
    if (current.updated_at !== null && (await target.importSettings(owner.organization_id, current))) settings += 1;
  }
  return { copied, skipped, settings, source: source.file, found: true };
}
