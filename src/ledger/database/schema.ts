/**
 * The ledger's tables: created by `tenant-backup ledger init` (idempotent: CREATE … IF NOT EXISTS)
 * or on first use when a statement finds them missing. A database user that may not create
 * tables gets a ConfigError (exit 2) that names the SQL an administrator runs once.
 */
import { ConfigError, describeCause } from '../../errors.js';
import { DIALECTS, type DialectName, type LedgerTables } from './dialect.js';
import type { Row, SqlSession } from './session.js';

export function ledgerTablesSql(dialect: DialectName, tables: LedgerTables): string {
  return `${DIALECTS[dialect].createStatements(tables).join(';\n\n')};\n`;
}

/** Whether both tables exist already. */
export async function ledgerTablesExist(session: SqlSession, tables: LedgerTables): Promise<boolean> {
  const q = session.dialect.quote;
  try {
    await session.query(`SELECT 1 FROM ${q(tables.logs)} WHERE 1 = 0`);
    await session.query(`SELECT 1 FROM ${q(tables.settings)} WHERE 1 = 0`);
    return true;
  } catch (error) {
    if (session.dialect.isMissingTable(error)) return false;
    throw error;
  }
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
