/**
 * MySQL/MariaDB restore, inside the one transaction the session opens: NDJSON rows become
 * multi-row INSERTs of ≤ 1000 rows / ≤ 4 MiB, one running on the server while the next is built
 * here. With FOREIGN_KEY_CHECKS off for that transaction (see session.ts), the references of the
 * restored rows — and references into them from outside the plan — are checked before COMMIT.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Connection } from 'mysql2';
import { OperationError, describeCause } from '../../errors.js';
import type { ColumnInfo, ForeignKeyInfo, SchemaInfo, TablePlan } from '../types.js';
import { q } from './dialect.js';
import { fail, run, runRaw, type MysqlModule } from './driver.js';

/** Largest multi-row INSERT, in rows and in characters of SQL (kept well under max_allowed_packet). */
const BATCH_ROWS = 1000;
export const BATCH_CHARS = 4 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type ValueSql = (value: unknown) => string;

function valueSqlFor(mysql: MysqlModule, column: ColumnInfo): ValueSql {
  const bad = (value: unknown): never => {
    throw new Error(`column "${column.name}" (${column.encoding}) cannot hold ${JSON.stringify(value)?.slice(0, 80)}`);
  };
  switch (column.encoding) {
    case 'number':
      return (v) => (v === null ? 'NULL' : typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? mysql.escape(v) : bad(v));
    case 'string':
      return (v) => (v === null ? 'NULL' : typeof v === 'string' ? mysql.escape(v) : bad(v));
    case 'boolean':
      return (v) => (v === null ? 'NULL' : v === true ? 'TRUE' : v === false ? 'FALSE' : bad(v));
    case 'base64':
      // The server decodes: no Buffer per value here, and the SQL is 4/3 of the bytes, not 2x as
      // a hex literal would be. The check keeps archive content from ever becoming SQL.
      return (v) => (v === null ? 'NULL' : typeof v === 'string' && v.length % 4 === 0 && BASE64.test(v) ? `FROM_BASE64('${v}')` : bad(v));
    case 'json':
      return (v) => (v === null ? 'NULL' : mysql.escape(JSON.stringify(v)));
  }
}

export async function importRows(
  mysql: MysqlModule,
  connection: Connection,
  batchChars: number,
  plan: TablePlan,
  columns: ColumnInfo[],
  input: Readable,
  onRows: ((rows: number) => void) | undefined,
): Promise<number> {
  const live = new Set(plan.columns.map((c) => c.name));
  for (const column of columns) {
    if (!live.has(column.name)) {
      throw new OperationError(`Cannot restore table "${plan.table}": the archive has column "${column.name}", which the table no longer has (or which is generated).`);
    }
  }
  const encoders = columns.map((c) => valueSqlFor(mysql, c));
  const width = columns.length;
  const prefix = `INSERT INTO ${q(plan.table)} (${columns.map((c) => q(c.name)).join(', ')}) VALUES `;

  let inserted = 0;
  let sent = 0;
  let lineNumber = 0;
  let batch = '';
  let batchRows = 0;
  // One INSERT runs on the server while the next batch is parsed and built here; a failure
  // surfaces at the next flush (or at the end), never later.
  let inflight: Promise<void> | undefined;

  const flush = async () => {
    if (batchRows === 0) return;
    const sql = prefix + batch;
    const rows = batchRows;
    const first = sent + 1;
    batch = '';
    batchRows = 0;
    sent += rows;
    if (inflight) await inflight;
    inflight = run(connection, sql).then(
      () => {
        inserted += rows;
        onRows?.(inserted);
      },
      (error: unknown) => {
        throw fail(`inserting into table "${plan.table}" (rows ${first}–${first + rows - 1})`, error);
      },
    );
    inflight.catch(() => undefined); // observed by the next flush or the final await
  };
  const addLine = async (line: string) => {
    lineNumber += 1;
    if (line === '') return;
    let values: unknown;
    try {
      values = JSON.parse(line);
      if (!Array.isArray(values) || values.length !== width) throw new Error(`expected a JSON array of ${width} values`);
    } catch (error) {
      throw new OperationError(`Cannot restore table "${plan.table}": line ${lineNumber} of its rows is not valid: ${describeCause(error)}`);
    }
    let tuple = '(';
    try {
      for (let i = 0; i < width; i++) {
        if (i > 0) tuple += ',';
        tuple += encoders[i]!(values[i]);
      }
    } catch (error) {
      throw new OperationError(`Cannot restore table "${plan.table}": line ${lineNumber}: ${describeCause(error)}`);
    }
    tuple += ')';
    if (batchRows > 0 && batch.length + tuple.length + 1 > batchChars) await flush();
    batch = batchRows === 0 ? tuple : batch + ',' + tuple;
    batchRows += 1;
    if (batchRows >= BATCH_ROWS || batch.length >= batchChars) await flush();
  };

  // Lines are cut out of the byte stream as it arrives; pulling the next chunk waits for the
  // previous INSERT (back-pressure). An error the stream raises at its end (checksum mismatch)
  // surfaces from the loop and rejects before the last batch is sent.
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      await addLine(pending.slice(start, nl));
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  if (pending !== '') await addLine(pending);
  await flush();
  if (inflight) await inflight;
  return inserted;
}

