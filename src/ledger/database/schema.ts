/**
 * The ledger's tables: created by `tenant-backup ledger init` (idempotent: CREATE … IF NOT EXISTS)
 * or on first use when a statement finds them missing. A database user that may not create
 * tables gets a ConfigError (exit 2) that names the SQL an administrator runs once.
 */
import { ConfigError, describeCause } from '../../errors.js';
import { DIALECTS, LOG_COLUMNS, SETTINGS_COLUMNS, columnDefinition, type DialectName, type LedgerTables } from './dialect.js';
import type { Row, SqlSession } from './session.js';

export function ledgerTablesSql(dialect: DialectName, tables: LedgerTables): string {
  return `${DIALECTS[dialect].createStatements(tables).join(';\n\n')};\n`;
}

/**
 * Whether both tables exist already — and, when one does, that it is the ledger's: a table of the
 * same name made by someone else (the application's own `auto_backup_logs`, without `backup_type` …
 * `daily_slot`, with `unique(organization_id, day_of_week)`) would take `ledger init` and then fail
 * every backup, or refuse a second attempt of a weekday. That is a ConfigError naming what differs,
 * before anything is written.
 */
export async function ledgerTablesExist(session: SqlSession, tables: LedgerTables): Promise<boolean> {
  const logs = await inspect(session, tables.logs, LOG_COLUMNS);
  const settings = await inspect(session, tables.settings, SETTINGS_COLUMNS);
  const problems: string[] = [];
  const fixes: string[] = [];
  const q = session.dialect.quote;
  for (const [name, found] of [
    [tables.logs, logs],
    [tables.settings, settings],
  ] as const) {
    if (!found || found.missing.length === 0) continue;
    problems.push(`the table "${name}" lacks the column${found.missing.length > 1 ? 's' : ''} ${found.missing.join(', ')}`);
    for (const column of found.missing) {
      const definition = name === tables.logs ? columnDefinition(session.dialect.name, column) : undefined;
      if (definition) fixes.push(`ALTER TABLE ${q(name)} ADD COLUMN ${definition};`);
    }
  }
  if (logs) {
    const slotKeys = [...logs.unique.entries()].filter(([, columns]) => columns.join(',') === 'daily_slot');
    for (const [index, columns] of logs.unique) {
      if (['id', 'daily_slot'].includes(columns.join(','))) continue;
      problems.push(`"${tables.logs}" has the unique key "${index}" (${columns.join(', ')}), which would refuse a second attempt of a day or weekday`);
      fixes.push(`-- drop the unique key "${index}" (${columns.join(', ')})`);
    }
    if (slotKeys.length === 0 && !logs.missing.includes('daily_slot'))
      problems.push(`"${tables.logs}" has no unique key on daily_slot (a second automatic backup of a day could be recorded)`);
    if (slotKeys.length === 0) fixes.push(`CREATE UNIQUE INDEX ${q(`${tables.logs}_daily_slot`)} ON ${q(tables.logs)} (daily_slot);`);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `The ledger cannot use the existing tables in ${session.where}: ${problems.join('; ')}. Nothing was changed. ` +
        `Give the ledger tables of its own ("ledger": { "type": "database", "table": "tenant_backup_logs", "settingsTable": "tenant_backup_settings" }, then \`tenant-backup ledger init\`), ` +
        `or, to keep these tables, have an administrator change them:\n\n${fixes.join('\n')}\n`,
      { tables: [tables.logs, tables.settings], problems },
    );
  }
  return logs !== undefined && settings !== undefined;
}

/** A table's missing columns and unique keys (name → columns); undefined when there is no such table. */
async function inspect(session: SqlSession, table: string, wanted: string[]): Promise<{ missing: string[]; unique: Map<string, string[]> } | undefined> {
  // PostgreSQL resolves the quoted name (to_regclass); the others take the plain name.
  const name = session.dialect.name === 'pg' ? session.dialect.quote(table) : table;
  const present = new Set((await session.query(session.dialect.columnsSql, [name])).map((row) => String(row.name).toLowerCase()));
  if (present.size === 0) return undefined;
  const unique = new Map<string, string[]>();
  for (const row of await session.query(session.dialect.uniqueIndexesSql, [name])) {
    const index = String(row.index_name);
    unique.set(index, [...(unique.get(index) ?? []), row.column_name == null ? '(expression)' : String(row.column_name).toLowerCase()]);
  }
  return { missing: wanted.filter((column) => !present.has(column)), unique };
}

/** Creates what is missing; true when something was created. */
export async function createLedgerTables(session: SqlSession, tables: LedgerTables): Promise<boolean> {
  if (await ledgerTablesExist(session, tables)) return false;
  try {
    for (const statement of session.dialect.createStatements(tables)) await session.execute(statement);
  } catch (error) {
    if (!session.dialect.isPermissionDenied(error)) throw error;
    throw new ConfigError(
      `The ledger's tables "${tables.logs}" and "${tables.settings}" do not exist in ${session.where}, and this database user may not create them (${describeCause(error)}). ` +
        `Ask an administrator to run this SQL once (\`tenant-backup ledger init --sql\` prints it):\n\n${ledgerTablesSql(session.dialect.name, tables)}`,
      { tables: [tables.logs, tables.settings] },
    );
  }
  return true;
}

export type { Row };
