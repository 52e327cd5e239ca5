/**
 * SQLite engine for organization-scoped backups, on better-sqlite3 (synchronous, in-process).
 *
 * Connection: `{ filename }` (resolved to an absolute path by the config loader) or a path string.
 * The file must already exist: a missing file is a ConfigError, never a new empty database.
 * Every connection is opened with `defaultSafeIntegers(true)` (INTEGER values come back as BigInt,
 * exact over all 64 bits) and a 5 s busy timeout, so a backup or restore waits briefly for the
 * application's writers instead of failing at once.
 *
 * ## Values: storage classes, not column types
 * SQLite typing is dynamic: a declared type only gives the column an affinity, and one column can
 * hold INTEGER, REAL, TEXT, BLOB and NULL values side by side. An exact round trip therefore keeps
 * each VALUE's storage class. better-sqlite3 maps the classes one to one onto JS types (bigint,
 * number, string, Buffer, null) both when reading and when binding, so a value re-inserted with the
 * JS type it was read as is stored exactly as before (column affinity then converts it exactly as
 * it did on the original insert, which by construction left it in this class).
 *
 * Each column has a NATURAL class derived from its declared type (see `naturalStorageClass`), and
 * values of that class are written plainly in the column's manifest `encoding`:
 *
 * | declared type (affinity rule)                   | natural | encoding | plain NDJSON form        |
 * |-------------------------------------------------|---------|----------|--------------------------|
 * | contains INT (INTEGER affinity)                 | INTEGER | string   | `"9223372036854775807"`  |
 * | CHAR / CLOB / TEXT (TEXT affinity)              | TEXT    | string   | `"any text"`             |
 * | BLOB or no type (BLOB affinity)                 | BLOB    | base64   | `"AAEC/w=="`             |
 * | REAL / FLOA / DOUB (REAL affinity)              | REAL    | number   | `1.5` (shortest round trip) |
 * | other NUMERIC affinity naming DATE/TIME/JSON/UUID | TEXT  | string   | `"2024-02-29 12:00:00"`  |
 * | other NUMERIC affinity (NUMERIC, DECIMAL, BOOLEAN, ANY…) | INTEGER | string | `"1"`          |
 *
 * A value whose class differs from the column's natural class, and the REAL values JSON cannot
 * write as a number, are written as a one-key TAGGED object instead:
 * `{"i":"<decimal int64>"}`, `{"r":"<String(x)>"}` (also `"Infinity"`, `"-Infinity"`, `"-0"`),
 * `{"t":"<text>"}`, `{"b":"<base64>"}`. NULL is `null`. NaN cannot be stored in SQLite (it binds as
 * NULL). TEXT is any Unicode, including NUL characters (kept: better-sqlite3 passes lengths).
 * Readers other than this engine must therefore accept tagged objects in SQLite archives.
 *
 * ## Snapshot
 * `withSnapshot` uses a dedicated read-only connection: `BEGIN` plus a first read takes the
 * snapshot, and all tables are read inside that one read transaction. In WAL mode this is snapshot
 * isolation (writers continue; the WAL cannot be checkpointed past the snapshot until we finish).
 * In rollback-journal mode the transaction holds a SHARED lock: the application's writers wait
 * (busy timeout) or fail with SQLITE_BUSY until the backup ends — keep backups short or use WAL.
 *
 * ## Restore and foreign keys
 * `withRestoreTransaction` uses a dedicated read-write connection, closed afterwards (nothing
 * session-scoped leaks). `PRAGMA foreign_keys = ON` is set BEFORE `BEGIN IMMEDIATE` (the pragma is a
 * no-op inside a transaction), so the restore is checked like an application that enforces
 * foreign keys (better-sqlite3's own default): a restore that would leave dangling references
 * fails and rolls back. Inside the transaction `PRAGMA defer_foreign_keys = ON` moves every
 * foreign-key check to COMMIT (cycles, and parents referenced by rows outside the organization's
 * tables, can be deleted and re-inserted); SQLite resets it when the transaction ends. On a failed
 * COMMIT the violating tables are named (from `PRAGMA foreign_key_check`) and everything is rolled
 * back. Triggers cannot be disabled in SQLite: the application's INSERT/DELETE triggers fire during
 * a restore.
 *
 * ## Counters
 * A plain INTEGER PRIMARY KEY (rowid alias) needs nothing: new rows get max(rowid)+1. For
 * AUTOINCREMENT tables SQLite itself raises `sqlite_sequence.seq` whenever an explicit larger rowid
 * is inserted; `resetCounters` still raises it to the table's max id (never lowers it), which is a
 * no-op in that case and repairs a sequence someone lowered by hand.
 *
 * ## Limits
 * - Only the `main` database's ordinary tables are read: virtual tables (FTS, R*Tree) and their
 *   shadow tables are not part of a backup.
 * - The implicit rowid of a table without an INTEGER PRIMARY KEY is not data: restored rows of
 *   such tables get new rowids (as after VACUUM).
 * - TEXT must be valid UTF-8/UTF-16: invalid byte sequences stored as TEXT reach JS as U+FFFD.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type BetterSqlite3 from 'better-sqlite3';
import type { OrganizationsConfig } from '../config/schema.js';
import { ConfigError, ConnectionError, OperationError, TenantBackupError, describeCause } from '../errors.js';
import type {
  ColumnInfo,
  ExportResult,
  OrganizationEngine,
  OrganizationRow,
  OrganizationSession,
  RestoreWriter,
  SchemaInfo,
  SnapshotReader,
  SqlDialect,
  TableInfo,
  TablePlan,
  ValueEncoding,
} from './types.js';

type Database = BetterSqlite3.Database;
type DatabaseConstructor = typeof BetterSqlite3;

const BUSY_TIMEOUT_MS = 5000;
/** Export lines are gathered into writes of about this many characters. */
const WRITE_CHUNK_CHARS = 64 * 1024;
/** How often (rows) importTable reports progress. */
const PROGRESS_EVERY_ROWS = 10_000;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

