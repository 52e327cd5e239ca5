/**
 * Exact per-table checksums for round-trip tests ("organization A restored exactly, B untouched").
 *
 * Contract:
 * - Every value is turned into text INSIDE the database, never parsed by the JS driver, so 64-bit
 *   integers, decimals, floats, microseconds, bytes and JSON text are compared exactly:
 *   - PostgreSQL: `col::text` in a READ ONLY transaction with pinned TimeZone 'UTC', DateStyle ISO,
 *     IntervalStyle postgres, extra_float_digits 1 (shortest exact floats), bytea_output hex;
 *     rows stream through a server-side cursor.
 *   - MySQL/MariaDB: `CAST(col AS CHAR CHARACTER SET utf8mb4)`, except binary/BLOB/BIT/spatial
 *     -> `HEX(col)`, FLOAT -> via DOUBLE (MariaDB prints FLOAT with 6 digits), TIMESTAMP ->
 *     `UNIX_TIMESTAMP(col)` (exact and independent of the session time zone); rows stream.
 *   - SQLite: `quote(col)`, which also shows the storage class (1 vs 1.0 vs '1' vs X'01').
 *   SQL NULL stays distinct from every string.
 * - Rows are ordered by the full primary key read from the catalog. Tables (or views) without a
 *   primary key are sorted in memory by their row text instead (fine for test-sized data only).
 * - The sha256 covers the column names (in table order) and then, per row, each value
 *   length-prefixed; it is streamed into the hash, never built as one string.
 * - Pass the root Knex (or a transaction: PostgreSQL then uses a savepoint instead of BEGIN).
 *   A table name is one identifier (no schema prefix); it may contain any characters.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { BILLING_ORG_TABLES, BILLING_TENANT_TABLE, billingOrganizationFilter, type OrganizationId } from './fixtures.js';

export type ChecksumEngine = 'postgres' | 'mysql' | 'sqlite';

/** Restricts the checksummed rows: raw SQL (unqualified columns of the table) or a Knex builder callback. */
export type RowFilter = { sql: string; bindings: readonly unknown[] } | ((qb: Knex.QueryBuilder) => void);

export interface ChecksumOptions {
  where?: RowFilter;
}

export interface TableChecksum {
  rows: number;
  sha256: string;
}

export interface TableDescription {
  columns: { name: string; type: string }[];
  primaryKey: string[];
}

/** One row: each column's exact text form, or null for SQL NULL. */
export type ExactRow = (string | null)[];

export async function checksumTable(knex: Knex, engine: ChecksumEngine, table: string, options: ChecksumOptions = {}): Promise<TableChecksum> {
  const description = await describeTable(knex, engine, table);
  const hash = createHash('sha256');
  hashValues(
    hash,
    description.columns.map((c) => c.name),
  );
  let rows = 0;
  for await (const row of readRows(knex, engine, table, description, options)) {
    hashValues(hash, row);
    rows++;
  }
  return { rows, sha256: hash.digest('hex') };
}

/** Checksums several tables one after the other; the result is keyed by table name. */
export async function checksumTables(
  knex: Knex,
  engine: ChecksumEngine,
  tables: readonly string[],
  whereByTable: Readonly<Record<string, RowFilter | undefined>> = {},
): Promise<Record<string, TableChecksum>> {
  const result: Record<string, TableChecksum> = {};
  for (const table of tables) {
    const where = whereByTable[table];
    result[table] = await checksumTable(knex, engine, table, where ? { where } : {});
  }
  return result;
}

/**
 * Checksums of every billing-fixture organization table restricted to one organization (child
 * tables through their parents), plus that organization's own `organizations` row unless
 * `includeOrganizationRow: false`.
 */
export async function checksumOrganization(
  knex: Knex,
  engine: ChecksumEngine,
  orgId: OrganizationId,
  options: { tables?: readonly string[]; includeOrganizationRow?: boolean } = {},
): Promise<Record<string, TableChecksum>> {
  const tables = [...(options.includeOrganizationRow === false ? [] : [BILLING_TENANT_TABLE]), ...(options.tables ?? BILLING_ORG_TABLES)];
  const where: Record<string, RowFilter> = {};
  for (const table of tables) where[table] = billingOrganizationFilter(table, orgId);
  return checksumTables(knex, engine, tables, where);
}

/** All rows of a table as exact text (for diffing when checksums differ; small tables only). */
export async function readExactTable(knex: Knex, engine: ChecksumEngine, table: string, options: ChecksumOptions = {}): Promise<{ columns: string[]; rows: ExactRow[] }> {
  const description = await describeTable(knex, engine, table);
  const rows: ExactRow[] = [];
  for await (const row of readRows(knex, engine, table, description, options)) rows.push(row);
  return { columns: description.columns.map((c) => c.name), rows };
}

