/**
 * MariaDB (10.11, Debian's MySQL-compatible server) and MySQL 8: organization-scoped export and
 * restore over `mysql2`'s callback API, one dedicated connection per session (never a pool).
 *
 * Exact values: export queries run with `typeCast: false`, so mysql2 hands over every value as
 * the raw bytes of the text protocol (the server's own text form, or the raw bytes of binary
 * columns) and never builds a JS Date or Number. Each column gets an encoder chosen once from its
 * catalog type (see `encodingOf`):
 *
 * | type                                              | NDJSON                                  |
 * |---------------------------------------------------|-----------------------------------------|
 * | TINYINT SMALLINT MEDIUMINT INT (signed/unsigned)  | number (BOOLEAN = TINYINT(1) → 0/1)     |
 * | BIGINT, DECIMAL, DOUBLE                           | string: the server's text               |
 * | FLOAT                                             | string: `col + 0e0`, its exact double   |
 * | DATE DATETIME(n) TIME(n) YEAR                     | string: server text (zero dates too)    |
 * | TIMESTAMP(n)                                      | string `YYYY-MM-DD hh:mm:ss[.ffffff]`, UTC |
 * | CHAR VARCHAR *TEXT ENUM SET UUID INET4 INET6      | string                                  |
 * | JSON (MySQL type; MariaDB LONGTEXT + json_valid)  | string: the exact JSON text             |
 * | BINARY VARBINARY *BLOB BIT, spatial types         | base64 of the raw bytes                 |
 *
 * - FLOAT is read as `col + 0e0` because the server prints FLOAT with 6 significant digits
 *   (123456789 is stored as 123456792 and shown as 123457000): the double of the float is exact
 *   and turns back into the same float on insert.
 * - TIMESTAMP is kept in the server's form rather than ISO-8601: the session runs with
 *   `time_zone = '+00:00'`, so the text is the UTC instant and inserts back unchanged (MariaDB
 *   10.11 rejects both `…T…Z` and `…+00:00` literals in strict mode).
 * - JSON stays a string: MariaDB keeps the text verbatim, MySQL normalizes it anyway, and a JS
 *   round trip through JSON.parse would lose 64-bit integers inside documents.
 *
 * Sessions run with `SET NAMES utf8mb4`, `time_zone = '+00:00'` and the server's `sql_mode`
 * minus the modes that would change values on the way (NO_ZERO_DATE, NO_ZERO_IN_DATE,
 * NO_BACKSLASH_ESCAPES — mysql2 escapes with backslashes —, EMPTY_STRING_IS_NULL,
 * PAD_CHAR_TO_FULL_LENGTH) plus STRICT_TRANS_TABLES (a value that does not fit fails instead of
 * being truncated) and NO_AUTO_VALUE_ON_ZERO (an id 0 is restored as 0, as mysqldump does).
 *
 * Speed: rows are encoded in Node, straight from the text protocol's row packets
 * (`MysqlRowEncoder`, hooked into mysql2's Query command on that query only), with no Buffer,
 * string or array per row or value — mysql2's own row parser makes a Buffer per value, and those
 * with the strings built from them dominated the profile. With the 1M-row benchmark organization on
 * 2 cores (bench/) the export went from 6.6 s to ~2.1 s, close to `mysqldump | gzip -1`
 * (test/integration/mysql-export-wire.test.ts proves the bytes are those of the previous encoder).
 * Letting the server build each line with JSON_ARRAY(CAST(…), REPLACE(TO_BASE64(…))) measured
 * slower. Import: multi-row INSERTs of ≤ 1000 rows / ≤ 4 MiB, one running while the next is
 * built (~50k rows/s).
 *
 * Limits: the snapshot covers transactional (InnoDB) tables only; exports on one reader run one
 * at a time (one connection), so consume each `out` while its export runs.
 */
