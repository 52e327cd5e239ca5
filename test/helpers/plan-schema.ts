/** Schemas written by hand for the planner's unit tests: a dialect, columns, foreign keys, tables. */
import type { ColumnInfo, ForeignKeyInfo, SqlDialect, TableInfo } from '../../src/engines/types.js';

/** Double-quoted identifiers, every id quoted: what the planner's conditions look like in the tests. */
export const dialect: SqlDialect = { quoteIdentifier: (n) => `"${n.replace(/"/g, '""')}"`, literal: (v) => `'${v}'` };

export const col = (name: string, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name,
  type: 'bigint',
  nullable: true,
  encoding: 'string',
  autoIncrement: false,
  generated: false,
  ...extra,
});

/** A foreign key named `<columns>_fk`, to `id` unless told. */
export const fk = (columns: string[], referencedTable: string, referencedColumns = ['id']): ForeignKeyInfo => ({
  name: `${columns.join('_')}_fk`,
  columns,
  referencedTable,
  referencedColumns,
  deferrable: false,
});

/** Columns by name (bigint, nullable) or given whole; primary key `id` unless told. */
export const table = (name: string, columns: Array<string | ColumnInfo>, foreignKeys: ForeignKeyInfo[] = [], primaryKey = ['id']): TableInfo => ({
  name,
  columns: columns.map((c) => (typeof c === 'string' ? col(c) : c)),
  primaryKey,
  foreignKeys,
});
