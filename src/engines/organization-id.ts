/**
 * Organization ids as the organizations table's id column compares them. Each engine compares a
 * given id with the column's own type (`id = $1` typed by the column on PostgreSQL, a bare number
 * for MySQL integers, …), so a uuid given in upper case is found; a value that is not valid for
 * that type is the caller's mistake — a UsageError (exit 2) — never "not found".
 */
import { UsageError } from '../errors.js';

/** A uuid as MariaDB's UUID type and SQLite applications write it (hex, dashes optional). */
export const UUID_TEXT = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface IdColumn {
  table: string;
  column: string;
  /** The column's type as the catalog names it. */
  type: string;
  /** The code column, when the table has one (the value may have been meant as a code). */
  codeColumn?: string | undefined;
}

export function invalidOrganizationId(value: string, id: IdColumn): UsageError {
  const orCode = id.codeColumn ? ` and no organization has it as its ${id.codeColumn}` : '';
  return new UsageError(`"${value}" is not a valid organization id: column "${id.table}"."${id.column}" is of type ${id.type}${orCode}.`, {
    organization: value,
    column: `${id.table}.${id.column}`,
    type: id.type,
  });
}