// ---------------------------------------------------------------------------------------------
// Dialect

export const sqliteDialect: SqlDialect = {
  quoteIdentifier: (name: string) => `"${name.replaceAll('"', '""')}"`,
  /**
   * A bare integer for canonical decimal ids that fit in 64 bits, a quoted string otherwise.
   * SQLite compares by affinity: a bare `1` matches INTEGER/NUMERIC columns and, converted to '1',
   * TEXT columns; it also matches integers in untyped (BLOB-affinity) columns, where a quoted '1'
   * would not. Ids with leading zeros (`007`) stay quoted, so a TEXT column keeps matching '007'.
   */
  literal: (value: string) =>
    /^(0|[1-9][0-9]{0,18})$/.test(value) && BigInt(value) <= INT64_MAX ? value : `'${value.replaceAll("'", "''")}'`,
};

const q = sqliteDialect.quoteIdentifier;

// ---------------------------------------------------------------------------------------------
// Value codec

export type StorageClass = 'integer' | 'real' | 'text' | 'blob';

/** The storage class a column's values are expected to have, from its declared type (SQLite §3.1). */
export function naturalStorageClass(declaredType: string): StorageClass {
  const type = declaredType.toUpperCase();
  if (type.includes('INT')) return 'integer';
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT')) return 'text';
  if (type.includes('BLOB') || type.trim() === '') return 'blob';
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 'real';
  // NUMERIC affinity: applications keep dates, times, JSON and UUIDs there as text.
  if (/DATE|TIME|JSON|UUID/.test(type)) return 'text';
  return 'integer';
}

const ENCODING_OF_CLASS: Record<StorageClass, ValueEncoding> = { integer: 'string', text: 'string', blob: 'base64', real: 'number' };

export function sqliteEncoding(declaredType: string): ValueEncoding {
  return ENCODING_OF_CLASS[naturalStorageClass(declaredType)];
}