import { finished } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import type { Connection, ConnectionOptions, QueryError, QueryOptions } from 'mysql2';
import type { OrganizationsConfig } from '../config/schema.js';
import { ConfigError, ConnectionError, OperationError, TenantBackupError, describeCause, redactSecrets } from '../errors.js';
import { stalledError } from './stall.js';
import type {
  ColumnInfo,
  ConnectOptions,
  ExportResult,
  ForeignKeyInfo,
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

type MysqlModule = typeof import('mysql2');

// ---------------------------------------------------------------------------------------------
// Dialect

export const mysqlDialect: SqlDialect = {
  quoteIdentifier: (name) => '`' + name.replace(/`/g, '``') + '`',
  // Quoted: compares correctly with both integer and string tenant columns (and uses their index).
  // Integer columns get a bare number: MySQL compares a quoted string with an integer as doubles,
  // so '9007199254740993' would also match 9007199254740992. Other columns get a quoted string.
  literal: (value, column) =>
    column && /int/i.test(column.type) && /^(0|[1-9][0-9]{0,19})$/.test(value) ? value : `'${value}'`,
};
const q = mysqlDialect.quoteIdentifier;

// ---------------------------------------------------------------------------------------------
// Connecting

/** Modes removed from the server's sql_mode for our sessions (see the file comment). */
const REMOVED_MODES = new Set(['NO_ZERO_DATE', 'NO_ZERO_IN_DATE', 'NO_BACKSLASH_ESCAPES', 'EMPTY_STRING_IS_NULL', 'PAD_CHAR_TO_FULL_LENGTH']);
const ADDED_MODES = ['STRICT_TRANS_TABLES', 'NO_AUTO_VALUE_ON_ZERO'];

/** Options that keep values exact; they override whatever the configuration says. */
const EXACT_OPTIONS = {
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
  decimalNumbers: false,
  jsonStrings: true,
  charset: 'utf8mb4',
  timezone: 'Z',
  multipleStatements: false,
} satisfies ConnectionOptions;

/**
 * mysql2 runs every statement through its placeholder scanner, even without values; on multi-MiB
 * INSERTs that scan cost more than building them. Statements without values go out as written.
 */
function queryFormatOf(mysql: MysqlModule): (sql: string, values: unknown) => string {
  return (sql, values) => (Array.isArray(values) && values.length > 0 ? mysql.format(sql, values) : sql);
}

interface ConnectTarget {
  options: ConnectionOptions;
  stallTimeoutMs?: number;
  /** `host:port` or the socket path, for messages. */
  where: string;
  user: string;
  secrets: string[];
}

function connectTarget(config: OrganizationsConfig): ConnectTarget {
  const raw = config.connection;
  let base: Record<string, unknown>;
  const secrets: string[] = [];
  if (typeof raw === 'string') {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError('organizations.connection is not a valid mysql:// URL.');
    }
    if (url.password) secrets.push(url.password, decodeURIComponent(url.password));
    base = { uri: raw };
    return {
      options: { ...base, ...EXACT_OPTIONS },
      where: url.host || 'localhost:3306',
      user: decodeURIComponent(url.username),
      secrets,
    };
  }
  base = { ...(raw as Record<string, unknown>) };
  // knex-only keys mysql2 would warn about; our exactness options always win.
  delete base.expirationChecker;
  const password = base.password;
  if (typeof password === 'string' && password !== '') secrets.push(password);
  const where = typeof base.socketPath === 'string' ? base.socketPath : `${String(base.host ?? 'localhost')}:${String(base.port ?? 3306)}`;
  return { options: { ...(base as ConnectionOptions), ...EXACT_OPTIONS }, where, user: String(base.user ?? ''), secrets };
}

interface MysqlInternals {
  stream: import('node:net').Socket;
  /** mysql2's command in flight, if any. */
  _command: unknown;
}

/**
 * Closes a connection at once. Through the socket, with an error: mysql2 then fails the command
 * in flight (and the queue) with it — its own destroy() marks the connection as closing and leaves
 * pending commands unsettled forever.
 */
function destroyConnection(connection: Connection, reason: Error): void {
  (connection as unknown as MysqlInternals).stream.destroy(reason);
}

/**
 * The stall guard: a connection with a command in flight that receives (and sends) nothing for
 * `timeoutMs` is closed with an error, so a hung server or network can never hold a backup — and
 * its lock — forever. An idle connection is left alone.
 */
function guardAgainstStalls(connection: Connection, timeoutMs: number | undefined): void {
  if (!timeoutMs) return;
  const internals = connection as unknown as MysqlInternals;
  internals.stream.setTimeout(timeoutMs);
  internals.stream.on('timeout', () => {
    if (internals._command) destroyConnection(connection, stalledError('MySQL/MariaDB', timeoutMs));
  });
}

async function openConnection(mysql: MysqlModule, target: ConnectTarget): Promise<Connection> {
  const connection = mysql.createConnection({ ...target.options, queryFormat: queryFormatOf(mysql) as ConnectionOptions['queryFormat'] });
  try {
    await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
    guardAgainstStalls(connection, target.stallTimeoutMs);
  } catch (error) {
    connection.destroy();
    const message = redactSecrets(describeCause(error), target.secrets);
    const code = (error as { code?: string }).code;
    throw new ConnectionError(
      `Cannot connect to MySQL/MariaDB at ${target.where}${target.user ? ` as ${target.user}` : ''}: ${message}${code ? ` (${code})` : ''}`,
      scrub(error, target.secrets),
    );
  }
  // A connection that dies between commands emits 'error'; the next command then fails with a
  // clear error. Without a listener the process would crash.
  connection.on('error', () => undefined);
  try {
    await run(connection, 'SET NAMES utf8mb4');
    await run(connection, "SET time_zone = '+00:00'");
    const rows = (await run(connection, 'SELECT @@SESSION.sql_mode AS mode')) as Array<{ mode: string }>;
    const modes = String(rows[0]?.mode ?? '').split(',').filter((m) => m !== '' && !REMOVED_MODES.has(m.toUpperCase()));
    for (const mode of ADDED_MODES) if (!modes.includes(mode)) modes.push(mode);
    await run(connection, 'SET SESSION sql_mode = ?', [modes.join(',')]);
  } catch (error) {
    connection.destroy();
    throw new ConnectionError(`Cannot prepare the MySQL/MariaDB session at ${target.where}: ${redactSecrets(describeCause(error), target.secrets)}`, scrub(error, target.secrets));
  }
  return connection;
}

/** Drops the (possibly huge, data-bearing) SQL text mysql2 attaches to errors, and any secret. */
function scrub(error: unknown, secrets: string[] = []): unknown {
  if (error && typeof error === 'object') {
    const e = error as { sql?: unknown; message?: unknown };
    if ('sql' in e) delete e.sql;
    if (typeof e.message === 'string') e.message = redactSecrets(e.message, secrets);
  }
  return error;
}

function run(connection: Connection, sql: string, values?: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, values }, (err: QueryError | null, result: unknown) => (err ? reject(err) : resolve(result)));
  });
}

