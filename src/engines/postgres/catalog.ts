/**
 * The PostgreSQL catalog as the engine reads it: tables of the configured schema with their
 * columns (base types, domains looked through), primary and foreign keys, each column's NDJSON
 * encoding, and the live columns of one table at export/restore time.
 *
 * Encodings (by the column's base type): int2, int4 → `number`; bool → `boolean`; bytea →
 * `base64`; everything else → `string` (the type's own text output; see export.ts).
 */
import type pg from 'pg';
import { OperationError } from '../../errors.js';
import type { ForeignKeyInfo, SchemaInfo, TableInfo, ValueEncoding } from '../types.js';
import { q } from './dialect.js';

/** Built-in type OIDs (fixed forever by PostgreSQL). */
export const OID = {
  bool: 16,
  bytea: 17,
  int2: 21,
  int4: 23,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

export interface LiveColumn {
  name: string;
  type: string;
  /** OID of the base type (domains looked through). */
  baseOid: number;
  nullable: boolean;
  generated: boolean;
  identity: boolean;
  sequenceDefault: boolean;
  /** The base type has a function cast to text that differs from its output function (bpchar, inet, …). */
  textCast: boolean;
}

/** Columns of the tables of one schema, with their base type (domains resolved recursively). */
export const COLUMNS_SQL = `
  SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
         base.oid AS base_oid, a.attnotnull AS not_null, a.attidentity <> '' AS identity,
         a.attgenerated <> '' AS generated, a.atthasdef AS has_default,
         EXISTS (
           SELECT 1 FROM pg_attrdef ad
           JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
           JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
           WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         ) AS sequence_default,
         EXISTS (
           SELECT 1 FROM pg_cast pc WHERE pc.castsource = base.oid AND pc.casttarget = 'text'::regtype AND pc.castmethod = 'f'
         ) AS text_cast
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL (
    WITH RECURSIVE chain(oid, typtype, typbasetype) AS (
      SELECT ty.oid, ty.typtype, ty.typbasetype FROM pg_type ty WHERE ty.oid = a.atttypid
      UNION ALL
      SELECT ty.oid, ty.typtype, ty.typbasetype FROM pg_type ty JOIN chain ON ty.oid = chain.typbasetype WHERE chain.typtype = 'd'
    )
    SELECT chain.oid FROM chain WHERE chain.typtype <> 'd' LIMIT 1
  ) base
  WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND a.attnum > 0 AND NOT a.attisdropped
    AND ($2::text IS NULL OR c.relname = $2)
  ORDER BY c.relname, a.attnum`;

export interface ColumnRow {
  table_name: string;
  name: string;
  type: string;
  base_oid: string;
  not_null: string;
  identity: string;
  generated: string;
  has_default?: string;
  sequence_default: string;
  text_cast: string;
}

export const toLiveColumn = (row: ColumnRow): LiveColumn => ({
  name: row.name,
  type: row.type,
  baseOid: Number(row.base_oid),
  nullable: row.not_null !== 't',
  generated: row.generated === 't',
  identity: row.identity === 't',
  sequenceDefault: row.sequence_default === 't',
  textCast: row.text_cast === 't',
});

function encodingOf(baseOid: number): ValueEncoding {
  switch (baseOid) {
    case OID.int2:
    case OID.int4:
      return 'number';
    case OID.bool:
      return 'boolean';
    case OID.bytea:
      return 'base64';
    default:
      return 'string';
  }
}

/** pg_constraint.confdeltype → the rule's name. */
const ON_DELETE: Record<string, ForeignKeyInfo['onDelete']> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

export async function readSchema(client: pg.Client, schema: string): Promise<SchemaInfo> {
  const columns = await client.query<ColumnRow>(COLUMNS_SQL, [schema, null]);
  const keys = await client.query<{ table_name: string; columns: string }>(
    `SELECT c.relname AS table_name,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum)::text AS columns
     FROM pg_constraint con
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE con.contype = 'p' AND n.nspname = $1`,
    [schema],
  );
  const foreign = await client.query<{
    name: string;
    table_name: string;
    referenced_table: string;
    deferrable: string;
    columns: string;
    referenced_columns: string;
    on_delete: string;
  }>(
    `SELECT con.conname AS name, c.relname AS table_name, rc.relname AS referenced_table, con.condeferrable AS deferrable,
            con.confdeltype AS on_delete,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum)::text AS columns,
            (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum)::text AS referenced_columns
     FROM pg_constraint con
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_class rc ON rc.oid = con.confrelid
     WHERE con.contype = 'f' AND con.conparentid = 0
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
       AND rc.relnamespace = c.relnamespace
       AND NOT c.relispartition AND NOT rc.relispartition
     ORDER BY c.relname, con.conname`,
    [schema],
  );

  const tables = new Map<string, TableInfo>();
  for (const row of columns.rows) {
    const live = toLiveColumn(row);
    let table = tables.get(row.table_name);
    if (!table) {
      table = { name: row.table_name, columns: [], primaryKey: [], foreignKeys: [] };
      tables.set(row.table_name, table);
    }
    table.columns.push({
      name: live.name,
      type: live.type,
      nullable: live.nullable,
      encoding: encodingOf(live.baseOid),
      autoIncrement: live.identity || live.sequenceDefault,
      generated: live.generated,
      hasDefault: row.has_default === 't',
    });
  }
  for (const row of keys.rows) {
    const table = tables.get(row.table_name);
    if (table) table.primaryKey = JSON.parse(row.columns) as string[];
  }
  for (const row of foreign.rows) {
    const table = tables.get(row.table_name);
    if (!table || !tables.has(row.referenced_table)) continue;
    const fk: ForeignKeyInfo = {
      name: row.name,
      columns: JSON.parse(row.columns) as string[],
      referencedTable: row.referenced_table,
      referencedColumns: JSON.parse(row.referenced_columns) as string[],
      deferrable: row.deferrable === 't',
      onDelete: ON_DELETE[row.on_delete] ?? 'NO ACTION',
    };
    table.foreignKeys.push(fk);
  }
  return { tables: [...tables.values()] };
}

export async function liveColumns(client: pg.Client, schema: string, table: string): Promise<Map<string, LiveColumn>> {
  const result = await client.query<ColumnRow>(COLUMNS_SQL, [schema, table]);
  if (result.rows.length === 0) throw new OperationError(`Table "${table}" does not exist in schema "${schema}".`, { details: { table } });
  return new Map(result.rows.map((row) => [row.name, toLiveColumn(row)]));
}

/**
 * The table's own rows in a FROM clause: `ONLY "t"` for an ordinary table, so that rows of tables
 * inheriting from it (legacy inheritance) are left to those tables' own plans; a partitioned
 * table holds no rows itself, its partitions are read through it.
 */
export async function ownRows(client: pg.Client, schema: string, table: string): Promise<string> {
  const result = await client.query<{ relkind: string }>(`SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, [
    schema,
    table,
  ]);
  const kind = result.rows[0]?.relkind;
  if (kind === undefined) throw new OperationError(`Table "${table}" does not exist in schema "${schema}".`, { details: { table } });
  return kind === 'p' ? q(table) : `ONLY ${q(table)}`;
}

/** The schema's columns and relation kinds as one snapshot sees them: read once (two queries). */
export interface SnapshotCatalog {
  columns: Map<string, Map<string, LiveColumn>>;
  kinds: Map<string, string>;
  /** pg_table_size of each relation (a partitioned table: the sum of its partitions', one level down). */
  sizes: Map<string, number>;
}

export async function readCatalog(client: pg.Client, schema: string): Promise<SnapshotCatalog> {
  const columns = await client.query<ColumnRow>(COLUMNS_SQL, [schema, null]);
  const kinds = await client.query<{ relname: string; relkind: string; bytes: string }>(
    `SELECT c.relname, c.relkind,
            CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_table_size(i.inhrelid)), 0) FROM pg_inherits i WHERE i.inhparent = c.oid)
                 WHEN c.relkind IN ('r', 'm') THEN pg_table_size(c.oid) ELSE 0 END AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
    [schema],
  );
  const byTable = new Map<string, Map<string, LiveColumn>>();
  for (const row of columns.rows) {
    let table = byTable.get(row.table_name);
    if (!table) byTable.set(row.table_name, (table = new Map()));
    table.set(row.name, toLiveColumn(row));
  }
  return {
    columns: byTable,
    kinds: new Map(kinds.rows.map((row) => [row.relname, row.relkind])),
    sizes: new Map(kinds.rows.map((row) => [row.relname, Number(row.bytes)])),
  };
}