function realText(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** One value as a JSON fragment (see the module comment for the scheme). */
export function encodeSqliteValue(value: unknown, natural: StorageClass): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return natural === 'integer' ? `"${value}"` : `{"i":"${value}"}`;
    case 'number':
      return natural === 'real' && Number.isFinite(value) && !Object.is(value, -0) ? String(value) : `{"r":"${realText(value)}"}`;
    case 'string':
      return natural === 'text' ? JSON.stringify(value) : `{"t":${JSON.stringify(value)}}`;
    default:
      if (value instanceof Uint8Array) {
        const base64 = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
        return natural === 'blob' ? `"${base64}"` : `{"b":"${base64}"}`;
      }
      throw new OperationError(`Unexpected value of type ${typeof value} read from SQLite.`);
  }
}

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
const BASE64_TEXT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const REAL_TEXT = /^-?(?:Infinity|(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$/;

function decodeInteger(text: unknown): bigint {
  if (typeof text !== 'string' || !INTEGER_TEXT.test(text)) throw new Error(`not an integer: ${preview(text)}`);
  const value = BigInt(text);
  if (value > INT64_MAX || value < INT64_MIN) throw new Error(`integer out of 64-bit range: ${text}`);
  return value;
}

function decodeReal(text: unknown): number {
  if (typeof text !== 'string' || !REAL_TEXT.test(text)) throw new Error(`not a REAL: ${preview(text)}`);
  return Number(text);
}

function decodeBlob(text: unknown): Buffer {
  if (typeof text !== 'string' || !BASE64_TEXT.test(text)) throw new Error(`not base64: ${preview(text)}`);
  return Buffer.from(text, 'base64');
}

/** The inverse of `encodeSqliteValue`, from parsed JSON to the JS value to bind. */
export function decodeSqliteValue(json: unknown, natural: StorageClass): bigint | number | string | Buffer | null {
  if (json === null) return null;
  if (typeof json === 'string') {
    if (natural === 'integer') return decodeInteger(json);
    if (natural === 'text') return json;
    if (natural === 'blob') return decodeBlob(json);
    throw new Error(`a string where a REAL column expects a number or tag: ${preview(json)}`);
  }
  if (typeof json === 'number') {
    if (natural === 'real') return json;
    throw new Error(`a plain number in a column whose values are written as strings: ${json}`);
  }
  if (typeof json === 'object' && !Array.isArray(json)) {
    const keys = Object.keys(json);
    const tag = keys[0];
    if (keys.length === 1 && tag !== undefined) {
      const payload = (json as Record<string, unknown>)[tag];
      if (tag === 'i') return decodeInteger(payload);
      if (tag === 'r') return decodeReal(payload);
      if (tag === 'b') return decodeBlob(payload);
      if (tag === 't' && typeof payload === 'string') return payload;
    }
  }
  throw new Error(`not a SQLite value: ${preview(json)}`);
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Connections

function databaseFile(config: OrganizationsConfig): string {
  const connection = config.connection;
  const filename = typeof connection === 'string' ? connection : connection.filename;
  if (typeof filename !== 'string' || filename === '') {
    throw new ConfigError('organizations.connection for better-sqlite3 needs a "filename" (the path of the shared SQLite database).');
  }
  if (filename === ':memory:' || filename.startsWith('file:')) {
    throw new ConfigError(`organizations.connection.filename "${filename}" is not a database file; give the path of the shared SQLite database.`);
  }
  return path.resolve(filename);
}

function openDatabase(Database: DatabaseConstructor, filename: string, readonly: boolean): Database {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filename);
  } catch {
    throw new ConfigError(
      `The SQLite database "${filename}" does not exist (organizations.connection.filename); no empty database was created.`,
      { filename },
    );
  }
  if (!stat.isFile()) throw new ConfigError(`The SQLite database "${filename}" is not a file (organizations.connection.filename).`, { filename });
  let db: Database | undefined;
  try {
    db = new Database(filename, { readonly, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.defaultSafeIntegers(true);
    // Reading the schema fails now, not half-way through a backup, when the file is no database.
    db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new ConfigError(`"${filename}" is not a valid SQLite database (${describeCause(error)}).`, { filename });
    }
    throw new ConnectionError(`Cannot open the SQLite database "${filename}": ${describeCause(error)}`, error);
  }
}

/** Runs tasks one at a time: a better-sqlite3 connection cannot interleave an open iterator with writes. */
function createQueue(): <T>(task: () => Promise<T> | T) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T> | T): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

function asOperationError(message: string, error: unknown): TenantBackupError {
  if (error instanceof TenantBackupError) return error;
  return new OperationError(`${message}: ${describeCause(error)}`, { cause: error });
}

// ---------------------------------------------------------------------------------------------
// Introspection

interface XInfoRow {
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
}

function tableColumns(db: Database, table: string): XInfoRow[] {
  return db.prepare('SELECT * FROM pragma_table_xinfo(?) ORDER BY cid').all(table) as XInfoRow[];
}

/** SQLite identifiers are case-insensitive (ASCII only). */
const fold = (name: string) => name.replace(/[A-Z]+/g, (s) => s.toLowerCase());

function introspectSchema(db: Database): SchemaInfo {
  const tables = db
    .prepare(
      `SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
    )
    .all() as Array<{ name: string; wr: bigint }>;

  const infos = new Map<string, TableInfo>();
  for (const { name, wr } of tables) {
    const xinfo = tableColumns(db, name);
    const primaryKey = xinfo.filter((c) => c.pk > 0n).sort((a, b) => Number(a.pk - b.pk)).map((c) => c.name);
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
      });
    }
  }
  return { tables: [...infos.values()] };
}

// ---------------------------------------------------------------------------------------------
// Export

function waitForDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => done();
    const onError = (error: unknown) => done(error ?? new Error('output stream failed'));
    const onClose = () => done(out.errored ?? new Error('output stream closed before the export ended'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

function exportRows(db: Database, plan: TablePlan, out: Writable, onRows?: (rows: number) => void): Promise<ExportResult> {
  let streamError: unknown;
  const onError = (error: unknown) => {
    streamError ??= error;
  };
  out.on('error', onError);
  let iterator: IterableIterator<unknown[]> | undefined;
  const run = async (): Promise<ExportResult> => {
    const classes = plan.columns.map((c) => naturalStorageClass(c.type));
    const select = plan.columns.map((c) => `t.${q(c.name)}`).join(', ');
    const order = plan.primaryKey.length > 0 ? ` ORDER BY ${plan.primaryKey.map((c) => `t.${q(c)}`).join(', ')}` : '';
    const statement = db.prepare(`SELECT ${select} FROM ${q(plan.table)} AS t WHERE ${plan.where}${order}`).raw(true);
    iterator = statement.iterate() as IterableIterator<unknown[]>;
    let rows = 0;
    let buffer = '';
    const flush = async () => {
      if (streamError !== undefined) throw streamError;
      if (out.destroyed || out.writableEnded) throw new Error('output stream closed before the export ended');
      const ok = out.write(buffer);
      buffer = '';
      onRows?.(rows);
      if (!ok) await waitForDrain(out);
    };
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const values = next.value;
      let line = '[';
      for (let i = 0; i < classes.length; i += 1) {
        if (i > 0) line += ',';
        line += encodeSqliteValue(values[i], classes[i]!);
      }
      buffer += `${line}]\n`;
      rows += 1;
      if (buffer.length >= WRITE_CHUNK_CHARS) await flush();
    }
    iterator = undefined;
    if (buffer.length > 0) await flush();
    if (streamError !== undefined) throw streamError;
    out.end();
    onRows?.(rows);
    return { rows };
  };
  return run()
    .catch((error: unknown) => {
      iterator?.return?.();
      const wrapped = asOperationError(`Exporting table "${plan.table}" failed`, error);
      out.destroy(wrapped);
      throw wrapped;
    })
    .finally(() => out.off('error', onError));
}

function findOrganizationRow(db: Database, config: OrganizationsConfig, id: string): OrganizationRow | null {
  return findOrganizationRows(db, config, id, false)[0] ?? null;
}

/** The organization with id `id`; with `orCode`, every row (at most 10) whose id or code equals it. */
function findOrganizationRows(db: Database, config: OrganizationsConfig, id: string, orCode: boolean): OrganizationRow[] {
  const columns = tableColumns(db, config.table);
  if (columns.length === 0) throw new ConfigError(`The organizations table "${config.table}" does not exist in the shared database.`);
  const column = (name: string) => columns.find((c) => fold(c.name) === fold(name) && c.hidden !== 1n)?.name;
  const idColumn = column(config.idColumn);
  if (idColumn === undefined) {
    throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
  }
  const codeColumn = column(config.codeColumn);
  const pick = (name: string | undefined) => (name === undefined ? 'NULL' : `t.${q(name)}`);
  const where = `t.${q(idColumn)} = ${sqliteDialect.literal(id)}` + (orCode && codeColumn !== undefined ? ` OR t.${q(codeColumn)} = ${sqliteDialect.literal(id)}` : '');
  const sql =
    `SELECT ${pick(idColumn)}, ${pick(column(config.nameColumn))}, ${pick(codeColumn)}, ${pick(column('auto_backup_enabled'))}` +
    ` FROM ${q(config.table)} AS t WHERE ${where} ORDER BY 1 LIMIT ${orCode ? 10 : 1}`;
  const rows = db.prepare(sql).raw(true).all() as unknown[][];
  return rows.map(([rowId, name, code, autoBackup]) => ({ id: asText(rowId) ?? id, name: asText(name), code: asText(code), autoBackupEnabled: asBoolean(autoBackup) }));
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint' || typeof value === 'string') return String(value);
  if (typeof value === 'number') return realText(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return String(value);
}

function asBoolean(value: unknown): boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return ['1', 'true', 't', 'yes', 'y', 'on'].includes(value.trim().toLowerCase());
  return null;
}

// ---------------------------------------------------------------------------------------------
// Import

/** Splits text chunks into lines without rescanning a long, still incomplete line. */
class LineSplitter {
  private parts: string[] = [];

  push(text: string, onLine: (line: string) => void): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (this.parts.length > 0) {
        this.parts.push(piece);
        onLine(this.parts.join(''));
        this.parts = [];
      } else {
        onLine(piece);
      }
      start = nl + 1;
    }
    if (start < text.length) this.parts.push(text.slice(start));
  }

  end(onLine: (line: string) => void): void {
    if (this.parts.length > 0) onLine(this.parts.join(''));
    this.parts = [];
  }
}

async function importRows(
  db: Database,
  plan: TablePlan,
  columns: ColumnInfo[],
  rows: Readable,
  onRows?: (rows: number) => void,
): Promise<number> {
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
    try {
      insert.run(...values);
    } catch (error) {
      throw new OperationError(`Inserting row ${lineNumber} into table "${plan.table}" failed: ${describeCause(error)}`, { cause: error });
    }
    count += 1;
    if (count % PROGRESS_EVERY_ROWS === 0) onRows?.(count);
  };

  const decoder = new StringDecoder('utf8');
  const splitter = new LineSplitter();
  for await (const chunk of rows) {
    splitter.push(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer), insertLine);
  }
  splitter.push(decoder.end(), insertLine);
  splitter.end(insertLine);
  onRows?.(count);
  return count;
}

function resetCounter(db: Database, plan: TablePlan): void {
  const counter = plan.columns.find((c) => c.autoIncrement);
  if (!counter) return;
  const hasSequence = db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`).get();
  if (hasSequence === undefined) return;
  // Only AUTOINCREMENT tables have a row here; never lower a counter.
  const max = `(SELECT max(${q(counter.name)}) FROM ${q(plan.table)})`;
  db.prepare(`UPDATE sqlite_sequence SET seq = ${max} WHERE name = ? AND seq < ${max}`).run(plan.table);
}