/**
 * With foreign-key checks off, MySQL would commit dangling references; this stands in for the
 * check InnoDB skipped, limited to the restored (organization's) rows of each planned table.
 */
export async function checkRestoredReferences(connection: Connection, schema: SchemaInfo, plan: TablePlan[]): Promise<void> {
  const tables = new Map(schema.tables.map((t) => [t.name, t]));
  await checkOutsideReferences(connection, schema, plan);
  for (const table of plan) {
    for (const fk of tables.get(table.table)?.foreignKeys ?? []) {
      const values = await findDanglingReference(connection, table.table, fk, table.where);
      if (values !== null) {
        throw new OperationError(
          `Restore refused: table "${table.table}" would reference a missing row of "${fk.referencedTable}" ` +
            `through foreign key ${fk.name} (${fk.columns.join(', ')}) = (${values}). Nothing was changed.`,
        );
      }
    }
  }
}

/**
 * With FOREIGN_KEY_CHECKS off, deleting the organization's rows would not stop at rows of tables
 * outside the plan (excluded tables, other organizations' rows) that still point at them —
 * `ON DELETE RESTRICT` would be bypassed. So every foreign key from outside the plan into a
 * planned table is checked too (a scan of that table; an index on its key columns helps).
 */
async function checkOutsideReferences(connection: Connection, schema: SchemaInfo, plan: TablePlan[]): Promise<void> {
  const planned = new Set(plan.map((p) => p.table));
  for (const table of schema.tables) {
    if (planned.has(table.name)) continue;
    for (const fk of table.foreignKeys) {
      if (!planned.has(fk.referencedTable)) continue;
      const values = await findDanglingReference(connection, table.name, fk);
      if (values !== null) {
        throw new OperationError(
          `Restore refused: table "${table.name}" (not part of the organization's backup) references a row of "${fk.referencedTable}" ` +
            `that the restore would remove, through foreign key ${fk.name} (${fk.columns.join(', ')}) = (${values}). Nothing was changed.`,
        );
      }
    }
  }
}

/** The key values of one row of `table` (restricted by `where`, alias `t`) whose parent is missing, or null. */
async function findDanglingReference(connection: Connection, table: string, fk: ForeignKeyInfo, where?: string): Promise<string | null> {
  const notNull = fk.columns.map((c) => `t.${q(c)} IS NOT NULL`).join(' AND ');
  const join = fk.columns.map((c, i) => `r.${q(fk.referencedColumns[i]!)} = t.${q(c)}`).join(' AND ');
  const sql = `SELECT ${fk.columns.map((c) => `t.${q(c)}`).join(', ')} FROM ${q(table)} t
    WHERE ${where ? `${where} AND ` : ''}${notNull} AND NOT EXISTS (SELECT 1 FROM ${q(fk.referencedTable)} r WHERE ${join}) LIMIT 1`;
  let rows: Array<Array<Buffer | null>>;
  try {
    rows = await runRaw(connection, sql);
  } catch (error) {
    throw fail(`checking foreign key ${fk.name} of table "${table}"`, error);
  }
  const row = rows[0];
  return row ? row.map((v) => (v == null ? 'NULL' : v.toString('utf8'))).join(', ') : null;
}