/** Raw query: every value is a Buffer (text-protocol bytes) or null, rows are arrays. */
function runRaw(connection: Connection, sql: string): Promise<Array<Array<Buffer | null>>> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, rowsAsArray: true, typeCast: false } as QueryOptions, (err: QueryError | null, result: unknown) =>
      err ? reject(err) : resolve(result as Array<Array<Buffer | null>>),
    );
  });
}

/** Our own typed errors pass through; driver errors become an OperationError naming the step. */
function fail(what: string, error: unknown): TenantBackupError {
  if (error instanceof TenantBackupError) return error;
  const code = (error as { code?: string }).code;
  return new OperationError(`MySQL/MariaDB: ${what} failed: ${describeCause(error)}${code ? ` (${code})` : ''}`, { cause: scrub(error) });
}

// ---------------------------------------------------------------------------------------------
// Introspection

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer']);
const BINARY_TYPES = new Set([
  'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit',
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon',
  'geometrycollection', 'geomcollection', 'vector',
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
}

async function introspectSchema(connection: Connection, mariadb: boolean): Promise<SchemaInfo> {
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
            c.COLUMN_TYPE AS column_type, c.IS_NULLABLE AS is_nullable, c.EXTRA AS extra
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
      fk = { name: String(key.constraint_name), columns: [], referencedTable: String(key.referenced_table), referencedColumns: [], deferrable: false };
      foreignKeys.set(id, fk);
      table.foreignKeys.push(fk);
    }
    fk.columns.push(String(key.column_name));
    fk.referencedColumns.push(String(key.referenced_column));
  }
  return { tables: [...byTable.values()] };
}

// ---------------------------------------------------------------------------------------------
// Export

/**
 * How a column's text-protocol bytes become its NDJSON value (chosen once per column):
 * - NUMBER: the digits as they are (ZEROFILL: leading zeros dropped, as `Number()` would);
 * - ASCII: server text made of digits, signs, `-:. e` (decimal, float, date/time types):
 *   quoted, nothing to escape;
 * - TEXT: UTF-8 (utf8mb4 session) quoted and escaped exactly as JSON.stringify escapes a string;
 * - BASE64: the raw bytes, base64.
 */
const KIND = { number: 0, zerofill: 1, ascii: 2, text: 3, base64: 4 } as const;
type Kind = (typeof KIND)[keyof typeof KIND];

const ASCII_TYPES = new Set(['bigint', 'decimal', 'float', 'double', 'date', 'datetime', 'timestamp', 'time', 'year']);

function kindOf(column: ColumnInfo): Kind {
  const type = column.type.toLowerCase();
  const base = /^[a-z]+/.exec(type)?.[0] ?? type;
  if (column.encoding === 'number') return /\bzerofill\b/.test(type) ? KIND.zerofill : KIND.number;
  if (column.encoding === 'base64') return KIND.base64;
  return ASCII_TYPES.has(base) ? KIND.ascii : KIND.text;
}

