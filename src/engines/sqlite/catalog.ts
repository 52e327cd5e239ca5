/**
 * SQLite introspection: the `main` database's ordinary tables (virtual tables and their shadow
 * tables are not part of a backup), columns with their declared types and natural encodings
 * (codec.ts), generated columns, rowid aliases, primary and foreign keys.
 */
import type { ColumnInfo, ForeignKeyInfo, SchemaInfo, TableInfo } from '../types.js';
import { sqliteEncoding } from './codec.js';
import type { Database } from './database.js';

export interface XInfoRow {
  cid: bigint;
  name: string;
  type: string;
  notnull: bigint;
  dflt_value: unknown;
  pk: bigint;
  hidden: bigint;
}

interface ForeignKeyRow {
  id: bigint;
  seq: bigint;
  table: string;
  from: string;
  to: string | null;
  on_delete: string;
}

export function tableColumns(db: Database, table: string): XInfoRow[] {
  return db.prepare('SELECT * FROM pragma_table_xinfo(?) ORDER BY cid').all(table) as XInfoRow[];
}

/** SQLite identifiers are case-insensitive (ASCII only). */
export const fold = (name: string) => name.replace(/[A-Z]+/g, (s) => s.toLowerCase());

export function introspectSchema(db: Database): SchemaInfo {
  const tables = db
    .prepare(`SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`)
    .all() as Array<{ name: string; wr: bigint }>;

  const infos = new Map<string, TableInfo>();
  for (const { name, wr } of tables) {
    const xinfo = tableColumns(db, name);
    const primaryKey = xinfo
      .filter((c) => c.pk > 0n)
      .sort((a, b) => Number(a.pk - b.pk))
      .map((c) => c.name);
    // A rowid alias: a single INTEGER PRIMARY KEY on a rowid table without its own pk index
    // (`INTEGER PRIMARY KEY DESC` and `INT PRIMARY KEY` get an index and are not aliases).
    let rowidAlias: string | undefined;
    if (wr === 0n && primaryKey.length === 1) {
      const column = xinfo.find((c) => c.name === primaryKey[0])!;
      const pkIndex = db.prepare(`SELECT 1 FROM pragma_index_list(?) WHERE origin = 'pk'`).get(name);
      if (column.type.toUpperCase() === 'INTEGER' && pkIndex === undefined) rowidAlias = column.name;
    }
    const columns: ColumnInfo[] = xinfo
      .filter((c) => c.hidden !== 1n)
      .map((c) => ({
        name: c.name,
        type: c.type,
        nullable: c.notnull === 0n && c.name !== rowidAlias,
        encoding: sqliteEncoding(c.type),
        autoIncrement: c.name === rowidAlias,
        generated: c.hidden === 2n || c.hidden === 3n,
        hasDefault: c.dflt_value !== null && c.dflt_value !== undefined,
      }));
    infos.set(fold(name), { name, columns, primaryKey, foreignKeys: [] });
  }

  for (const info of infos.values()) {
    const rows = db.prepare('SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq').all(info.name) as ForeignKeyRow[];
    const groups = new Map<bigint, ForeignKeyRow[]>();
    for (const row of rows) groups.set(row.id, [...(groups.get(row.id) ?? []), row]);
    for (const group of groups.values()) {
      const parent = infos.get(fold(group[0]!.table));
      const columns = group.map((row) => row.from);
      // `to` is NULL when the clause names no columns: the parent's primary key, in key order.
      const referenced = group.map((row, i) => row.to ?? parent?.primaryKey[i] ?? '');
      const resolve = (name: string) => parent?.columns.find((c) => fold(c.name) === fold(name))?.name ?? name;
      info.foreignKeys.push({
        name: `${info.name}_${columns.join('_')}_fkey`,
        columns: columns.map((name) => info.columns.find((c) => fold(c.name) === fold(name))?.name ?? name),
        referencedTable: parent?.name ?? group[0]!.table,
        referencedColumns: referenced.map(resolve),
        // Every SQLite foreign key is checked at COMMIT during a restore (defer_foreign_keys).
        deferrable: true,
        onDelete: onDeleteRule(group[0]!.on_delete),
      });
    }
  }
  return { tables: [...infos.values()] };
}

function onDeleteRule(rule: string): ForeignKeyInfo['onDelete'] {
  const upper = String(rule).toUpperCase();
  return upper === 'CASCADE' || upper === 'SET NULL' || upper === 'SET DEFAULT' || upper === 'RESTRICT' ? upper : 'NO ACTION';
}
