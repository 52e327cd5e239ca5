/** SQLite identifiers and organization-id literals for the planner's conditions. */
import type { SqlDialect } from '../types.js';
import { INT64_MAX } from './codec.js';

export const sqliteDialect: SqlDialect = {
  quoteIdentifier: (name: string) => `"${name.replaceAll('"', '""')}"`,
  /**
   * A bare integer for canonical decimal ids that fit in 64 bits, a quoted string otherwise.
   * SQLite compares by affinity: a bare `1` matches INTEGER/NUMERIC columns and, converted to '1',
   * TEXT columns; it also matches integers in untyped (BLOB-affinity) columns, where a quoted '1'
   * would not. Ids with leading zeros (`007`) stay quoted, so a TEXT column keeps matching '007'.
   */
  literal: (value: string) => (/^(0|[1-9][0-9]{0,18})$/.test(value) && BigInt(value) <= INT64_MAX ? value : `'${value.replaceAll("'", "''")}'`),
};

export const q = sqliteDialect.quoteIdentifier;
