/**
 * MySQL/MariaDB restore, inside the one transaction the session opens: NDJSON rows become
 * multi-row INSERTs of ≤ 1000 rows / ≤ 4 MiB, one running on the server while the next is built
 * here. With FOREIGN_KEY_CHECKS off for that transaction (see session.ts), the references of the
 * restored rows — and references into them from outside the plan (restore-checks.ts) — are checked
 * before COMMIT, and every batch's rows are checked to be the organization's right after it.
 */
import type { Readable } from 'node:stream';
import type { Connection } from 'mysql2';
import { OperationError, describeCause } from '../../errors.js';
import { NdjsonLines } from '../ndjson-lines.js';
import { LARGE_ROW_BYTES, largeRowStatement } from './insert-large-row.js';
import { planRowColumns, strangerRowError } from '../restore-checks.js';
import type { ColumnInfo, TablePlan } from '../types.js';
import { q } from './dialect.js';
import { fail, run, runRaw, runStatement, type MysqlModule } from './driver.js';

/** Largest multi-row INSERT, in rows and in characters of SQL (kept well under max_allowed_packet). */
const BATCH_ROWS = 1000;
export const BATCH_CHARS = 4 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const EMPTY = Buffer.alloc(0);

type ValueSql = (value: unknown) => string;

export function valueSqlFor(mysql: MysqlModule, column: ColumnInfo): ValueSql {
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
  maxLineBytes?: number,
  /** The server's max_allowed_packet: a statement larger than that is refused before it is sent. */
  maxPacket = Number.MAX_SAFE_INTEGER,
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
  // Each batch's keys, to check that every row just inserted is this organization's (an archive
  // is untrusted input: a crafted row of another organization must never be committed). Tables
  // without a primary key in the archive's columns rely on the caller's count check alone.
  const keyIndexes = plan.primaryKey.map((name) => columns.findIndex((c) => c.name === name));
  const checkKeys = keyIndexes.length > 0 && keyIndexes.every((i) => i >= 0);
  let batchKeys: string[] = [];
  // An integer key is compared as a bare number: MySQL compares a quoted string with an integer as
  // doubles, so '9007199254740993' would also find the row 9007199254740992 (another
  // organization's, perhaps) and refuse a genuine archive.
  const integerKey = columns.map((c) => /int/i.test(c.type));
  const keyLiteral = (i: number, parts: string[]) => (integerKey[i] && /^'-?[0-9]+'$/.test(parts[i]!) ? parts[i]!.slice(1, -1) : parts[i]!);

  let inserted = 0;
  let sent = 0;
  let lineNumber = 0;
  let batch = '';
  let batchRows = 0;
  // One INSERT runs on the server while the next batch is parsed and built here; a failure
  // surfaces at the next flush (or at the end), never later.
  let inflight: Promise<void> | undefined;

  const send = async (sql: string | Buffer[], rows: number, keys: string[]) => {
    const first = sent + 1;
    sent += rows;
    if (inflight) await inflight;
    inflight = (typeof sql === 'string' ? run(connection, sql) : runStatement(connection, sql)).then(
      async () => {
        if (checkKeys)
          await checkBatchOwnership(
            connection,
            plan,
            keyIndexes.map((i) => columns[i]!.name),
            keys,
          );
        inserted += rows;
        onRows?.(inserted);
      },
      (error: unknown) => {
        throw fail(`inserting into table "${plan.table}" (rows ${first}–${first + rows - 1})`, error);
      },
    );
    inflight.catch(() => undefined); // observed by the next flush or the final await
  };
  const flush = async () => {
    if (batchRows === 0) return;
    const sql = prefix + batch;
    const rows = batchRows;
    const keys = batchKeys;
    batch = '';
    batchRows = 0;
    batchKeys = [];
    await send(sql, rows, keys);
  };
  // A large row goes alone, its statement built from bytes and sent as bytes (insert-large-row.ts).
  const addLargeLine = async (lines: Buffer[], index: number) => {
    lineNumber += 1;
    await flush();
    const bytes = lines[index]!;
    lines[index] = EMPTY; // held by the statement's pieces until it is sent
    const {
      pieces,
      bytes: length,
      parts,
    } = largeRowStatement(
      bytes,
      columns,
      (i, value) => encoders[i]!(value),
      (what) => new OperationError(`Cannot restore table "${plan.table}": line ${lineNumber} of its rows ${what}.`),
      { prefix },
    );
    const size = length + 1;
    if (size > maxPacket) {
      throw new OperationError(
        `Cannot restore table "${plan.table}": line ${lineNumber} of its rows needs a statement of ${size.toLocaleString('en-US')} bytes, more than the server's max_allowed_packet ` +
          `(${maxPacket.toLocaleString('en-US')}); raise it (SET GLOBAL max_allowed_packet = …, at most 1 GiB), then run the restore again. Nothing was changed.`,
        { details: { table: plan.table, line: lineNumber, statement_bytes: size, max_allowed_packet: maxPacket } },
      );
    }
    const keyParts = keyIndexes.map((i) => parts[i]);
    const keys =
      checkKeys && keyParts.every((part) => part !== undefined)
        ? [keyIndexes.length === 1 ? keyLiteral(keyIndexes[0]!, parts as string[]) : `(${keyIndexes.map((i) => keyLiteral(i, parts as string[])).join(',')})`]
        : [];
    await send(pieces, 1, keys);
  };
  const addLine = async (line: string) => {
    lineNumber += 1;
    if (line === '') return;
    let values: unknown;
    try {
      values = JSON.parse(line);
      line = ''; // a large row's text is free from here on
      if (!Array.isArray(values) || values.length !== width) throw new Error(`expected a JSON array of ${width} values`);
    } catch (error) {
      throw new OperationError(`Cannot restore table "${plan.table}": line ${lineNumber} of its rows is not valid: ${describeCause(error)}`);
    }
    const parts: string[] = new Array<string>(width);
    try {
      for (let i = 0; i < width; i++) parts[i] = encoders[i]!(values[i]);
    } catch (error) {
      throw new OperationError(`Cannot restore table "${plan.table}": line ${lineNumber}: ${describeCause(error)}`);
    }
    // Concatenated, not joined: the statement is flattened once, when it is sent, so a large value
    // is copied once on its way (not into a row string, then into the statement).
    let tuple = '(';
    for (let i = 0; i < width; i++) tuple = i === 0 ? tuple + parts[i]! : tuple + ',' + parts[i]!;
    tuple += ')';
    if (checkKeys) batchKeys.push(keyIndexes.length === 1 ? keyLiteral(keyIndexes[0]!, parts) : `(${keyIndexes.map((i) => keyLiteral(i, parts)).join(',')})`);
    if (batchRows > 0 && batch.length + tuple.length + 1 > batchChars) await flush();
    batch = batchRows === 0 ? tuple : batch + ',' + tuple;
    batchRows += 1;
    if (batchRows >= BATCH_ROWS || batch.length >= batchChars) await flush();
  };

  // Lines are cut out of the byte stream as it arrives; pulling the next chunk waits for the
  // previous INSERT (back-pressure). An error the stream raises at its end (checksum mismatch)
  // surfaces from the loop and rejects before the last batch is sent.
  const lines = new NdjsonLines(plan.table, maxLineBytes);
  const take = async (cut: Buffer[], index: number) => {
    if (cut[index]!.length >= LARGE_ROW_BYTES) return addLargeLine(cut, index);
    const text = cut[index]!.toString('utf8');
    cut[index] = EMPTY;
    return addLine(text);
  };
  for await (const chunk of input) {
    const cut = lines.cut(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    for (let i = 0; i < cut.length; i += 1) await take(cut, i);
  }
  const last = lines.finish();
  if (last !== null) await take([last], 0);
  await flush();
  if (inflight) await inflight;
  return inserted;
}

/** A row of the batch just inserted that is not this organization's refuses the restore (exit 5). */
async function checkBatchOwnership(connection: Connection, plan: TablePlan, keyColumns: string[], keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  const tuple = keyColumns.length === 1 ? `t.${q(keyColumns[0]!)}` : `(${keyColumns.map((c) => `t.${q(c)}`).join(', ')})`;
  const columns = planRowColumns(plan);
  let rows: Array<Array<Buffer | null>>;
  try {
    rows = await runRaw(
      connection,
      `SELECT ${columns.map((c) => `t.${q(c)}`).join(', ')} FROM ${q(plan.table)} t WHERE ${tuple} IN (${keys.join(',')}) AND (${plan.where}) IS NOT TRUE LIMIT 1`,
    );
  } catch (error) {
    throw fail(`checking the restored rows of table "${plan.table}"`, error);
  }
  const row = rows[0];
  if (row) throw strangerRowError(plan, columns.map((c, i) => `${c} = ${row[i] == null ? 'NULL' : row[i]!.toString('utf8')}`).join(', '));
}
