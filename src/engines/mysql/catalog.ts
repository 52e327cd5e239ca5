/**
 * MySQL/MariaDB introspection: the base tables of the connection's database, their columns,
 * primary and foreign keys, and each column's NDJSON encoding:
 *
 * | type                                              | encoding                                |
 * |---------------------------------------------------|-----------------------------------------|
 * | TINYINT SMALLINT MEDIUMINT INT (signed/unsigned)  | number (BOOLEAN = TINYINT(1) → 0/1)     |
 * | BINARY VARBINARY *BLOB BIT, spatial types         | base64 of the raw bytes                 |
 * | everything else (BIGINT, DECIMAL, dates, text, …) | string (see export-codec.ts)            |
 *
 * MariaDB's JSON is LONGTEXT with a json_valid CHECK: such columns are reported as type `json`.
 */
import type { Connection } from 'mysql2';
import { ConfigError } from '../../errors.js';
import type { ForeignKeyInfo, SchemaInfo, TableInfo, ValueEncoding } from '../types.js';
import { run } from './driver.js';

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer']);
const BINARY_TYPES = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'bit',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
  'vector',
]);

function encodingOf(dataType: string): ValueEncoding {
  if (INTEGER_TYPES.has(dataType)) return 'number';
  if (BINARY_TYPES.has(dataType)) return 'base64';
  return 'string';
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  column_type: string;
  is_nullable: string;
  extra: string;
  has_default: number | string;
}

export async function introspectSchema(connection: Connection, mariadb: boolean): Promise<SchemaInfo> {
  const database = ((await run(connection, 'SELECT DATABASE() AS db')) as Array<{ db: string | null }>)[0]?.db;
  if (!database) throw new ConfigError('organizations.connection names no database (MySQL/MariaDB needs one: the shared database).');

  const tables = (await run(
    connection,
    `SELECT TABLE_NAME AS table_name FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    [database],
  )) as Array<{ table_name: string }>;
  const columns = (await run(
    connection,
    `SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, c.DATA_TYPE AS data_type,
            c.COLUMN_TYPE AS column_type, c.IS_NULLABLE AS is_nullable, c.EXTRA AS extra,
            c.COLUMN_DEFAULT IS NOT NULL AS has_default
       FROM information_schema.COLUMNS c
       JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE'
      ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
    [database],
  )) as ColumnRow[];
  const keys = (await run(
    connection,
    `SELECT k.TABLE_NAME AS table_name, k.CONSTRAINT_NAME AS constraint_name, k.COLUMN_NAME AS column_name,
            k.REFERENCED_TABLE_SCHEMA AS referenced_schema, k.REFERENCED_TABLE_NAME AS referenced_table,
            k.REFERENCED_COLUMN_NAME AS referenced_column, tc.CONSTRAINT_TYPE AS constraint_type
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.TABLE_CONSTRAINTS tc
         ON tc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND tc.TABLE_NAME = k.TABLE_NAME AND tc.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.TABLE_SCHEMA = ? AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'FOREIGN KEY')
      ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    [database],
  )) as Array<{
    table_name: string;
    constraint_name: string;
    column_name: string;
    referenced_schema: string | null;
    referenced_table: string | null;
    referenced_column: string | null;
    constraint_type: string;
  }>;
  const rules = (await run(
    connection,
    `SELECT TABLE_NAME AS table_name, CONSTRAINT_NAME AS constraint_name, DELETE_RULE AS delete_rule
       FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?`,
    [database],
  )) as Array<{ table_name: string; constraint_name: string; delete_rule: string }>;
  const deleteRules = new Map(rules.map((r) => [`${r.table_name}\u0000${r.constraint_name}`, String(r.delete_rule).toUpperCase()]));
  // MariaDB's JSON is LONGTEXT with a column-level CHECK (json_valid(`col`)) named after the column.
  const jsonColumns = new Set<string>();
  if (mariadb) {
    const checks = (await run(
      connection,
      `SELECT TABLE_NAME AS table_name, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = ? AND LEVEL = 'Column'`,
      [database],
    )) as Array<{ table_name: string; clause: string }>;
    for (const check of checks) {
      const match = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(check.clause).trim());
      if (match) jsonColumns.add(`${check.table_name}\u0000${match[1]!.replace(/``/g, '`')}`);
    }
  }

  const byTable = new Map<string, TableInfo>(tables.map((t) => [String(t.table_name), { name: String(t.table_name), columns: [], primaryKey: [], foreignKeys: [] }]));
  for (const row of columns) {
    const table = byTable.get(String(row.table_name));
    if (!table) continue;
    const name = String(row.column_name);
    const dataType = String(row.data_type).toLowerCase();
    const extra = String(row.extra ?? '');
    const json = dataType === 'json' || (dataType === 'longtext' && jsonColumns.has(`${table.name}\u0000${name}`));
    table.columns.push({
      name,
      type: json ? 'json' : String(row.column_type),
      nullable: String(row.is_nullable).toUpperCase() === 'YES',
      encoding: encodingOf(dataType),
      autoIncrement: /\bauto_increment\b/i.test(extra),
      // MySQL 8 also says DEFAULT_GENERATED for expression defaults, which are ordinary columns.
      generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(extra),
      hasDefault: Number(row.has_default) === 1,
    });
  }
  const foreignKeys = new Map<string, ForeignKeyInfo>();
  for (const key of keys) {
    const table = byTable.get(String(key.table_name));
    if (!table) continue;
    if (key.constraint_type === 'PRIMARY KEY') {
      table.primaryKey.push(String(key.column_name));
      continue;
    }
    // Foreign keys into another database are not part of this one's organization graph.
    if (!key.referenced_table || (key.referenced_schema !== null && key.referenced_schema !== database)) continue;
    const id = `${table.name}\u0000${key.constraint_name}`;
    let fk = foreignKeys.get(id);
    if (!fk) {
      const rule = deleteRules.get(`${table.name}\u0000${key.constraint_name}`);
      fk = {
        name: String(key.constraint_name),
        columns: [],
        referencedTable: String(key.referenced_table),
        referencedColumns: [],
        deferrable: false,
        onDelete: rule === 'CASCADE' || rule === 'SET NULL' || rule === 'SET DEFAULT' || rule === 'RESTRICT' ? rule : 'NO ACTION',
      };
      foreignKeys.set(id, fk);
      table.foreignKeys.push(fk);
    }
    fk.columns.push(String(key.column_name));
    fk.referencedColumns.push(String(key.referenced_column));
  }
  return { tables: [...byTable.values()] };
}