function selectExpression(column: ColumnInfo): string {
  const base = /^[a-z]+/.exec(column.type.toLowerCase())?.[0];
  return base === 'float' ? `(t.${q(column.name)} + 0e0)` : `t.${q(column.name)}`;
}

function orderBy(plan: TablePlan): string {
  const keys = plan.primaryKey.length > 0 ? plan.primaryKey : plan.columns.map((c) => c.name);
  return keys.map((k) => `t.${q(k)}`).join(', ');
}

export function exportSql(plan: TablePlan): string {
  return `SELECT ${plan.columns.map(selectExpression).join(', ')} FROM ${q(plan.table)} t WHERE ${plan.where} ORDER BY ${orderBy(plan)}`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** JSON.stringify's short escapes for control characters (0 = use \u00xx). */
const SHORT_ESCAPES = new Uint8Array(32);
SHORT_ESCAPES[0x08] = 0x62; // \b
SHORT_ESCAPES[0x09] = 0x74; // \t
SHORT_ESCAPES[0x0a] = 0x6e; // \n
SHORT_ESCAPES[0x0c] = 0x66; // \f
SHORT_ESCAPES[0x0d] = 0x72; // \r
const NULL_JSON = Buffer.from('null', 'latin1');
const OUTPUT_CHUNK = 2 * 1024 * 1024;

/**
 * Text-protocol result rows → NDJSON lines, straight from the packet bytes: each value is a
 * length-encoded string (0xFB = NULL) that is copied, quoted or escaped into a large output
 * buffer by its column's kind — no Buffer, string or array per row or value. A row whose text
 * is not valid UTF-8 (bytes the server could not convert) takes the slow path, which gives what
 * JSON.stringify of the decoded string gives (U+FFFD for bad bytes), as before.
 */
class MysqlRowEncoder {
  rows = 0;
  private out: Buffer = Buffer.alloc(0);
  private at = 0;
  private taken = 0;

  constructor(
    private readonly table: string,
    private readonly kinds: readonly Kind[],
  ) {}

  take(): Buffer | undefined {
    if (this.at === this.taken) return undefined;
    const bytes = this.out.subarray(this.taken, this.at);
    this.taken = this.at;
    return bytes;
  }

  pending(): number {
    return this.at - this.taken;
  }

  /** Converts one row packet's payload buf[pos, end). */
  convert(buf: Buffer, pos: number, end: number): void {
    const kinds = this.kinds;
    const width = kinds.length;
    // Worst case: every byte a control character (6 bytes), base64 (4/3), plus per-value overhead.
    const need = (end - pos) * 6 + width * 8 + 16;
    if (this.at + need > this.out.length) this.grow(need);
    const rowStart = pos;
    const out = this.out;
    let o = this.at;
    out[o++] = 0x5b; // [
    for (let column = 0; column < width; column++) {
      if (column > 0) out[o++] = 0x2c;
      let length = buf[pos++]!;
      if (length === 0xfb) {
        o += NULL_JSON.copy(out, o);
        continue;
      }
      if (length >= 0xfc) {
        if (length === 0xfc) {
          length = buf.readUInt16LE(pos);
          pos += 2;
        } else if (length === 0xfd) {
          length = buf.readUIntLE(pos, 3);
          pos += 3;
        } else {
          length = Number(buf.readBigUInt64LE(pos));
          pos += 8;
        }
      }
      const valueEnd = pos + length;
      if (valueEnd > end) throw this.bad(`is shorter than its column ${column + 1} says`);
      switch (kinds[column]) {
        case KIND.number:
          if (length === 0) throw this.bad(`has an empty number in column ${column + 1}`);
          while (pos < valueEnd) out[o++] = buf[pos++]!;
          break;
        case KIND.zerofill: {
          let first = pos;
          while (first < valueEnd - 1 && buf[first] === 0x30) first++;
          if (length === 0) throw this.bad(`has an empty number in column ${column + 1}`);
          while (first < valueEnd) out[o++] = buf[first++]!;
          pos = valueEnd;
          break;
        }
        case KIND.ascii:
          out[o++] = QUOTE;
          while (pos < valueEnd) out[o++] = buf[pos++]!;
          out[o++] = QUOTE;
          break;
        case KIND.text:
          out[o++] = QUOTE;
          while (pos < valueEnd) {
            const b = buf[pos++]!;
            if (b > QUOTE && b !== BACKSLASH) {
              out[o++] = b;
              if (b >= 0x80) {
                // A multi-byte UTF-8 sequence, copied once it is known to be valid.
                const size = utf8SequenceLength(buf, pos - 1, valueEnd);
                if (size === 0) {
                  this.convertSlowly(buf, rowStart, end);
                  return;
                }
                for (let i = 1; i < size; i++) out[o++] = buf[pos++]!;
              }
            } else if (b === QUOTE || b === BACKSLASH) {
              out[o++] = BACKSLASH;
              out[o++] = b;
            } else if (b >= 0x20) {
              out[o++] = b; // space, !
            } else if (SHORT_ESCAPES[b] !== 0) {
              out[o++] = BACKSLASH;
              out[o++] = SHORT_ESCAPES[b]!;
            } else {
              out[o++] = BACKSLASH;
              out[o++] = 0x75; // u
              out[o++] = 0x30;
              out[o++] = 0x30;
              out[o++] = HEX_DIGITS[b >> 4]!;
              out[o++] = HEX_DIGITS[b & 15]!;
            }
          }
          out[o++] = QUOTE;
          break;
        case KIND.base64:
          out[o++] = QUOTE;
          o += out.write(buf.toString('base64', pos, valueEnd), o, 'latin1');
          out[o++] = QUOTE;
          pos = valueEnd;
          break;
      }
    }
    if (pos !== end) throw this.bad(`does not have ${width} columns`);
    out[o++] = 0x5d; // ]
    out[o++] = 0x0a;
    this.at = o;
    this.rows += 1;
  }

  /** The reference behaviour, for rows with bytes that are not UTF-8. */
  private convertSlowly(buf: Buffer, pos: number, end: number): void {
    const values: string[] = [];
    for (const kind of this.kinds) {
      let length = buf[pos++]!;
      if (length === 0xfb) {
        values.push('null');
        continue;
      }
      if (length === 0xfc) {
        length = buf.readUInt16LE(pos);
        pos += 2;
      } else if (length === 0xfd) {
        length = buf.readUIntLE(pos, 3);
        pos += 3;
      } else if (length === 0xfe) {
        length = Number(buf.readBigUInt64LE(pos));
        pos += 8;
      }
      const raw = buf.subarray(pos, pos + length);
      pos += length;
      if (kind === KIND.number) values.push(raw.toString('latin1'));
      else if (kind === KIND.zerofill) values.push(String(Number(raw.toString('latin1'))));
      else if (kind === KIND.ascii) values.push(`"${raw.toString('latin1')}"`);
      else if (kind === KIND.text) values.push(JSON.stringify(raw.toString('utf8')));
      else values.push(`"${raw.toString('base64')}"`);
    }
    if (pos !== end) throw this.bad(`does not have ${this.kinds.length} columns`);
    const line = Buffer.from(`[${values.join(',')}]\n`, 'utf8');
    if (this.at + line.length > this.out.length) this.grow(line.length);
    this.at += line.copy(this.out, this.at);
    this.rows += 1;
  }

  private grow(need: number): void {
    const pending = this.out.subarray(this.taken, this.at);
    const next = Buffer.allocUnsafe(Math.max(OUTPUT_CHUNK, need + pending.length));
    pending.copy(next, 0);
    this.out = next;
    this.at = pending.length;
    this.taken = 0;
  }

  private bad(what: string): OperationError {
    return new OperationError(`MySQL/MariaDB: exporting table "${this.table}": row ${this.rows + 1} of the result ${what}; the export was stopped.`, {
      details: { table: this.table, row: this.rows + 1 },
    });
  }
}

/**
 * Length of the valid UTF-8 sequence starting at buf[at] (a byte ≥ 0x80) that ends by `end`, or 0
 * if it is not valid UTF-8 (WHATWG rules: no overlong forms, no surrogates, nothing past U+10FFFF).
 */
function utf8SequenceLength(buf: Buffer, at: number, end: number): number {
  const lead = buf[at]!;
  let size: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) size = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    size = 3;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    size = 4;
    if (lead === 0xf0) low = 0x90;
    else if (lead === 0xf4) high = 0x8f;
  } else return 0;
  if (at + size > end) return 0;
  const second = buf[at + 1]!;
  if (second < low || second > high) return 0;
  for (let i = 2; i < size; i++) {
    const next = buf[at + i]!;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return size;
}

