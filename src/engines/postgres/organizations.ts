/**
 * Finding organizations in the organizations table (PostgreSQL). The id is compared with the id
 * column's own type — `t.id = $1`, the parameter typed by the column — so `6F1C…` finds the uuid
 * `6f1c…`; a value the type refuses (SQLSTATE class 22, "data exception") is a UsageError, or, when
 * codes are looked up too, only looked up as a code. Ids come back as the database writes them (`id::text`).
 */
import type pg from 'pg';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { OrganizationRow } from '../types.js';
import { invalidOrganizationId } from '../organization-id.js';
import { flagOf, type LiveColumn } from './catalog.js';
import type { SessionContext } from './client.js';
import { q } from './dialect.js';

interface Row {
  id: string;
  name: string | null;
  code: string | null;
  auto: string | null;
}

/** True for errors of the value itself: invalid text for the type, out of range, … */
function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('22');
}

/**
 * The organization whose id is `value` — with `orCode`, also those whose code is (at most 10).
 * Run outside a transaction, or as the last statement of a snapshot about to fail: an invalid
 * value ends the statement with an error.
 */
export async function findOrganizationRows(
  client: pg.Client,
  session: Pick<SessionContext, 'operationError'>,
  config: OrganizationsConfig,
  columns: Map<string, LiveColumn>,
  value: string,
  orCode: boolean,
): Promise<OrganizationRow[]> {
  const idColumn = columns.get(config.idColumn);
  if (!idColumn) {
    throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
  }
  const text = (name: string) => (columns.has(name) ? `t.${q(name)}::text` : 'NULL::text');
  const byCode = orCode && columns.has(config.codeColumn);
  const select = `SELECT t.${q(config.idColumn)}::text AS id, ${text(config.nameColumn)} AS name, ${text(config.codeColumn)} AS code,
                         ${text('auto_backup_enabled')} AS auto
                  FROM ${q(config.table)} t`;
  const limit = orCode ? 10 : 1;
  const what = `Looking up organization "${value}" in table "${config.table}" failed`;
  let rows: Row[];
  try {
    const where = `t.${q(config.idColumn)} = $1${byCode ? ` OR t.${q(config.codeColumn)}::text = $2::text` : ''}`;
    rows = (await client.query<Row>(`${select} WHERE ${where} ORDER BY 1 LIMIT ${limit}`, byCode ? [value, value] : [value])).rows;
  } catch (error) {
    if (!isDataException(error)) throw session.operationError(what, error);
    // Not a value of the id column's type: it can still be a code.
    if (!byCode) throw invalidOrganizationId(value, { table: config.table, column: config.idColumn, type: idColumn.type });
    rows = (
      await client.query<Row>(`${select} WHERE t.${q(config.codeColumn)}::text = $1 ORDER BY 1 LIMIT ${limit}`, [value]).catch((failure: unknown) => {
        throw session.operationError(what, failure);
      })
    ).rows;
  }
  return rows.map((row) => ({ id: row.id, name: row.name, code: row.code, autoBackupEnabled: flagOf(row.auto) }));
}
