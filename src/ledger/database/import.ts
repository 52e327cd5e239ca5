/**
 * Copying another ledger's records into the table (`ledger migrate --from json`): ids kept, each
 * batch in one transaction, a second run skipping what the first copied (same id, same record)
 * and refusing a table whose ids belong to other records.
 */
import { OperationError } from '../../errors.js';
import type { LedgerEntry, LedgerRecord, OrganizationSettings } from '../types.js';
import type { LedgerTables } from './dialect.js';
import { entryOfRow, selectRecords } from './rows.js';
import type { SqlSession } from './session.js';

/** Records per transaction (and per INSERT) of `importEntries`: 17 parameters each, under every engine's limit. */
const IMPORT_BATCH = 1000;

/**
 * Copies records of another ledger (`ledger migrate --from json`), keeping their ids, in
 * transactions of IMPORT_BATCH: a record whose id is here already is skipped when it is the same
 * record (a second run), refused when it is another one. Records keep their host; they take no
 * daily slot (the slot is for records this ledger makes). Returns how many were copied/skipped.
 * `run`: the ledger's one statement connection.
 */
export async function importEntries(
  run: <T>(fn: (db: SqlSession) => Promise<T>) => Promise<T>,
  client: string,
  tables: LedgerTables,
  entries: AsyncIterable<LedgerEntry>,
): Promise<{ copied: number; skipped: number }> {
  const counts = { copied: 0, skipped: 0 };
  let batch: LedgerEntry[] = [];
  const flush = async () => {
    const rows = batch;
    batch = [];
    if (rows.length > 0) await run((db) => importBatch(db, tables, rows, counts));
  };
  for await (const entry of entries) {
    batch.push(entry);
    if (batch.length >= IMPORT_BATCH) await flush();
  }
  await flush();
  if (client === 'pg') {
    await run((db) =>
      db.query(`SELECT setval(pg_get_serial_sequence(?, 'id'), GREATEST((SELECT max(id) FROM ${db.dialect.quote(tables.logs)}), 1))`, [db.dialect.quote(tables.logs)]),
    );
  }
  return counts;
}

async function importBatch(db: SqlSession, tables: LedgerTables, entries: LedgerEntry[], counts: { copied: number; skipped: number }): Promise<void> {
  const { dialect } = db;
  const logs = dialect.quote(tables.logs);
  await db.execute(dialect.name === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN');
  try {
    const ids = entries.map((e) => e.record.id);
    const present = new Map<number, LedgerRecord>();
    for (const row of await db.query(selectRecords(dialect, tables.logs, `l.id IN (${ids.map(() => '?').join(', ')})`), ids)) {
      const { record } = entryOfRow(row);
      present.set(record.id, record);
    }
    const missing: LedgerEntry[] = [];
    for (const entry of entries) {
      const { record } = entry;
      const here = present.get(record.id);
      if (!here) {
        missing.push(entry);
        continue;
      }
      const same =
        here.kind === record.kind &&
        here.organization_id === record.organization_id &&
        here.tenant === record.tenant &&
        here.backup_filename === record.backup_filename &&
        here.created_at === record.created_at;
      if (!same)
        throw new OperationError(
          `${db.where}: record ${record.id} of the JSON ledger and record ${record.id} of ${tables.logs} are different records; migrate into an empty table (or one this migration filled).`,
        );
      counts.skipped += 1;
    }
    if (missing.length > 0) {
      // One multi-row INSERT per batch: a million records are a few thousand statements, not a million.
      const values = missing.flatMap(({ record, backup_type, host }) => [
        record.id,
        record.kind,
        record.organization_id,
        record.tenant,
        record.user_id,
        record.day_of_week,
        record.backup_filename,
        record.backup_path,
        record.backup_size,
        record.sha256,
        record.status,
        record.error_message,
        record.backup_date,
        dialect.timestamp(record.created_at),
        dialect.timestamp(record.updated_at),
        backup_type,
        host,
      ]);
      await db.execute(
        `INSERT INTO ${logs} (id, kind, organization_id, tenant, user_id, day_of_week, backup_filename, backup_path, backup_size, sha256, status, error_message, backup_date, created_at, updated_at, backup_type, host) VALUES ` +
          missing.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', '),
        values,
      );
      counts.copied += missing.length;
    }
    await db.execute('COMMIT');
  } catch (error) {
    await db.execute('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Sets an organization's switch only where the table has none yet; true when it did. */
export async function importSettings(db: SqlSession, tables: LedgerTables, organizationId: string, settings: OrganizationSettings): Promise<boolean> {
  const existing = await db.query(`SELECT 1 AS one FROM ${db.dialect.quote(tables.settings)} WHERE organization_id = ?`, [organizationId]);
  if (existing.length > 0) return false;
  await db.execute(`INSERT INTO ${db.dialect.quote(tables.settings)} (organization_id, auto_backup_enabled, updated_at) VALUES (?, ?, ?)`, [
    organizationId,
    settings.auto_backup_enabled,
    settings.updated_at === null ? null : db.dialect.timestamp(settings.updated_at),
  ]);
  return true;
}