/** Progress is reported at least every 1024 rows (a mask). */
const PROGRESS_ROWS = 1023;
/** Output is handed to `out` in pieces of about this size. */
const FLUSH_BYTES = 1024 * 1024;

/** mysql2's packet (lib/packets/packet.js): the payload is buffer[offset, end). */
interface RowPacket {
  buffer: Buffer;
  offset: number;
  end: number;
  isEOF(): boolean;
}
type RowState = (packet: RowPacket, connection: unknown) => unknown;

function exportRows(connection: Connection, plan: TablePlan, out: Writable, onRows: ((rows: number) => void) | undefined, onBroken: () => void): Promise<ExportResult> {
  const encoder = new MysqlRowEncoder(plan.table, plan.columns.map(kindOf));
  return new Promise<ExportResult>((resolve, reject) => {
    let settled = false;
    let paused = false;

    const settleError = (error: unknown) => {
      if (settled) return;
      settled = true;
      unwatch();
      out.off('error', onOutError);
      out.off('close', onOutClose);
      const failure = fail(`exporting table "${plan.table}"`, error);
      if (!out.destroyed) out.destroy(failure);
      reject(failure);
    };
    // The consumer went away mid-query: MySQL cannot cancel a running result on the same
    // connection, so the connection is dropped (the snapshot ends with it).
    const abandon = (error: unknown) => {
      if (settled) return;
      onBroken();
      connection.destroy();
      settleError(error);
    };
    const onOutError = (error: unknown) => abandon(error);
    const onOutClose = () => abandon(new Error('the output stream was closed before the export finished'));
    out.on('error', onOutError);
    out.on('close', onOutClose);
    // A connection lost mid-result (server gone, killed session, stall guard, abort) reaches a
    // query without a callback only as the connection's 'error' — or, when the socket merely
    // closes, not at all: both must fail the export, or its promise would never settle.
    const socket = (connection as unknown as MysqlInternals).stream;
    const onLost = (error?: unknown) => {
      onBroken();
      settleError(error instanceof Error ? error : new Error('the connection to the server was lost'));
    };
    const onSocketClose = () => onLost();
    connection.on('error', onLost);
    socket.on('close', onSocketClose);
    const unwatch = () => {
      connection.off('error', onLost);
      socket.off('close', onSocketClose);
    };

    const onDrain = () => {
      paused = false;
      if (!settled) connection.resume();
    };
    const flush = (last = false) => {
      const bytes = encoder.take();
      if (!bytes) return;
      // After the last row nothing is paused any more: the connection has other work to do.
      if (!out.write(bytes) && !paused && !last) {
        paused = true;
        connection.pause();
        out.once('drain', onDrain);
      }
      onRows?.(encoder.rows);
    };

    const query = connection.query({ sql: exportSql(plan), rowsAsArray: true, typeCast: false } as QueryOptions) as unknown as Record<string, unknown> &
      NodeJS.EventEmitter;
    // Rows are taken from mysql2's Query command before its row parser builds an array of
    // Buffers per row: its `row` state is replaced (on this query only) by one that converts the
    // packet's bytes; the end-of-rows packet goes back to mysql2's own `row` state.
    const ownRow = query.row as RowState;
    const rawRow: RowState = function (this: unknown, packet, conn) {
      if (packet.isEOF()) return ownRow.call(this, packet, conn);
      if (settled) return rawRow;
      try {
        encoder.convert(packet.buffer, packet.offset, packet.end);
      } catch (error) {
        abandon(error);
        return rawRow;
      }
      if (encoder.pending() >= FLUSH_BYTES) flush();
      else if ((encoder.rows & PROGRESS_ROWS) === 0) onRows?.(encoder.rows);
      return rawRow;
    };
    query.row = rawRow;
    query.on('error', (error: unknown) => settleError(error));
    query.on('end', () => {
      if (settled) return;
      out.off('error', onOutError);
      out.off('close', onOutClose);
      flush(true);
      onRows?.(encoder.rows);
      out.end();
      unwatch();
      finished(out, { readable: false }).then(
        () => {
          settled = true;
          resolve({ rows: encoder.rows });
        },
        (error: unknown) => settleError(error),
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Import

/** Largest multi-row INSERT, in rows and in characters of SQL (kept well under max_allowed_packet). */
const BATCH_ROWS = 1000;
const BATCH_CHARS = 4 * 1024 * 1024;
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

async function importRows(
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

// ---------------------------------------------------------------------------------------------
// Session

function truthy(raw: Buffer | null | undefined, dataType: string | undefined): boolean | null {
  if (raw == null) return null;
  if (dataType === 'bit' || dataType === 'binary' || dataType === 'varbinary') return raw.some((b) => b !== 0);
  const text = raw.toString('utf8').trim().toLowerCase();
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return Number(text) !== 0;
  return !['', 'false', 'f', 'no', 'n', 'off'].includes(text);
}

class MysqlSession implements OrganizationSession {
  readonly dialect = mysqlDialect;
  private version: string | undefined;
  private broken = false;
  /** Restore transactions' own connections, while open (see abort). */
  private readonly restoring = new Set<Connection>();

  constructor(
    private readonly mysql: MysqlModule,
    private readonly connection: Connection,
    private readonly target: ConnectTarget,
  ) {}

  async listOrganizationIds(config: OrganizationsConfig): Promise<string[]> {
    const rows = await runRaw(this.connection, `SELECT t.${q(config.idColumn)} FROM ${q(config.table)} t ORDER BY t.${q(config.idColumn)}`).catch(
      (error: unknown) => {
        throw fail(`listing the organizations of "${config.table}"`, error);
      },
    );
    return rows.map((row) => row[0]?.toString('utf8') ?? '').filter((id) => id !== '');
  }

  async serverVersion(): Promise<string> {
    if (this.version === undefined) {
      const rows = await runRaw(this.connection, 'SELECT VERSION()').catch((error: unknown) => {
        throw fail('reading the server version', error);
      });
      this.version = rows[0]?.[0]?.toString('utf8') ?? '';
    }
    return this.version;
  }

  async introspect(): Promise<SchemaInfo> {
    const mariadb = /mariadb/i.test(await this.serverVersion());
    return introspectSchema(this.connection, mariadb).catch((error: unknown) => {
      throw fail('reading the schema', error);
    });
  }

  async withSnapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const connection = this.connection;
    try {
      await run(connection, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await run(connection, 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    } catch (error) {
      throw fail('starting the snapshot transaction', error);
    }
    const reader: SnapshotReader = {
      findOrganization: (config, id) => this.findOrganization(config, id),
      exportTable: (plan, out, onRows) => {
        if (this.broken) {
          const error = new OperationError('MySQL/MariaDB: the snapshot connection was dropped by an earlier failed export.');
          out.destroy(error);
          return Promise.reject(error);
        }
        return exportRows(connection, plan, out, onRows, () => {
          this.broken = true;
        });
      },
    };
    let result: T;
    try {
      result = await fn(reader);
    } catch (error) {
      if (!this.broken) await run(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
    try {
      await run(connection, 'COMMIT');
    } catch (error) {
      throw fail('ending the snapshot transaction', error);
    }
    return result;
  }

  private async findOrganization(config: OrganizationsConfig, id: string): Promise<OrganizationRow | null> {
    return (await this.organizationRows(config, id, false))[0] ?? null;
  }

  /** Rows whose id or code equals `reference` (`--org <id|code>`); at most 10. */
  findOrganizations(config: OrganizationsConfig, reference: string): Promise<OrganizationRow[]> {
    return this.organizationRows(config, reference, true);
  }

  private async organizationRows(config: OrganizationsConfig, id: string, orCode: boolean): Promise<OrganizationRow[]> {
    try {
      const columns = (await run(
        this.connection,
        `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
        [config.table],
      )) as Array<{ name: string; type: string }>;
      const types = new Map(columns.map((c) => [String(c.name), String(c.type).toLowerCase()]));
      if (!types.has(config.idColumn)) {
        throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
      }
      const pick = (name: string) => (types.has(name) ? `t.${q(name)}` : 'NULL');
      let where = `t.${q(config.idColumn)} = ${mysqlDialect.literal(id, { type: types.get(config.idColumn) } as ColumnInfo)}`;
      if (orCode) {
        // Compared as exact text (a string compared with an integer column would be cast to a
        // number: 'acme' would match id 0).
        const exact = (column: string) => `CAST(t.${q(column)} AS CHAR) COLLATE utf8mb4_bin = ${mysqlDialect.literal(id)}`;
        where = [config.idColumn, config.codeColumn].filter((column) => types.has(column)).map(exact).join(' OR ');
      }
      const rows = await runRaw(
        this.connection,
        `SELECT t.${q(config.idColumn)}, ${pick(config.nameColumn)}, ${pick(config.codeColumn)}, ${pick('auto_backup_enabled')}
           FROM ${q(config.table)} t WHERE ${where} ORDER BY 1 LIMIT ${orCode ? 10 : 1}`,
      );
      const text = (raw: Buffer | null | undefined) => (raw == null ? null : raw.toString('utf8'));
      return rows.map((row) => ({
        id: text(row[0]) ?? id,
        name: text(row[1]),
        code: text(row[2]),
        autoBackupEnabled: types.has('auto_backup_enabled') ? truthy(row[3], types.get('auto_backup_enabled')) : null,
      }));
    } catch (error) {
      throw fail(`reading organization ${id} from "${config.table}"`, error);
    }
  }

  /**
   * The restore runs on its own connection, closed afterwards, so the session settings below can
   * never leak into anything else:
   * - FOREIGN_KEY_CHECKS = 0: InnoDB checks foreign keys row by row at each statement (there is no
   *   deferral), so self-referencing rows inserted in key order, foreign-key cycles between tables,
   *   and rows of tables outside the plan that reference the organization's rows (an ON DELETE
   *   CASCADE would silently delete them, RESTRICT would refuse) all need it off while rows are
   *   replaced. Cascades therefore do not fire: children are deleted explicitly, children first.
   *   Before COMMIT every foreign key of every restored row is checked (`checkRestoredReferences`),
   *   so a restore can never commit dangling references of its own rows. SET FOREIGN_KEY_CHECKS
   *   does not commit; DDL would (and so would ALTER TABLE … AUTO_INCREMENT), so none is issued.
   * - UNIQUE_CHECKS stays on.
   */
  async withRestoreTransaction<T>(plan: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
    const connection = await openConnection(this.mysql, this.target);
    this.restoring.add(connection);
    try {
      let batchChars = BATCH_CHARS;
      let schema: SchemaInfo;
      try {
        const packet = ((await run(connection, 'SELECT @@max_allowed_packet AS size')) as Array<{ size: string | number }>)[0]?.size;
        // JS string length × 3 bounds the UTF-8 bytes of the statement.
        if (packet !== undefined) batchChars = Math.max(64 * 1024, Math.min(BATCH_CHARS, Math.floor(Number(packet) / 3) - 64 * 1024));
        schema = await introspectSchema(connection, /mariadb/i.test(await this.serverVersion()));
        await run(connection, 'SET FOREIGN_KEY_CHECKS = 0');
        await run(connection, 'START TRANSACTION');
      } catch (error) {
        throw fail('starting the restore transaction', error);
      }
      const writer: RestoreWriter = {
        countRows: async (table) => {
          try {
            const rows = await runRaw(connection, `SELECT COUNT(*) FROM ${q(table.table)} t WHERE ${table.where}`);
            return Number(rows[0]?.[0]?.toString('latin1') ?? 0);
          } catch (error) {
            throw fail(`counting rows of table "${table.table}"`, error);
          }
        },
        deleteRows: async (table) => {
          try {
            const result = (await run(connection, `DELETE t FROM ${q(table.table)} t WHERE ${table.where}`)) as { affectedRows: number };
            return result.affectedRows;
          } catch (error) {
            throw fail(`deleting rows of table "${table.table}"`, error);
          }
        },
        importTable: (table, columns, rows, onRows) => importRows(this.mysql, connection, batchChars, table, columns, rows, onRows),
        // InnoDB moves AUTO_INCREMENT past every explicitly inserted id by itself (and MariaDB
        // 10.2+/MySQL 8 persist it), and ALTER TABLE … AUTO_INCREMENT would commit the restore
        // half-way. Nothing to do.
        resetCounters: async () => undefined,
      };
      let result: T;
      try {
        result = await fn(writer);
        await checkRestoredReferences(connection, schema, plan);
      } catch (error) {
        await run(connection, 'ROLLBACK').catch(() => undefined);
        throw error;
      }
      try {
        await run(connection, 'COMMIT');
      } catch (error) {
        throw fail('committing the restore', error);
      }
      return result;
    } finally {
      // Never handed back anywhere, but restore the setting anyway before the connection ends.
      await run(connection, 'SET FOREIGN_KEY_CHECKS = 1').catch(() => undefined);
      this.restoring.delete(connection);
      await new Promise<void>((resolve) => connection.end(() => resolve()));
      connection.destroy();
    }
  }

  abort(reason: Error): void {
    this.broken = true;
    for (const connection of [this.connection, ...this.restoring]) destroyConnection(connection, reason);
  }

  async close(): Promise<void> {
    if (this.broken) {
      this.connection.destroy();
      return;
    }
    await new Promise<void>((resolve) => this.connection.end(() => resolve()));
    this.connection.destroy();
  }
}

/**
 * With foreign-key checks off, MySQL would commit dangling references; this stands in for the
 * check InnoDB skipped, limited to the restored (organization's) rows of each planned table.
 */
async function checkRestoredReferences(connection: Connection, schema: SchemaInfo, plan: TablePlan[]): Promise<void> {
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

// ---------------------------------------------------------------------------------------------

async function connect(config: OrganizationsConfig, options: ConnectOptions = {}): Promise<OrganizationSession> {
  const mysql = ((await import('mysql2')) as { default?: MysqlModule }).default ?? ((await import('mysql2')) as MysqlModule);
  const target = { ...connectTarget(config), stallTimeoutMs: options.stallTimeoutMs };
  const connection = await openConnection(mysql, target);
  return new MysqlSession(mysql, connection, target);
}

export const mysqlEngine = { name: 'mysql', connect } satisfies OrganizationEngine;
