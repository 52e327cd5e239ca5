/**
 * Finding organizations in the organizations table (MySQL/MariaDB). The id is compared with the id
 * column's own type: integers as bare numbers (a quoted string would be compared as a double, and
 * `'acme'` would match id 0), MariaDB's UUID type and text columns by their own comparison (a
 * uuid in upper case finds its row; a text column's collation decides case), anything else as
 * exact text. A value the id type cannot hold is a UsageError — or, when codes are looked up too,
 * only looked up as a code. Codes are compared as exact text.
 */
import type { Connection } from 'mysql2';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { invalidOrganizationId, UUID_TEXT } from '../organization-id.js';
import type { OrganizationRow } from '../types.js';
import { mysqlDialect, q } from './dialect.js';
import { fail, run, runRaw } from './driver.js';

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext']);

/** `t.<id> = …` for `value`, or null when the column's type cannot hold it. */
function idComparison(column: string, dataType: string, value: string): string | null {
  const ref = `t.${q(column)}`;
  if (INTEGER_TYPES.has(dataType)) return /^\d{1,20}$/.test(value) ? `${ref} = ${BigInt(value).toString()}` : null;
  if (dataType === 'uuid') return UUID_TEXT.test(value) ? `${ref} = ${mysqlDialect.literal(value)}` : null;
  if (TEXT_TYPES.has(dataType)) return `${ref} = ${mysqlDialect.literal(value)}`;
  return `CAST(${ref} AS CHAR) COLLATE utf8mb4_bin = ${mysqlDialect.literal(value)}`;
}

function truthy(raw: Buffer | null | undefined, dataType: string | undefined): boolean | null {
  if (raw == null) return null;
  if (dataType === 'bit' || dataType === 'binary' || dataType === 'varbinary') return raw.some((b) => b !== 0);
  const text = raw.toString('utf8').trim().toLowerCase();
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return Number(text) !== 0;
  return !['', 'false', 'f', 'no', 'n', 'off'].includes(text);
}

/** The organization whose id is `value` — with `orCode`, also those whose code is (at most 10). */
export async function findOrganizationRows(connection: Connection, config: OrganizationsConfig, value: string, orCode: boolean): Promise<OrganizationRow[]> {
  try {
    const columns = (await run(
      connection,
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, COLUMN_TYPE AS full_type FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
      [config.table],
    )) as Array<{ name: string; type: string; full_type: string }>;
    const types = new Map(columns.map((c) => [String(c.name), String(c.type).toLowerCase()]));
    const idType = types.get(config.idColumn);
    if (idType === undefined) {
      throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
    }
    const byCode = orCode && types.has(config.codeColumn);
    const byId = idComparison(config.idColumn, idType, value);
    // Compared as exact text (a string compared with an integer column would be cast to a number).
    const codeMatch = byCode ? `CAST(t.${q(config.codeColumn)} AS CHAR) COLLATE utf8mb4_bin = ${mysqlDialect.literal(value)}` : null;
    if (byId === null && codeMatch === null) {
      const type = String(columns.find((c) => String(c.name) === config.idColumn)?.full_type ?? idType);
      throw invalidOrganizationId(value, { table: config.table, column: config.idColumn, type });
    }
    const where = [byId, codeMatch].filter((part): part is string => part !== null);
    const pick = (name: string) => (types.has(name) ? `t.${q(name)}` : 'NULL');
    const rows = await runRaw(
      connection,
      `SELECT t.${q(config.idColumn)}, ${pick(config.nameColumn)}, ${pick(config.codeColumn)}, ${pick('auto_backup_enabled')}
         FROM ${q(config.table)} t WHERE ${where.join(' OR ')} ORDER BY 1 LIMIT ${orCode ? 10 : 1}`,
    );
    const text = (raw: Buffer | null | undefined) => (raw == null ? null : raw.toString('utf8'));
    return rows.map((row) => ({
      id: text(row[0]) ?? value,
      name: text(row[1]),
      code: text(row[2]),
      autoBackupEnabled: types.has('auto_backup_enabled') ? truthy(row[3], types.get('auto_backup_enabled')) : null,
    }));
  } catch (error) {
    throw fail(`reading organization ${value} from "${config.table}"`, error);
  }
}