/**
 * `liveColumns` and `ownRows` for every table of the schema, from one catalog read (two queries)
 * made on first use and kept for the life of one snapshot or one restore transaction (neither
 * changes the schema's tables). With 130 tables, asking per table cost ~500 queries a restore.
 */
export class TransactionCatalog {
  private catalog: Promise<SnapshotCatalog> | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly schema: string,
  ) {}

  private load(): Promise<SnapshotCatalog> {
    if (!this.catalog) {
      const reading = readCatalog(this.client, this.schema);
      // A failed read is not kept: the next use asks again (and reports its own error).
      reading.catch(() => {
        if (this.catalog === reading) this.catalog = undefined;
      });
      this.catalog = reading;
    }
    return this.catalog;
  }

  /** As the function liveColumns. */
  async liveColumns(table: string): Promise<Map<string, LiveColumn>> {
    const columns = (await this.load()).columns.get(table);
    if (!columns) throw new OperationError(`Table "${table}" does not exist in schema "${this.schema}".`, { details: { table } });
    return columns;
  }

  /** pg_table_size of each table. */
  async sizes(): Promise<Map<string, number>> {
    return (await this.load()).sizes;
  }

  /** As the function ownRows. */
  async ownRows(table: string): Promise<string> {
    const kind = (await this.load()).kinds.get(table);
    if (kind === undefined) throw new OperationError(`Table "${table}" does not exist in schema "${this.schema}".`, { details: { table } });
    return kind === 'p' ? q(table) : `ONLY ${q(table)}`;
  }
}

/** An `auto_backup_enabled` value as text: boolean → 'true'/'false'; integer flags → '1'/'0'. */
export function flagOf(text: string | null): boolean | null {
  return text === null ? null : !['false', 'f', '0', 'no', 'off', ''].includes(text.toLowerCase());
}
