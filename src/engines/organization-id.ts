/**
 * Organization ids as the organizations table's id column compares them. Each engine compares a
 * given id with the column's own type (`id = $1` typed by the column on PostgreSQL, a bare number
 * for MySQL integers, …), so a uuid given in upper case is found; a value that is not valid for
 * that type is the caller's mistake — a UsageError (exit 2) — never "not found". (When the table
 * has a code column, `--org <value>` may mean a code: such a value is looked up as a code only,
 * and one that matches none is "not found", like any unknown code.)
 */
import { UsageError } from '../errors.js';

/** A uuid as MariaDB's UUID type and SQLite applications write it (hex, dashes optional). */
export const UUID_TEXT = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export interface IdColumn {
  table: string;
  column: string;
  /** The column's type as the catalog names it. */
  type: string;
}

export function invalidOrganizationId(value: string, id: IdColumn): UsageError {
  return new UsageError(`"${value}" is not a valid organization id: column "${id.table}"."${id.column}" is of type ${id.type}.`, {
    organization: value,
    column: `${id.table}.${id.column}`,
    type: id.type,
  });
}