/** Names the tables whose rows violate foreign keys inside the current transaction. */
function describeForeignKeyViolations(db: Database, plans: TablePlan[]): string {
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

// ---------------------------------------------------------------------------------------------
// Session

async function connect(config: OrganizationsConfig): Promise<OrganizationSession> {
  if (config.client !== 'better-sqlite3') {
    throw new ConfigError(`The SQLite engine needs client "better-sqlite3", not "${config.client}".`);
  }
  if (config.schema !== undefined && config.schema !== 'main') {
    throw new ConfigError(`organizations.schema "${config.schema}" is not supported for SQLite: only the main database ("main") is read.`);
  }
  const filename = databaseFile(config);
  let Database: DatabaseConstructor;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (error) {
    throw new ConnectionError(`The better-sqlite3 driver could not be loaded: ${describeCause(error)}`, error);
  }
  const main = openDatabase(Database, filename, true);
  const serial = createQueue();
  let closed = false;

  const session: OrganizationSession = {
    dialect: sqliteDialect,

    serverVersion: () => serial(() => String(main.prepare('SELECT sqlite_version()').pluck().get())),

    findOrganizations: (config, reference) => serial(() => findOrganizationRows(main, config, reference, true)),

    listOrganizationIds: (config) =>
      serial(() => {
        const q = sqliteDialect.quoteIdentifier;
        const ids = main.prepare(`SELECT t.${q(config.idColumn)} FROM ${q(config.table)} AS t ORDER BY 1`).pluck().all() as unknown[];
        return ids.filter((id) => id !== null).map((id) => String(id));
      }),

    introspect: () =>
      serial(() => {
        main.exec('BEGIN');
        try {
          return introspectSchema(main);
        } finally {
          main.exec('COMMIT');
        }
      }),

    async withSnapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
      const db = openDatabase(Database, filename, true);
      const queue = createQueue();
      try {
        // A deferred transaction takes its snapshot (WAL) or SHARED lock (rollback journal) at its
        // first read; every later read of every table sees that same state.
        db.exec('BEGIN DEFERRED');
        db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
        const reader: SnapshotReader = {
          findOrganization: (organizations, id) => queue(() => findOrganizationRow(db, organizations, id)),
          exportTable: (plan, out, onRows) => queue(() => exportRows(db, plan, out, onRows)),
        };
        const result = await fn(reader);
        await queue(() => db.exec('COMMIT'));
        return result;
      } catch (error) {
        await queue(() => {
          if (db.inTransaction) db.exec('ROLLBACK');
        }).catch(() => undefined);
        throw error;
      } finally {
        db.close();
      }
    },

    async withRestoreTransaction<T>(plans: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
      const db = openDatabase(Database, filename, false);
      const queue = createQueue();
      const rollback = () =>
        queue(() => {
          if (db.inTransaction) db.exec('ROLLBACK');
        }).catch(() => undefined);
      try {
        // Must precede BEGIN: PRAGMA foreign_keys is a no-op inside a transaction.
        db.pragma('foreign_keys = ON');
        try {
          db.exec('BEGIN IMMEDIATE');
        } catch (error) {
          throw new OperationError(`The shared database is busy (another writer held it for ${BUSY_TIMEOUT_MS / 1000} s): ${describeCause(error)}`, { cause: error });
        }
        // Checks every foreign key at COMMIT; SQLite clears it when the transaction ends.
        db.pragma('defer_foreign_keys = ON');
        const writer: RestoreWriter = {
          countRows: (plan) =>
            queue(() => Number(db.prepare(`SELECT count(*) FROM ${q(plan.table)} AS t WHERE ${plan.where}`).pluck().get())),
          deleteRows: (plan) =>
            queue(() => {
              try {
                return db.prepare(`DELETE FROM ${q(plan.table)} AS t WHERE ${plan.where}`).run().changes;
              } catch (error) {
                throw asOperationError(`Deleting the organization's rows of table "${plan.table}" failed`, error);
              }
            }),
          importTable: (plan, columns, rows, onRows) =>
            queue(() => importRows(db, plan, columns, rows, onRows)).catch((error: unknown) => {
              rows.destroy();
              throw asOperationError(`Restoring table "${plan.table}" failed`, error);
            }),
          resetCounters: (plan) =>
            queue(() => {
              try {
                resetCounter(db, plan);
              } catch (error) {
                throw asOperationError(`Moving the id counter of table "${plan.table}" failed`, error);
              }
            }),
        };
        const result = await fn(writer);
        await queue(() => {
          try {
            db.exec('COMMIT');
          } catch (error) {
            const detail = (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ? describeForeignKeyViolations(db, plans) : '';
            throw new OperationError(`The restore could not be committed: ${describeCause(error)}${detail}. Nothing was changed.`, { cause: error });
          }
        });
        return result;
      } catch (error) {
        await rollback();
        throw error;
      } finally {
        db.close();
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await serial(() => main.close()).catch(() => undefined);
    },

    // A local file read by a synchronous driver: no wait here depends on a server, and the work
    // in flight ends at its next chunk (the caller stops its streams). The transaction of a
    // restore is rolled back by the caller's failure path.
    abort() {},
  };
  return session;
}

export const sqliteEngine = { name: 'sqlite', connect } satisfies OrganizationEngine;
