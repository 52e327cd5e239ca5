/**
 * SQLite restore, inside the session's one write transaction (foreign keys checked at COMMIT, see
 * session.ts): NDJSON lines are decoded value by value (codec.ts) and inserted by column name.
 *
 * Counters: a plain INTEGER PRIMARY KEY (rowid alias) needs nothing: new rows get max(rowid)+1.
 * For AUTOINCREMENT tables SQLite itself raises `sqlite_sequence.seq` whenever an explicit larger
 * rowid is inserted; `resetCounter` still raises it to the table's max id (never lowers it), which
 * is a no-op in that case and repairs a sequence someone lowered by hand.
 */
import type { Readable } from 'node:stream';
import { OperationError, describeCause } from '../../errors.js';
import { NdjsonLines } from '../ndjson-lines.js';
import { planRowColumns, strangerRowError } from '../restore-checks.js';
import type { ColumnInfo, TablePlan } from '../types.js';
import { fold, tableColumns } from './catalog.js';
import { decodeSqliteValue, naturalStorageClass } from './codec.js';
import type { Database } from './database.js';
import { q } from './dialect.js';

/** How often (rows) importTable reports progress. */
const PROGRESS_EVERY_ROWS = 10_000;

export async function importRows(db: Database, plan: TablePlan, columns: ColumnInfo[], rows: Readable, onRows?: (rows: number) => void, maxLineBytes?: number): Promise<number> {
  const live = tableColumns(db, plan.table).filter((c) => c.hidden !== 1n);
  if (live.length === 0) throw new OperationError(`Table "${plan.table}" does not exist in the shared database any more.`);
  const targets = columns.map((column) => {
    const current = live.find((c) => fold(c.name) === fold(column.name));
    if (!current) {
      throw new OperationError(`Table "${plan.table}" has no column "${column.name}" any more, but the backup has it. Nothing was changed.`);
    }
    if (current.hidden === 2n || current.hidden === 3n) {
      throw new OperationError(`Column "${plan.table}"."${column.name}" is now a generated column; its archived values cannot be inserted.`);
    }
    return current.name;
  });
  const classes = columns.map((c) => naturalStorageClass(c.type));
  const strangerCheck = ownershipCheck(db, plan, columns);
  const insert =
    targets.length === 0
      ? db.prepare(`INSERT INTO ${q(plan.table)} DEFAULT VALUES`)
      : db.prepare(`INSERT INTO ${q(plan.table)} (${targets.map(q).join(', ')}) VALUES (${targets.map(() => '?').join(', ')})`);

  let count = 0;
  let lineNumber = 0;
  const insertLine = (line: string) => {
    lineNumber += 1;
    if (line.length === 0 || line === '\r') return;
    let values: unknown[];
    try {
      const parsed: unknown = JSON.parse(line);
      if (!Array.isArray(parsed) || parsed.length !== classes.length) {
        throw new Error(`expected a JSON array of ${classes.length} values`);
      }
      values = parsed.map((value, i) => decodeSqliteValue(value, classes[i]!));
    } catch (error) {
      throw new OperationError(`Row ${lineNumber} of table "${plan.table}" in the backup is not valid: ${describeCause(error)}`, { cause: error });
    }
    let rowid: number | bigint;
    try {
      rowid = insert.run(...values).lastInsertRowid;
    } catch (error) {
      throw new OperationError(`Inserting row ${lineNumber} into table "${plan.table}" failed: ${describeCause(error)}`, { cause: error });
    }
    strangerCheck(rowid, values);
    count += 1;
    if (count % PROGRESS_EVERY_ROWS === 0) onRows?.(count);
  };

  const lines = new NdjsonLines(plan.table, maxLineBytes);
  for await (const chunk of rows) {
    const cut = lines.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    for (let i = 0; i < cut.length; i += 1) {
      const line = cut[i]!;
      cut[i] = ''; // a large row's text is free once it is parsed
      insertLine(line);
    }
  }
  const last = lines.end();
  if (last !== null) insertLine(last);
  onRows?.(count);
  return count;
}

/**
 * Every inserted row must be this organization's (an archive is untrusted input): checked right
 * after its insert, by rowid (or by primary key in a WITHOUT ROWID table), against the plan's
 * condition. A table without either relies on the caller's count check alone.
 */
function ownershipCheck(db: Database, plan: TablePlan, columns: ColumnInfo[]): (rowid: number | bigint, values: unknown[]) => void {
  const describe = planRowColumns(plan);
  const select = `SELECT ${describe.map((c) => `quote(t.${q(c)})`).join(', ')} FROM ${q(plan.table)} AS t`;
  const withoutRowid = (db.prepare('SELECT wr FROM pragma_table_list WHERE schema = ? AND name = ?').get('main', plan.table) as { wr: bigint } | undefined)?.wr === 1n;
  const fail = (row: unknown[] | undefined) => {
    if (row) throw strangerRowError(plan, describe.map((c, i) => `${c} = ${String(row[i])}`).join(', '));
  };
  if (!withoutRowid) {
    const statement = db.prepare(`${select} WHERE t.rowid = ? AND (${plan.where}) IS NOT TRUE`).raw();
    return (rowid) => fail(statement.get(rowid) as unknown[] | undefined);
  }
  const keyIndexes = plan.primaryKey.map((name) => columns.findIndex((c) => fold(c.name) === fold(name)));
  if (keyIndexes.length === 0 || keyIndexes.some((i) => i < 0)) return () => undefined;
  const statement = db.prepare(`${select} WHERE ${plan.primaryKey.map((c) => `t.${q(c)} = ?`).join(' AND ')} AND (${plan.where}) IS NOT TRUE`).raw();
  return (_rowid, values) => fail(statement.get(...keyIndexes.map((i) => values[i])) as unknown[] | undefined);
}

export function resetCounter(db: Database, plan: TablePlan): void {
  const counter = plan.columns.find((c) => c.autoIncrement);
  if (!counter) return;
  const hasSequence = db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`).get();
  if (hasSequence === undefined) return;
  // Only AUTOINCREMENT tables have a row here; never lower a counter.
  const max = `(SELECT max(${q(counter.name)}) FROM ${q(plan.table)})`;
  db.prepare(`UPDATE sqlite_sequence SET seq = ${max} WHERE name = ? AND seq < ${max}`).run(plan.table);
}

/** Names the tables whose rows violate foreign keys inside the current transaction. */
export function describeForeignKeyViolations(db: Database, plans: TablePlan[]): string {
  const found: string[] = [];
  for (const plan of plans) {
    try {
      const rows = db.prepare('SELECT "table", parent FROM pragma_foreign_key_check(?) LIMIT 1').all(plan.table) as Array<{ table: string; parent: string }>;
      for (const row of rows) found.push(`"${row.table}" → "${row.parent}"`);
    } catch {
      // Best effort only: the COMMIT error is reported either way.
    }
  }
  return found.length > 0 ? ` (rows of ${found.join(', ')} reference missing parents)` : '';
}