/** Streams a table's rows as exact text, ordered by primary key. */
export async function* readExactRows(knex: Knex, engine: ChecksumEngine, table: string, options: ChecksumOptions = {}): AsyncGenerator<ExactRow> {
  yield* readRows(knex, engine, table, await describeTable(knex, engine, table), options);
}

// ------------------------------------------------------------------------------------- catalog

export function quoteIdentifier(engine: ChecksumEngine, name: string): string {
  return engine === 'mysql' ? `\`${name.replaceAll('`', '``')}\`` : `"${name.replaceAll('"', '""')}"`;
}

function rowsOf(engine: ChecksumEngine, result: unknown): Record<string, unknown>[] {
  if (engine === 'postgres') return (result as { rows: Record<string, unknown>[] }).rows;
  if (engine === 'mysql') return (result as [Record<string, unknown>[], unknown])[0];
  return result as Record<string, unknown>[];
}

/** Columns (in table order, with their declared type) and primary-key columns (in key order). */
export async function describeTable(knex: Knex, engine: ChecksumEngine, table: string): Promise<TableDescription> {
  let columns: { name: string; type: string }[];
  let primaryKey: string[];
  if (engine === 'postgres') {
    const relation = quoteIdentifier('postgres', table);
    columns = rowsOf(
      engine,
      await knex.raw(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
         WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [relation],
      ),
    ).map((r) => ({ name: String(r['name']), type: String(r['type']) }));
    primaryKey = rowsOf(
      engine,
      await knex.raw(
        `SELECT a.attname AS name FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = to_regclass(?) AND i.indisprimary ORDER BY k.ord`,
        [relation],
      ),
    ).map((r) => String(r['name']));
  } else if (engine === 'mysql') {
    columns = rowsOf(
      engine,
      await knex.raw(
        `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
        [table],
      ),
    ).map((r) => ({ name: String(r['name']), type: String(r['type']).toLowerCase() }));
    primaryKey = rowsOf(
      engine,
      await knex.raw(
        `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
        [table],
      ),
    ).map((r) => String(r['name']));
  } else {
    const info = rowsOf(engine, await knex.raw('SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid', [table]));
    columns = info.map((r) => ({ name: String(r['name']), type: String(r['type']) }));
    primaryKey = info
      .filter((r) => Number(r['pk']) > 0)
      .sort((a, b) => Number(a['pk']) - Number(b['pk']))
      .map((r) => String(r['name']));
  }
  if (columns.length === 0) throw new Error(`checksum: table ${JSON.stringify(table)} not found (${engine})`);
  return { columns, primaryKey };
}

// ------------------------------------------------------------------------------------- reading

const MYSQL_HEX_TYPES = new Set([
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
]);

function valueExpression(engine: ChecksumEngine, column: { name: string; type: string }): string {
  const col = quoteIdentifier(engine, column.name);
  if (engine === 'postgres') return `${col}::text`;
  if (engine === 'sqlite') return `quote(${col})`;
  if (MYSQL_HEX_TYPES.has(column.type)) return `HEX(${col})`;
  if (column.type === 'float') return `CAST(CAST(${col} AS DOUBLE) AS CHAR CHARACTER SET utf8mb4)`;
  if (column.type === 'timestamp') return `CAST(UNIX_TIMESTAMP(${col}) AS CHAR CHARACTER SET utf8mb4)`;
  return `CAST(${col} AS CHAR CHARACTER SET utf8mb4)`;
}

function buildQuery(knex: Knex, engine: ChecksumEngine, table: string, description: TableDescription, options: ChecksumOptions): { sql: string; bindings: unknown[] } {
  const select = description.columns.map((c, i) => `${valueExpression(engine, c)} AS c${i}`).join(', ');
  const qb = knex
    .queryBuilder()
    .select(knex.raw(select))
    .from(knex.raw(quoteIdentifier(engine, table)));
  const where = options.where;
  if (typeof where === 'function') void qb.where(where);
  else if (where) void qb.whereRaw(where.sql, [...where.bindings] as Knex.RawBinding[]);
  if (description.primaryKey.length > 0) void qb.orderByRaw(description.primaryKey.map((c) => quoteIdentifier(engine, c)).join(', '));
  const native = qb.toSQL().toNative();
  return { sql: native.sql, bindings: [...native.bindings] };
}

async function* readRows(knex: Knex, engine: ChecksumEngine, table: string, description: TableDescription, options: ChecksumOptions): AsyncGenerator<ExactRow> {
  const query = buildQuery(knex, engine, table, description, options);
  const rows = engine === 'postgres' ? readPostgres(knex, query) : engine === 'mysql' ? readMysql(knex, query) : readSqlite(knex, query);
  if (description.primaryKey.length > 0) {
    yield* rows;
    return;
  }
  // No primary key: a deterministic order needs the values themselves.
  const all: { key: string; row: ExactRow }[] = [];
  for await (const row of rows) all.push({ key: encodeRow(row), row });
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { row } of all) yield row;
}

interface PgClientLike {
  query(config: { text: string; values?: unknown[]; rowMode?: 'array' }): Promise<{ rows: unknown[][] }>;
  query(text: string): Promise<unknown>;
}

const PG_FETCH = 500;

async function* readPostgres(knex: Knex, query: { sql: string; bindings: unknown[] }): AsyncGenerator<ExactRow> {
  const client = knex.client as Knex.Client;
  const connection = (await client.acquireConnection()) as PgClientLike;
  const inTransaction = (knex as Knex & { isTransaction?: boolean }).isTransaction === true;
  const cursor = `tb_checksum_${Math.random().toString(36).slice(2)}`;
  try {
    await connection.query(inTransaction ? `SAVEPOINT ${cursor}` : 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      for (const setting of ["TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'", 'extra_float_digits = 1', "bytea_output = 'hex'"]) {
        await connection.query(`SET LOCAL ${setting}`);
      }
      await connection.query({ text: `DECLARE ${cursor} NO SCROLL CURSOR FOR ${query.sql}`, values: query.bindings });
      for (;;) {
        const batch = await connection.query({ text: `FETCH FORWARD ${PG_FETCH} FROM ${cursor}`, rowMode: 'array' });
        for (const row of batch.rows) yield row.map((v) => (v === null ? null : String(v)));
        if (batch.rows.length < PG_FETCH) break;
      }
    } finally {
      // Read only: rolling back also undoes the SET LOCALs (for a savepoint, too).
      await connection.query(inTransaction ? `ROLLBACK TO SAVEPOINT ${cursor}` : 'ROLLBACK');
      if (inTransaction) await connection.query(`RELEASE SAVEPOINT ${cursor}`);
    }
  } finally {
    await client.releaseConnection(connection);
  }
}

interface MysqlConnectionLike {
  query(options: { sql: string; values?: unknown[]; rowsAsArray?: boolean }): { stream(options?: { highWaterMark?: number }): NodeJS.ReadableStream };
  destroy(): void;
}

async function* readMysql(knex: Knex, query: { sql: string; bindings: unknown[] }): AsyncGenerator<ExactRow> {
  const client = knex.client as Knex.Client;
  const connection = (await client.acquireConnection()) as MysqlConnectionLike;
  let completed = false;
  try {
    const stream = connection.query({ sql: query.sql, values: query.bindings, rowsAsArray: true }).stream({ highWaterMark: 500 });
    for await (const row of stream as AsyncIterable<unknown[]>) {
      yield row.map((v) => (v === null ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
    }
    completed = true;
  } finally {
    // A half-read result set leaves the connection unusable: drop it instead of pooling it.
    if (!completed) connection.destroy();
    await client.releaseConnection(connection);
  }
}

interface SqliteDatabaseLike {
  prepare(sql: string): { raw(toggle: boolean): { iterate(...bindings: unknown[]): IterableIterator<unknown[]> } };
}

async function* readSqlite(knex: Knex, query: { sql: string; bindings: unknown[] }): AsyncGenerator<ExactRow> {
  const client = knex.client as Knex.Client;
  const connection = (await client.acquireConnection()) as SqliteDatabaseLike;
  try {
    // Same binding conversions as Knex's better-sqlite3 client.
    const bindings = query.bindings.map((b) => (b instanceof Date ? b.valueOf() : typeof b === 'boolean' ? Number(b) : b));
    for (const row of connection
      .prepare(query.sql)
      .raw(true)
      .iterate(...bindings)) {
      yield row.map((v) => (v === null ? null : String(v)));
    }
  } finally {
    await client.releaseConnection(connection);
  }
}

// ------------------------------------------------------------------------------------- hashing

function hashValues(hash: ReturnType<typeof createHash>, values: readonly (string | null)[]): void {
  for (const value of values) {
    if (value === null) hash.update('N;');
    else hash.update(`S${Buffer.byteLength(value, 'utf8')}:`).update(value, 'utf8');
  }
  hash.update('\n');
}

function encodeRow(row: ExactRow): string {
  return row.map((v) => (v === null ? 'N;' : `S${v.length}:${v}`)).join('');
}
