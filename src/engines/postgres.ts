/**
 * PostgreSQL organization engine: `pg` (one `pg.Client` per transaction) + `pg-copy-streams`.
 *
 * Export — the server does exactly what `psql \copy (SELECT …) TO STDOUT` makes it do, nothing
 * more: each table is read with
 *   COPY (SELECT t.<column>, … FROM <table> t WHERE <plan.where> ORDER BY <pk>) TO STDOUT
 * (text format), and the COPY bytes are turned into NDJSON in Node by a byte-level converter
 * (`CopyTextToNdjson`) while the server produces the next rows: the two run on different cores.
 * No JS object, no JS string per row or value. The NDJSON is byte for byte what the server's
 * own JSON encoder produced in earlier versions (`json_build_array` with the expressions of
 * `jsonExpression`), which test/integration/postgres-export-wire.test.ts checks: COPY's text
 * escapes (`\\ \n \r \t \b \f \v`, raw other control characters) map one to one onto
 * JSON's, and the few types whose JSON form differs from their text form are rewritten in the
 * converter (timestamps) or read through their text cast (below). Measured with the 1M-row
 * benchmark organization on 2 cores (bench/): the server spends 1.3 s instead of 2.8 s (its JSON
 * encoder looks every value's type up and escapes character by character), and the converter
 * costs ~0.3 s of Node CPU, on the other core. The COPY protocol is read by `CopyToNdjson`
 * straight from the socket (no Buffer per row), and NDJSON leaves in 1 MiB pieces.
 *
 * Encodings (by the column's base type, domains looked through):
 * - int2, int4 → `number` (the text output is a JSON number); bool → `boolean` (`t`/`f` →
 *   `true`/`false`); bytea → `base64` (hex output, re-encoded as newline-free base64);
 * - everything else → `string`: the type's own text output, which its input function reads back
 *   exactly (pg_dump's guarantee) — int8, numeric, float4/8 (extra_float_digits = 3: shortest
 *   exact, NaN/±Infinity kept), money, time, timetz, interval, uuid, enums, arrays, ranges,
 *   inet, xml, … Types with a function cast to text (bpchar, inet, cidr, name, "char", …) are
 *   read as `col::text`, as before. date / timestamp / timestamptz are written in the JSON
 *   encoder's ISO 8601 form (`2020-01-01T09:00:00.123456+00:00`, TimeZone = UTC; `infinity` and
 *   `… BC` forms included), which the input functions accept too: the converter replaces the
 *   text form's date/time space by `T` and writes a whole-hour offset `+00` as `+00:00` (exactly
 *   the difference between PostgreSQL's ISO and XSD date styles);
 * - json and jsonb → `string` as well, NOT embedded: a `json` value's exact text may contain raw
 *   newlines (whitespace between tokens), which would break NDJSON framing, and an embedded jsonb
 *   `null` could not be told apart from SQL NULL. As strings, both come back exactly.
 * Tables without a primary key are ordered by the byte order of their encoded rows (the same
 * `json_build_array` text, computed for the ORDER BY only), so equal data gives equal archives.
 *
 * Import — NDJSON lines are converted to COPY text format in a streaming Transform and copied
 * straight into the table: `COPY <table> (<columns>) FROM STDIN`. Each value goes through its
 * column's input function, exactly as in a pg_dump restore (identity columns take the given values,
 * as with OVERRIDING SYSTEM VALUE). One COPY statement per table, so foreign keys between rows of
 * the same table (self-references) are checked at the end of that statement. Measured against a
 * server-side staging table (`COPY tmp(doc jsonb)` + `INSERT … SELECT (doc->>0)::type, …`), this
 * was ~1.5x faster with 1M rows, because the JSON decoding in Node runs in parallel with the
 * server's inserts.
 *
 * Sessions: every connection sets UTC, ISO DateStyle, the `postgres` IntervalStyle, shortest-exact
 * floats, hex bytea, search_path = the configured schema, no statement/lock/idle timeouts,
 * row_security = off (like pg_dump: a role subject to row-level security gets an error instead of a
 * silently partial backup) and jit = off: compiling the export queries (and the restore's
 * DELETEs) took 0.3–2.5 s per statement here, more than running them.
 *
 * Snapshot: one `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` on a dedicated connection.
 * Restore: one transaction on a dedicated connection, `SET CONSTRAINTS ALL DEFERRED` (DEFERRABLE
 * foreign keys are checked at commit); if the plan has a cycle between tables through a
 * non-deferrable foreign key, `SET LOCAL session_replication_role = replica` (superuser only; it
 * also skips triggers and ON DELETE actions for that transaction) — otherwise an OperationError
 * explains the options. Both settings end with the transaction; the connection is closed after.
 */
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { OrganizationsConfig } from '../config/schema.js';
import { hasForeignKeyCycle } from '../core/plan-organization.js';
import {
  ConfigError,
  ConnectionError,
  InvalidNameError,
  OperationError,
  TenantBackupError,
  describeCause,
  redactSecrets,
} from '../errors.js';
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

type PgModule = typeof import('pg');
type CopyStreams = typeof import('pg-copy-streams');

interface Driver {
  pg: PgModule;
  /** pg-copy-streams, for COPY FROM (restores only): loaded on first use. */
  copy(): Promise<CopyStreams>;
}

/** Built-in type OIDs (fixed forever by PostgreSQL). */
const OID = {
  bool: 16,
  bytea: 17,
  int2: 21,
  int4: 23,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

const APPLICATION_NAME = 'tenant-backup';
const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** json_build_array takes at most 100 arguments (FUNC_MAX_ARGS). */
const MAX_FUNCTION_ARGS = 100;

export const postgresDialect: SqlDialect = {
  quoteIdentifier: (name) => `"${name.replaceAll('"', '""')}"`,
  literal(value) {
    if (!ORGANIZATION_ID.test(value)) throw new InvalidNameError(`Invalid organization id ${JSON.stringify(value)}: use letters, digits, "_" and "-".`);
    return `'${value}'`;
  },
};
const q = postgresDialect.quoteIdentifier;

/** What error messages may say about the target: never the password. */
interface Target {
  host: string;
  port: string;
  database: string;
  user: string;
  secrets: string[];
}

/**
 * The pg.Client configuration for a knex-style `connection` (URL string or object). Every value is
 * returned as the server's text (no Date, no Number): the engine only reads its own catalog rows
 * and counts through this client; rows travel through COPY.
 */
export function postgresClientConfig(connection: OrganizationsConfig['connection']): pg.ClientConfig {
  const base: pg.ClientConfig = typeof connection === 'string' ? { connectionString: connection } : { ...(connection as pg.ClientConfig) };
  return {
    ...base,
    application_name: base.application_name ?? APPLICATION_NAME,
    // A blackholed host fails in 30 s rather than the OS's minutes; long COPYs notice a dead peer.
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? 30_000,
    keepAlive: base.keepAlive ?? true,
    types: { getTypeParser: (() => (value: string) => value) as unknown as pg.CustomTypesConfig['getTypeParser'] },
  };
}

function describeTarget(connection: OrganizationsConfig['connection']): Target {
  const env = process.env;
  let host = env.PGHOST ?? 'localhost';
  let port = env.PGPORT ?? '5432';
  let database = env.PGDATABASE ?? '';
  let user = env.PGUSER ?? '';
  const secrets: string[] = [];
  const fromUrl = (value: string) => {
    try {
      const url = new URL(value);
      if (url.hostname) host = decodeURIComponent(url.hostname);
      if (url.port) port = url.port;
      if (url.pathname.length > 1) database = decodeURIComponent(url.pathname.slice(1));
      if (url.username) user = decodeURIComponent(url.username);
      if (url.password) secrets.push(url.password, decodeURIComponent(url.password));
      const params = url.searchParams;
      for (const key of ['password', 'sslpassword']) {
        const secret = params.get(key);
        if (secret) secrets.push(secret);
      }
      host = params.get('host') ?? host;
      user = params.get('user') ?? user;
    } catch {
      // Not a URL (e.g. a libpq key=value string): describe what is known; redact the whole string.
      secrets.push(value);
    }
  };
  if (typeof connection === 'string') {
    fromUrl(connection);
  } else {
    const c = connection as Record<string, unknown>;
    if (typeof c.connectionString === 'string') fromUrl(c.connectionString);
    if (typeof c.host === 'string') host = c.host;
    if (typeof c.port === 'number' || typeof c.port === 'string') port = String(c.port);
    if (typeof c.database === 'string') database = c.database;
    if (typeof c.user === 'string') user = c.user;
    if (typeof c.password === 'string') secrets.push(c.password);
  }
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  return { host, port, database, user, secrets };
}

function isDatabaseError(error: unknown): error is pg.DatabaseError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && 'severity' in error;
}

/** A driver/server message fit for an error: detail and context appended, secrets removed. */
function driverMessage(error: unknown, secrets: readonly string[]): string {
  let text = describeCause(error);
  if (isDatabaseError(error)) {
    if (error.detail) text += ` (${error.detail})`;
    if (error.where) text += ` [${error.where}]`;
  }
  return redactSecrets(text, secrets);
}

interface LiveColumn {
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
const COLUMNS_SQL = `
  SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
         base.oid AS base_oid, a.attnotnull AS not_null, a.attidentity <> '' AS identity,
         a.attgenerated <> '' AS generated,
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

interface ColumnRow {
  table_name: string;
  name: string;
  type: string;
  base_oid: string;
  not_null: string;
  identity: string;
  generated: string;
  sequence_default: string;
  text_cast: string;
}

const toLiveColumn = (row: ColumnRow): LiveColumn => ({
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

/**
 * The JSON a column had in earlier versions, built by the server (`json_build_array` argument):
 * now only used to order rows of tables without a primary key, and as the reference the
 * converter's output is tested against.
 */
export function jsonExpression(column: ColumnInfo, baseOid: number): string {
  const ref = `t.${q(column.name)}`;
  switch (column.encoding) {
    case 'number':
    case 'boolean':
    case 'json':
      return ref;
    case 'base64':
      // encode() breaks base64 lines every 76 characters.
      return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
    case 'string':
      if (baseOid === OID.date || baseOid === OID.timestamp || baseOid === OID.timestamptz) return ref;
      return `${ref}::text`;
  }
}

/** One JSON array per row; beyond json_build_array's 100 arguments, chunks are joined as text. */
function rowExpression(expressions: string[]): string {
  if (expressions.length <= MAX_FUNCTION_ARGS) return `json_build_array(${expressions.join(', ')})`;
  const parts: string[] = [];
  for (let i = 0; i < expressions.length; i += MAX_FUNCTION_ARGS) {
    // json_build_array's text is "[" + elements joined by ", " + "]": keep the elements.
    parts.push(`left(substr(json_build_array(${expressions.slice(i, i + MAX_FUNCTION_ARGS).join(', ')})::text, 2), -1)`);
  }
  return `('[' || ${parts.join(` || ', ' || `)} || ']')`;
}

/** How a column's COPY text becomes its NDJSON value (see CopyTextToNdjson). */
const WIRE = { number: 0, boolean: 1, string: 2, timestamp: 3, timestamptz: 4, bytea: 5 } as const;
type Wire = (typeof WIRE)[keyof typeof WIRE];

function wireOf(column: ColumnInfo, baseOid: number): Wire {
  switch (column.encoding) {
    case 'number':
      return WIRE.number;
    case 'boolean':
      return WIRE.boolean;
    case 'base64':
      return WIRE.bytea;
    case 'json':
      throw new OperationError(`Column "${column.name}" has the encoding "json", which the PostgreSQL engine never writes.`);
    case 'string':
      return baseOid === OID.timestamp ? WIRE.timestamp : baseOid === OID.timestamptz ? WIRE.timestamptz : WIRE.string;
  }
}

/** The select-list expression whose COPY text the converter reads for this column. */
function copyExpression(column: ColumnInfo, live: LiveColumn): string {
  const ref = `t.${q(column.name)}`;
  return column.encoding === 'string' && live.textCast ? `${ref}::text` : ref;
}

// Bytes the converter reads and writes.
const TAB = 0x09;
const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const NULL_JSON = Buffer.from('null', 'latin1');
const TRUE_JSON = Buffer.from('true', 'latin1');
const FALSE_JSON = Buffer.from('false', 'latin1');
/** Whole-hour offsets (`+00`) get their minutes (`+00:00`), as in the JSON encoder's XSD style. */
const ZERO_MINUTES = Buffer.from(':00', 'latin1');
const OUTPUT_CHUNK = 2 * 1024 * 1024;
/** NDJSON is handed downstream in pieces of at least this size (each piece costs every stage a call). */
const PUSH_BYTES = 1024 * 1024;

/**
 * COPY text format → NDJSON, one JSON array per line, working on bytes. Raw tabs and newlines in
 * COPY text are always structure (data tabs/newlines arrive as `\t`/`\n`), so fields are cut
 * without decoding anything; `\N` alone is NULL. Inside strings, COPY's escapes
 * `\\ \n \r \t \b \f` are already JSON escapes and are copied; `\v` becomes `\u000b`, a raw `"`
 * becomes `\"`, other raw control characters `\u00xx` (what PostgreSQL's JSON encoder writes).
 * Anything unexpected (a column count or escape COPY never produces) fails the export instead of
 * writing a doubtful line.
 *
 * Output goes into large buffers; `take()` hands out what was written since the last call (a
 * view: later writes go after it, never over it).
 */
export class NdjsonEncoder {
  rows = 0;
  private out: Buffer = Buffer.alloc(0);
  private at = 0;
  private taken = 0;

  constructor(
    private readonly table: string,
    private readonly wires: readonly Wire[],
  ) {}

  /** Bytes written since the last take(). */
  pending(): number {
    return this.at - this.taken;
  }

  /** The NDJSON written since the last call, or undefined. */
  take(): Buffer | undefined {
    if (this.at === this.taken) return undefined;
    const bytes = this.out.subarray(this.taken, this.at);
    this.taken = this.at;
    return bytes;
  }

  /**
   * Converts the complete lines of buf[pos, end) (end is just past a newline) — in practice one
   * line: COPY sends each row as one message.
   */
  convert(buf: Buffer, pos: number, end: number): void {
    const wires = this.wires;
    const width = wires.length;
    let out = this.out;
    let o = this.at;
    while (pos < end) {
      // Worst case: every byte a control character (6 bytes each), plus per-field overhead.
      const need = (end - pos) * 6 + width * 8 + 16;
      if (o + need > out.length) {
        this.at = o;
        out = this.grow(need);
        o = this.at;
      }
      out[o++] = 0x5b; // [
      for (let column = 0; column < width; column++) {
        if (column > 0) out[o++] = COMMA;
        const terminator = column === width - 1 ? LF : TAB;
        let b: number;
        if (buf[pos] === BACKSLASH && buf[pos + 1] === 0x4e /* N */) {
          if (buf[pos + 2] !== terminator) throw this.bad(`has a malformed NULL in column ${column + 1}`);
          o += NULL_JSON.copy(out, o);
          pos += 3;
          continue;
        }
        switch (wires[column]) {
          case WIRE.number: {
            const start = o;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) out[o++] = b;
            if (o === start) throw this.bad(`has an empty number in column ${column + 1}`);
            break;
          }
          case WIRE.boolean: {
            const value = buf[pos++];
            b = buf[pos++]!;
            if (value === 0x74 /* t */) o += TRUE_JSON.copy(out, o);
            else if (value === 0x66 /* f */) o += FALSE_JSON.copy(out, o);
            else throw this.bad(`has a malformed boolean in column ${column + 1}`);
            break;
          }
          case WIRE.string: {
            out[o++] = QUOTE;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) {
              if (b > QUOTE && b !== BACKSLASH) {
                out[o++] = b;
              } else if (b === BACKSLASH) {
                const escaped = buf[pos++]!;
                if (escaped === 0x76 /* v */) {
                  o = writeUnicodeEscape(out, o, 0x0b);
                } else if (escaped === BACKSLASH || escaped === 0x6e || escaped === 0x72 || escaped === 0x74 || escaped === 0x62 || escaped === 0x66) {
                  out[o++] = BACKSLASH; // \\ \n \r \t \b \f: the same escape in JSON
                  out[o++] = escaped;
                } else {
                  throw this.bad(`has an unexpected escape in column ${column + 1}`);
                }
              } else if (b === QUOTE) {
                out[o++] = BACKSLASH;
                out[o++] = QUOTE;
              } else if (b < SPACE) {
                o = writeUnicodeEscape(out, o, b);
              } else {
                out[o++] = b; // space, !
              }
            }
            out[o++] = QUOTE;
            break;
          }
          case WIRE.timestamp:
          case WIRE.timestamptz: {
            // `2020-01-01 09:00:00.5+00 BC` → `2020-01-01T09:00:00.5+00:00 BC`; `infinity` as is.
            const zoned = wires[column] === WIRE.timestamptz;
            let spaces = 0;
            let offset = -1; // characters of the zone offset after its sign; -1 before it
            out[o++] = QUOTE;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) {
              if (b === SPACE) {
                spaces += 1;
                if (spaces === 1) {
                  out[o++] = 0x54; // T
                  continue;
                }
                if (offset === 2) o += ZERO_MINUTES.copy(out, o);
                offset = -2;
              } else if (zoned && spaces === 1 && offset === -1 && (b === PLUS || b === MINUS)) {
                offset = 0;
              } else if (offset >= 0) {
                offset += 1;
              }
              out[o++] = b;
            }
            if (offset === 2) o += ZERO_MINUTES.copy(out, o);
            out[o++] = QUOTE;
            break;
          }
          case WIRE.bytea: {
            // Hex output, its backslash escaped by COPY: `\\x0aff…`.
            if (buf[pos] !== BACKSLASH || buf[pos + 1] !== BACKSLASH || buf[pos + 2] !== 0x78 /* x */) {
              throw this.bad(`has a bytea value not in hex form in column ${column + 1}`);
            }
            const hexStart = pos + 3;
            let hexEnd = hexStart;
            for (b = buf[hexEnd]!; b !== TAB && b !== LF; b = buf[++hexEnd]!);
            const bytes = Buffer.from(buf.toString('latin1', hexStart, hexEnd), 'hex');
            if (bytes.length * 2 !== hexEnd - hexStart) throw this.bad(`has malformed hex in column ${column + 1}`);
            out[o++] = QUOTE;
            o += out.write(bytes.toString('base64'), o, 'latin1');
            out[o++] = QUOTE;
            pos = hexEnd + 1;
            break;
          }
          default:
            throw this.bad(`column ${column + 1} has no converter`);
        }
        if (b !== terminator) throw this.bad(`does not have ${width} columns`);
      }
      out[o++] = 0x5d; // ]
      out[o++] = LF;
      this.rows += 1;
    }
    this.at = o;
  }

  /** A fresh output buffer with room for `need` bytes (what was written stays valid for take()). */
  private grow(need: number): Buffer {
    const pending = this.out.subarray(this.taken, this.at);
    const next = Buffer.allocUnsafe(Math.max(OUTPUT_CHUNK, need + pending.length));
    // Not yet taken bytes move along (rare: take() is called after every input chunk).
    pending.copy(next, 0);
    this.out = next;
    this.at = pending.length;
    this.taken = 0;
    return next;
  }

  bad(what: string): OperationError {
    return new OperationError(`Exporting table "${this.table}": row ${this.rows + 1} of COPY's output ${what}; the export was stopped.`, {
      details: { table: this.table, row: this.rows + 1 },
    });
  }
}

/** The pg connection internals a COPY stream takes over (as pg-copy-streams does). */
interface PgConnection {
  stream: import('node:net').Socket;
  query(text: string): void;
}

// Backend message types seen during COPY OUT (protocol 3).
const MSG_COPY_DATA = 0x64; // d
const MSG_COPY_DONE = 0x63; // c
const MSG_ERROR = 0x45; // E

/**
 * `COPY … TO STDOUT` as a Readable of NDJSON: a pg "submittable" that, like pg-copy-streams'
 * copy-to, takes the connection's socket over for the duration of the COPY (pulling it only as
 * fast as its reader consumes: back-pressure reaches the server), but parses the protocol itself
 * and converts each CopyData message (one row in text format) in place, straight from the
 * socket's bytes: no Buffer per row, no intermediate stream. At CopyDone or an ErrorResponse the
 * socket goes back to pg, which reports the command's completion or the error.
 */
export class CopyToNdjson extends Readable {
  rowCount = 0;
  private connection: PgConnection | undefined;
  private pgDataHandler: ((chunk: Buffer) => void) | undefined;
  private readonly onReadable = () => this.forward();
  private wanted = false;
  private forwarding = false;
  private finished = false;
  /** An incomplete message (header or payload) carried over to the next socket chunk(s). */
  private partial: Buffer[] = [];
  private partialLength = 0;
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Resolves once pg saw the COPY complete (ReadyForQuery), with `rowCount` set. */
  readonly completed = new Promise<void>((resolve, reject) => {
    this.settle = { resolve, reject };
  });

  constructor(
    private readonly text: string,
    readonly encoder: NdjsonEncoder,
    private readonly onRows?: (rows: number) => void,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.completed.catch(() => undefined); // also reported through the stream
  }

  /** Called by pg when this query's turn comes. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const socket = connection.stream;
    const listeners = socket.listeners('data') as Array<(chunk: Buffer) => void>;
    if (listeners.length !== 1) throw new Error('unexpected pg connection state: not exactly one data listener');
    this.pgDataHandler = listeners[0]!;
    socket.removeListener('data', this.pgDataHandler);
    socket.pause();
    socket.on('readable', this.onReadable);
    connection.query(this.text);
    this.forward();
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.wanted || !this.connection || this.finished) return;
    this.forwarding = true;
    try {
      const socket = this.connection.stream;
      let chunk: Buffer | null;
      while (this.wanted && !this.finished && (chunk = socket.read() as Buffer | null) !== null) this.parse(chunk);
    } catch (error) {
      this.finished = true;
      this.destroy(error as Error);
    } finally {
      this.forwarding = false;
    }
  }

  /** Walks the messages of one socket chunk; converts CopyData rows in place. */
  private parse(chunk: Buffer): void {
    let pos = 0;
    if (this.partialLength > 0) {
      // Complete the message cut by the previous chunk(s) with the head of this one — a small copy
      // (a message is one row); a large row's pieces are gathered and joined once.
      this.partial.push(chunk);
      this.partialLength += chunk.length;
      if (this.partialLength < 5) return;
      const head = this.partial[0]!.length >= 5 ? this.partial[0]! : Buffer.concat(this.partial, this.partialLength);
      const total = 1 + head.readUInt32BE(1);
      if (head[0] !== MSG_ERROR && total > this.partialLength) return;
      const before = this.partialLength - chunk.length;
      const pieces = this.partial;
      const length = this.partialLength;
      this.partial = [];
      this.partialLength = 0;
      if (head[0] === MSG_ERROR || head[0] === MSG_COPY_DONE) {
        // The COPY ends with this message: everything after it (CommandComplete, ReadyForQuery, …)
        // is pg's to read, so the whole of this chunk goes back with it, never only the message.
        this.walk(Buffer.concat(pieces, length), 0);
        return;
      }
      // Buffer.concat stops at `total`: only the message's own bytes are copied.
      if (this.walk(Buffer.concat(pieces, total), 0)) return;
      pos = total - before;
    }
    this.walk(chunk, pos);
  }

  /**
   * Handles the messages of buf from pos: converts CopyData rows in place, keeps an incomplete
   * last message for the next chunk. True once the COPY is over (the rest belongs to pg).
   */
  private walk(buf: Buffer, pos: number): boolean {
    const encoder = this.encoder;
    const length = buf.length;
    while (pos < length) {
      if (length - pos < 5) break; // an incomplete header
      const type = buf[pos]!;
      const end = pos + 1 + buf.readUInt32BE(pos + 1);
      if (type === MSG_ERROR) {
        // pg parses the error and calls handleError; everything from here on is its to read.
        this.detach(buf.subarray(pos));
        return true;
      }
      if (end > length) break; // an incomplete message
      if (type === MSG_COPY_DATA) {
        if (end > pos + 5) {
          if (buf[end - 1] !== LF) throw encoder.bad('is not one line');
          encoder.convert(buf, pos + 5, end);
        }
      } else if (type === MSG_COPY_DONE) {
        this.finished = true;
        this.emitOutput();
        this.onRows?.(encoder.rows);
        this.detach(buf.subarray(end));
        this.push(null);
        return true;
      }
      // Anything else during COPY OUT (CopyOutResponse, notices, parameter status) is skipped.
      pos = end;
    }
    if (pos < length) {
      // A copy: the socket's chunk is not kept alive for a partial message.
      this.partial = [Buffer.from(buf.subarray(pos))];
      this.partialLength = length - pos;
    }
    this.emitOutput();
    return false;
  }

  /** Pushes the NDJSON converted so far — in large pieces (fewer hops downstream), or all of it at the end. */
  private emitOutput(): void {
    if (!this.finished && this.encoder.pending() < PUSH_BYTES) return;
    const bytes = this.encoder.take();
    if (!bytes) return;
    this.wanted = this.push(bytes);
    this.onRows?.(this.encoder.rows);
  }

  /** Hands the socket (and the bytes after the COPY data) back to pg. */
  private detach(rest: Buffer): void {
    const connection = this.connection!;
    const socket = connection.stream;
    socket.removeListener('readable', this.onReadable);
    socket.addListener('data', this.pgDataHandler!);
    if (rest.length > 0) this.pgDataHandler!(rest);
    // pg's handler may pause the socket; resume once it has returned.
    process.nextTick(() => socket.resume());
  }

  /** pg: the server reported an error for this COPY. */
  handleError(error: Error): void {
    this.finished = true;
    this.settle?.reject(error);
    this.destroy(error);
  }

  /** pg: `COPY n`. */
  handleCommandComplete(message: { text?: string }): void {
    const match = /COPY (\d+)/.exec(message.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {
    this.settle?.resolve();
  }
}

function writeUnicodeEscape(out: Buffer, o: number, code: number): number {
  out[o++] = BACKSLASH;
  out[o++] = 0x75; // u
  out[o++] = 0x30;
  out[o++] = 0x30;
  out[o++] = HEX_DIGITS[code >> 4]!;
  out[o++] = HEX_DIGITS[code & 15]!;
  return o;
}

const COPY_TEXT_SPECIAL = /[\\\n\r\t]/;
const COPY_TEXT_SPECIAL_G = /[\\\n\r\t]/g;
const COPY_TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeCopyText = (value: string): string =>
  COPY_TEXT_SPECIAL.test(value) ? value.replace(COPY_TEXT_SPECIAL_G, (ch) => COPY_TEXT_ESCAPES[ch]!) : value;

/**
 * NDJSON rows (as written by exportTable) → COPY text format, line by line. Strict: every line
 * must be a JSON array with one value per column, each of its column's encoding, or the import
 * fails (and the restore rolls back).
 */
class NdjsonToCopyText extends Transform {
  private pending: Buffer[] = [];
  private line = 0;
  rows = 0;

  constructor(
    private readonly table: string,
    private readonly columns: ColumnInfo[],
    private readonly onRows?: (rows: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const end = buffer.lastIndexOf(10);
      if (end === -1) {
        this.pending.push(buffer);
        callback();
        return;
      }
      const head = this.pending.length > 0 ? Buffer.concat([...this.pending, buffer.subarray(0, end)]) : buffer.subarray(0, end);
      this.pending = end + 1 < buffer.length ? [buffer.subarray(end + 1)] : [];
      callback(null, this.convert(head.toString('utf8')));
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      const rest = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      callback(null, rest.trim() === '' ? undefined : this.convert(rest));
    } catch (error) {
      callback(error as Error);
    }
  }

  private convert(text: string): string {
    const lines = text.split('\n');
    const columns = this.columns;
    const width = columns.length;
    let out = '';
    for (const line of lines) {
      this.line += 1;
      let values: unknown;
      try {
        values = JSON.parse(line);
      } catch (error) {
        throw this.bad(`is not valid JSON (${describeCause(error)})`);
      }
      if (!Array.isArray(values) || values.length !== width) {
        throw this.bad(`is not a JSON array of ${width} values`);
      }
      for (let i = 0; i < width; i += 1) {
        const value: unknown = values[i];
        if (i > 0) out += '\t';
        if (value === null) {
          out += '\\N';
          continue;
        }
        const column = columns[i]!;
        switch (column.encoding) {
          case 'string':
            if (typeof value !== 'string') throw this.badValue(column, value);
            out += escapeCopyText(value);
            break;
          case 'number':
            if (typeof value !== 'number') throw this.badValue(column, value);
            out += String(value);
            break;
          case 'boolean':
            if (typeof value !== 'boolean') throw this.badValue(column, value);
            out += value ? 't' : 'f';
            break;
          case 'base64':
            if (typeof value !== 'string') throw this.badValue(column, value);
            // bytea hex input `\x…`, its backslash escaped for COPY text.
            out += '\\\\x' + Buffer.from(value, 'base64').toString('hex');
            break;
          case 'json':
            throw this.badValue(column, value);
        }
      }
      out += '\n';
    }
    this.rows += lines.length;
    this.onRows?.(this.rows);
    return out;
  }

  private bad(what: string): OperationError {
    return new OperationError(`Restoring table "${this.table}": line ${this.line} of its rows ${what}.`, { details: { table: this.table, line: this.line } });
  }

  private badValue(column: ColumnInfo, value: unknown): OperationError {
    return this.bad(`has ${value === null ? 'null' : typeof value} for column "${column.name}", which is encoded as ${column.encoding}`);
  }
}

async function loadDriver(): Promise<Driver> {
  const pgModule = (await import('pg')) as PgModule & { default?: PgModule };
  let copy: Promise<CopyStreams> | undefined;
  return {
    pg: pgModule.default ?? pgModule,
    copy: () =>
      (copy ??= import('pg-copy-streams').then((module) => (module as CopyStreams & { default?: CopyStreams }).default ?? (module as CopyStreams))),
  };
}

/** An `auto_backup_enabled` value as text: boolean → 'true'/'false'; integer flags → '1'/'0'. */
function flagOf(text: string | null): boolean | null {
  return text === null ? null : !['false', 'f', '0', 'no', 'off', ''].includes(text.toLowerCase());
}

class PostgresSession implements OrganizationSession {
  readonly dialect = postgresDialect;
  readonly schema: string;
  private readonly target: Target;
  private readonly clientConfig: pg.ClientConfig;
  private main: pg.Client | undefined;
  private readonly open = new Set<pg.Client>();

  constructor(
    private readonly driver: Driver,
    config: OrganizationsConfig,
    private readonly options: ConnectOptions = {},
  ) {
    this.schema = config.schema ?? 'public';
    this.target = describeTarget(config.connection);
    this.clientConfig = postgresClientConfig(config.connection);
  }

  private get setup(): string {
    return [
      `SET TimeZone = 'UTC'`,
      `SET DateStyle = 'ISO, YMD'`,
      `SET IntervalStyle = 'postgres'`,
      `SET extra_float_digits = 3`,
      `SET bytea_output = 'hex'`,
      `SET client_encoding = 'UTF8'`,
      `SET standard_conforming_strings = on`,
      `SET statement_timeout = 0`,
      `SET lock_timeout = 0`,
      `SET idle_in_transaction_session_timeout = 0`,
      `SET row_security = off`,
      // JIT compiles each export query (and the restore's DELETEs) at a cost of 0.3–2.5 s here,
      // more than running them. (Guarded: a server without the setting simply skips it.)
      `SELECT set_config('jit', 'off', false) FROM pg_settings WHERE name = 'jit'`,
      // pg_temp last: no temporary table can shadow an application table.
      `SET search_path = ${q(this.schema)}, pg_temp`,
    ].join('; ');
  }

  async connect(): Promise<void> {
    this.main = await this.openClient();
  }

  /** A new connection with the session settings; closed by `closeClient`. */
  private async openClient(): Promise<pg.Client> {
    const client = new this.driver.pg.Client(this.clientConfig);
    // A connection lost while idle is reported by the next query; never crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      void client.end().catch(() => undefined);
      const { host, port, database, user } = this.target;
      throw new ConnectionError(
        `Cannot connect to PostgreSQL at ${host}:${port}, database "${database}", user "${user}": ${driverMessage(error, this.target.secrets)}`,
        error,
      );
    }
    this.open.add(client);
    guardAgainstStalls(client, this.options.stallTimeoutMs);
    try {
      await client.query(this.setup);
    } catch (error) {
      await this.closeClient(client, true);
      throw this.operationError('Preparing the PostgreSQL session failed', error);
    }
    return client;
  }

  /** Ends a connection; `broken` (e.g. a COPY abandoned mid-stream) closes the socket at once. */
  private async closeClient(client: pg.Client, broken = false): Promise<void> {
    if (!this.open.delete(client)) return;
    if (broken) {
      destroySocket(client);
      return;
    }
    await client.end().catch(() => undefined);
  }

  private async run(client: pg.Client, sql: string, what: string): Promise<void> {
    try {
      await client.query(sql);
    } catch (error) {
      throw this.operationError(`${what} failed`, error);
    }
  }

  operationError(what: string, error: unknown): TenantBackupError {
    if (error instanceof TenantBackupError) return error;
    return new OperationError(`${what}: ${driverMessage(error, this.target.secrets)}`, { cause: error });
  }

  private mainClient(): pg.Client {
    if (!this.main) throw new OperationError('The PostgreSQL session is closed.');
    return this.main;
  }

  async listOrganizationIds(config: OrganizationsConfig): Promise<string[]> {
    const q = postgresDialect.quoteIdentifier;
    try {
      const result = await this.mainClient().query<{ id: string }>(
        `SELECT t.${q(config.idColumn)}::text AS id FROM ${q(config.table)} t ORDER BY t.${q(config.idColumn)}`,
      );
      return result.rows.map((row) => row.id);
    } catch (error) {
      throw this.operationError(`Listing the organizations of "${config.table}" failed`, error);
    }
  }

  /** Rows whose id or code equals `reference` as text (`--org <id|code>`); at most 10. */
  async findOrganizations(config: OrganizationsConfig, reference: string): Promise<OrganizationRow[]> {
    const q = postgresDialect.quoteIdentifier;
    try {
      const client = this.mainClient();
      const columns = await this.liveColumns(client, config.table);
      if (!columns.has(config.idColumn)) {
        throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
      }
      const text = (name: string) => (columns.has(name) ? `t.${q(name)}::text` : 'NULL::text');
      const byCode = columns.has(config.codeColumn) ? ` OR t.${q(config.codeColumn)}::text = $1` : '';
      const result = await client.query<{ id: string; name: string | null; code: string | null; auto: string | null }>(
        `SELECT t.${q(config.idColumn)}::text AS id, ${text(config.nameColumn)} AS name, ${text(config.codeColumn)} AS code,
                ${text('auto_backup_enabled')} AS auto
         FROM ${q(config.table)} t WHERE t.${q(config.idColumn)}::text = $1${byCode} ORDER BY 1 LIMIT 10`,
        [reference],
      );
      return result.rows.map((row) => ({ id: row.id, name: row.name, code: row.code, autoBackupEnabled: flagOf(row.auto) }));
    } catch (error) {
      throw this.operationError(`Looking up organization "${reference}" in table "${config.table}" failed`, error);
    }
  }

  async serverVersion(): Promise<string> {
    try {
      const result = await this.mainClient().query<{ server_version: string }>('SHOW server_version');
      return result.rows[0]!.server_version;
    } catch (error) {
      throw this.operationError('Reading the server version failed', error);
    }
  }

  async introspect(): Promise<SchemaInfo> {
    const client = this.mainClient();
    try {
      const columns = await client.query<ColumnRow>(COLUMNS_SQL, [this.schema, null]);
      const keys = await client.query<{ table_name: string; columns: string }>(
        `SELECT c.relname AS table_name,
                (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum)::text AS columns
         FROM pg_constraint con
         JOIN pg_class c ON c.oid = con.conrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE con.contype = 'p' AND n.nspname = $1`,
        [this.schema],
      );
      const foreign = await client.query<{
        name: string; table_name: string; referenced_table: string; deferrable: string; columns: string; referenced_columns: string;
      }>(
        `SELECT con.conname AS name, c.relname AS table_name, rc.relname AS referenced_table, con.condeferrable AS deferrable,
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
        [this.schema],
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
        };
        table.foreignKeys.push(fk);
      }
      return { tables: [...tables.values()] };
    } catch (error) {
      throw this.operationError(`Reading the tables of schema "${this.schema}" failed`, error);
    }
  }

  async liveColumns(client: pg.Client, table: string): Promise<Map<string, LiveColumn>> {
    const result = await client.query<ColumnRow>(COLUMNS_SQL, [this.schema, table]);
    if (result.rows.length === 0) throw new OperationError(`Table "${table}" does not exist in schema "${this.schema}".`, { details: { table } });
    return new Map(result.rows.map((row) => [row.name, toLiveColumn(row)]));
  }

  /**
   * The table's own rows in a FROM clause: `ONLY "t"` for an ordinary table, so that rows of tables
   * inheriting from it (legacy inheritance) are left to those tables' own plans; a partitioned
   * table holds no rows itself, its partitions are read through it.
   */
  async ownRows(client: pg.Client, table: string): Promise<string> {
    const result = await client.query<{ relkind: string }>(
      `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [this.schema, table],
    );
    const kind = result.rows[0]?.relkind;
    if (kind === undefined) throw new OperationError(`Table "${table}" does not exist in schema "${this.schema}".`, { details: { table } });
    return kind === 'p' ? q(table) : `ONLY ${q(table)}`;
  }

  async withSnapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const client = await this.openClient();
    const state = { broken: false };
    try {
      await this.run(client, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'Starting the snapshot');
      const result = await fn(new PostgresSnapshotReader(this, client, state));
      await this.run(client, 'COMMIT', 'Ending the snapshot');
      return result;
    } finally {
      // On failure the read-only transaction simply ends with its connection.
      await this.closeClient(client, state.broken);
    }
  }

  async withRestoreTransaction<T>(plan: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
    const client = await this.openClient();
    let healthy = true;
    try {
      await this.run(client, 'BEGIN', 'Starting the restore transaction');
      try {
        await this.run(client, 'SET CONSTRAINTS ALL DEFERRED', 'Deferring foreign-key checks');
        if (needsReplicationRole(plan)) await this.disableForeignKeyTriggers(client, plan);
        const result = await fn(new PostgresRestoreWriter(this, client));
        try {
          // DEFERRABLE foreign keys are checked here; a failed COMMIT rolls back.
          await client.query('COMMIT');
        } catch (error) {
          throw this.operationError('Committing the restore failed (it was rolled back)', error);
        }
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          healthy = false; // the server rolls back when the connection goes
        }
        throw error;
      }
    } finally {
      await this.closeClient(client, !healthy);
    }
  }

  private async disableForeignKeyTriggers(client: pg.Client, plan: TablePlan[]): Promise<void> {
    try {
      await client.query('SET LOCAL session_replication_role = replica');
    } catch (error) {
      const cycle = forwardForeignKeys(plan).filter((fk) => !fk.deferrable);
      const names = cycle.map((fk) => `"${fk.name}"`).join(', ');
      throw new OperationError(
        `The tables to restore reference each other in a cycle through foreign keys that are not DEFERRABLE (${names}). ` +
          `Restoring them needs either those constraints made DEFERRABLE (ALTER TABLE … ALTER CONSTRAINT … DEFERRABLE), ` +
          `or a restore as a superuser (which may set session_replication_role = replica for the transaction): ` +
          driverMessage(error, this.target.secrets),
        { cause: error, details: { constraints: cycle.map((fk) => fk.name) } },
      );
    }
  }

  async close(): Promise<void> {
    this.main = undefined;
    await Promise.all([...this.open].map((client) => this.closeClient(client)));
  }

  abort(reason: Error): void {
    this.main = undefined;
    for (const client of this.open) destroySocket(client, reason);
    this.open.clear();
  }

  async copyFrom(sql: string) {
    return (await this.driver.copy()).from(sql);
  }
}

/**
 * Which of a pipeline's streams failed first. A pipeline destroys every stream with the first
 * error, so each stream re-emits it later: only the first emitter is the origin. Used to tell the
 * caller's own stream failing (rethrown unchanged) from the database failing (wrapped).
 */
function firstFailure(streams: Array<Readable | Writable>): { readonly origin: Readable | Writable | undefined } {
  // The listeners stay: a stream may still report its error after the pipeline settled.
  const state = { origin: undefined as Readable | Writable | undefined };
  for (const stream of streams) {
    stream.on('error', () => {
      state.origin ??= stream;
    });
  }
  return state;
}

interface PgInternals {
  connection: { stream: import('node:net').Socket };
  _getActiveQuery(): unknown;
  _queryQueue: unknown[];
}

/**
 * Closes a connection that can no longer be used, without the protocol's goodbye. With a reason,
 * pg fails whatever is pending on it (the active query — a COPY included — and the queue) with
 * that error: nothing waiting on this connection stays pending.
 */
function destroySocket(client: pg.Client, reason?: Error): void {
  (client as unknown as PgInternals).connection.stream.destroy(reason);
}

/**
 * The stall guard: a connection with a query in flight that receives (and sends) nothing for
 * `timeoutMs` is closed with an error, so a hung server, network or protocol state can never hold
 * a backup — and its lock — forever. An idle connection (nothing pending) is left alone.
 */
function guardAgainstStalls(client: pg.Client, timeoutMs: number | undefined): void {
  if (!timeoutMs) return;
  const internals = client as unknown as PgInternals;
  const socket = internals.connection.stream;
  socket.setTimeout(timeoutMs);
  socket.on('timeout', () => {
    if (!internals._getActiveQuery() && internals._queryQueue.length === 0) return;
    socket.destroy(stalledError('PostgreSQL', timeoutMs));
  });
}

/** Foreign keys pointing at a table restored LATER in plan order (only cycles produce them). */
function forwardForeignKeys(plan: TablePlan[]): ForeignKeyInfo[] {
  const position = new Map(plan.map((p, i) => [p.table, i]));
  return plan.flatMap((p, i) => p.parents.filter((fk) => (position.get(fk.referencedTable) ?? -1) > i));
}

/** Deferring suffices unless a cycle runs through a foreign key that is not DEFERRABLE. */
function needsReplicationRole(plan: TablePlan[]): boolean {
  return hasForeignKeyCycle(plan) && forwardForeignKeys(plan).some((fk) => !fk.deferrable);
}

class PostgresSnapshotReader implements SnapshotReader {
  /** The schema's columns and relation kinds as this snapshot sees them, read once (two queries). */
  private catalog: Promise<{ columns: Map<string, Map<string, LiveColumn>>; kinds: Map<string, string> }> | undefined;

  constructor(
    private readonly session: PostgresSession,
    private readonly client: pg.Client,
    private readonly state: { broken: boolean },
  ) {}

  private loadCatalog() {
    this.catalog ??= (async () => {
      const schema = this.session.schema;
      const columns = await this.client.query<ColumnRow>(COLUMNS_SQL, [schema, null]);
      const kinds = await this.client.query<{ relname: string; relkind: string }>(
        `SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
        [schema],
      );
      const byTable = new Map<string, Map<string, LiveColumn>>();
      for (const row of columns.rows) {
        let table = byTable.get(row.table_name);
        if (!table) byTable.set(row.table_name, (table = new Map()));
        table.set(row.name, toLiveColumn(row));
      }
      return { columns: byTable, kinds: new Map(kinds.rows.map((row) => [row.relname, row.relkind])) };
    })();
    return this.catalog;
  }

  /** Like PostgresSession.liveColumns, from this snapshot's catalog. */
  private async liveColumns(table: string): Promise<Map<string, LiveColumn>> {
    const columns = (await this.loadCatalog()).columns.get(table);
    if (!columns) throw new OperationError(`Table "${table}" does not exist in schema "${this.session.schema}".`, { details: { table } });
    return columns;
  }

  /** Like PostgresSession.ownRows, from this snapshot's catalog. */
  private async ownRows(table: string): Promise<string> {
    const kind = (await this.loadCatalog()).kinds.get(table);
    if (kind === undefined) throw new OperationError(`Table "${table}" does not exist in schema "${this.session.schema}".`, { details: { table } });
    return kind === 'p' ? q(table) : `ONLY ${q(table)}`;
  }

  async findOrganization(config: OrganizationsConfig, id: string): Promise<OrganizationRow | null> {
    try {
      const columns = await this.liveColumns(config.table);
      if (!columns.has(config.idColumn)) {
        throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
      }
      const text = (name: string) => (columns.has(name) ? `t.${q(name)}::text` : 'NULL::text');
      // Compared as text: an id that is not even valid for the column's type is simply not found.
      const result = await this.client.query<{ id: string; name: string | null; code: string | null; auto: string | null }>(
        `SELECT t.${q(config.idColumn)}::text AS id, ${text(config.nameColumn)} AS name, ${text(config.codeColumn)} AS code,
                ${text('auto_backup_enabled')} AS auto
         FROM ${q(config.table)} t WHERE t.${q(config.idColumn)}::text = $1 LIMIT 1`,
        [id],
      );
      const row = result.rows[0];
      if (!row) return null;
      return {
        id: row.id,
        name: row.name,
        code: row.code,
        autoBackupEnabled: flagOf(row.auto),
      };
    } catch (error) {
      throw this.session.operationError(`Looking up organization ${id} in table "${config.table}" failed`, error);
    }
  }

  async exportTable(plan: TablePlan, out: Writable, onRows?: (rows: number) => void): Promise<ExportResult> {
    let copy: CopyToNdjson | undefined;
    let failure: ReturnType<typeof firstFailure> | undefined;
    try {
      const live = await this.liveColumns(plan.table);
      const found = plan.columns.map((column) => {
        const current = live.get(column.name);
        if (!current) throw new OperationError(`Column "${column.name}" of table "${plan.table}" no longer exists.`, { details: { table: plan.table, column: column.name } });
        return current;
      });
      const select = plan.columns.map((column, i) => copyExpression(column, found[i]!)).join(', ');
      const from = `FROM ${await this.ownRows(plan.table)} t WHERE ${plan.where}`;
      const order = plan.primaryKey.length > 0
        ? plan.primaryKey.map((c) => `t.${q(c)}`).join(', ')
        // No key: a stable order all the same (byte order of the encoded rows).
        : `(${rowExpression(plan.columns.map((column, i) => jsonExpression(column, found[i]!.baseOid)))})::text COLLATE "C"`;
      const encoder = new NdjsonEncoder(plan.table, plan.columns.map((column, i) => wireOf(column, found[i]!.baseOid)));
      copy = new CopyToNdjson(`COPY (SELECT ${select} ${from} ORDER BY ${order}) TO STDOUT`, encoder, onRows);
      failure = firstFailure([copy, out]);
      this.client.query(copy as unknown as pg.Submittable);
      await pipeline(copy, out);
      await copy.completed;
      if (encoder.rows !== copy.rowCount) throw new OperationError(`Exporting table "${plan.table}": ${encoder.rows} rows converted, but COPY sent ${copy.rowCount}.`);
      return { rows: encoder.rows };
    } catch (error) {
      // A COPY abandoned mid-stream leaves the connection in COPY mode: it cannot be reused.
      if (copy && !copy.readableEnded) {
        this.state.broken = true;
        destroySocket(this.client);
      }
      if (!out.destroyed) out.destroy(error as Error);
      // The caller's own stream failing is the caller's error.
      if (failure?.origin === out) throw error;
      throw this.session.operationError(`Exporting table "${plan.table}" failed`, error);
    }
  }
}

class PostgresRestoreWriter implements RestoreWriter {
  constructor(
    private readonly session: PostgresSession,
    private readonly client: pg.Client,
  ) {}

  async countRows(plan: TablePlan): Promise<number> {
    try {
      const table = await this.session.ownRows(this.client, plan.table);
      const result = await this.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} t WHERE ${plan.where}`);
      return Number(result.rows[0]!.n);
    } catch (error) {
      throw this.session.operationError(`Counting the rows of table "${plan.table}" failed`, error);
    }
  }

  async deleteRows(plan: TablePlan): Promise<number> {
    try {
      const table = await this.session.ownRows(this.client, plan.table);
      const result = await this.client.query(`DELETE FROM ${table} t WHERE ${plan.where}`);
      return result.rowCount ?? 0;
    } catch (error) {
      throw this.session.operationError(`Deleting the organization's rows of table "${plan.table}" failed`, error);
    }
  }

  async importTable(plan: TablePlan, columns: ColumnInfo[], rows: Readable, onRows?: (rows: number) => void): Promise<number> {
    const live = await this.session.liveColumns(this.client, plan.table).catch((error: unknown) => {
      rows.destroy();
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    });
    for (const column of columns) {
      const found = live.get(column.name);
      const problem = !found
        ? 'no longer exists in the database'
        : found.generated
          ? 'is now a generated column'
          : column.encoding === 'json'
            ? 'has the encoding "json", which the PostgreSQL engine never writes'
            : undefined;
      if (problem) {
        rows.destroy();
        throw new OperationError(`Cannot restore table "${plan.table}": the archive's column "${column.name}" ${problem}.`, {
          details: { table: plan.table, column: column.name },
        });
      }
    }
    const copy = await this.session.copyFrom(`COPY ${q(plan.table)} (${columns.map((c) => q(c.name)).join(', ')}) FROM STDIN`).catch((error: unknown) => {
      rows.destroy();
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    });
    const convert = new NdjsonToCopyText(plan.table, columns, onRows);
    const failure = firstFailure([rows, convert, copy]);
    try {
      this.client.query(copy);
      // An error anywhere (the rows stream, a bad line, the server) destroys the COPY stream,
      // which sends CopyFail: the server rejects the COPY and the connection stays usable.
      await pipeline(rows, convert, copy);
      return copy.rowCount;
    } catch (error) {
      // The caller's stream failing (e.g. a checksum mismatch) is the caller's error.
      if (failure.origin === rows) throw error;
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    }
  }

  async resetCounters(plan: TablePlan): Promise<void> {
    try {
      const result = await this.client.query<{ column_name: string; sequence: string }>(
        `WITH tbl AS (
           SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2
         ), owned AS (
           SELECT d.objid AS seq, d.refobjsubid AS attnum FROM pg_depend d, tbl
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = tbl.oid
             AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
           UNION
           SELECT d.refobjid, ad.adnum FROM pg_attrdef ad JOIN tbl ON ad.adrelid = tbl.oid
           JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
         )
         SELECT a.attname AS column_name, s.oid::regclass::text AS sequence
         FROM owned o
         JOIN pg_class s ON s.oid = o.seq AND s.relkind = 'S'
         JOIN pg_sequence ps ON ps.seqrelid = s.oid AND ps.seqincrement > 0
         JOIN tbl ON true
         JOIN pg_attribute a ON a.attrelid = tbl.oid AND a.attnum = o.attnum
         WHERE a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
         ORDER BY a.attnum`,
        [this.session.schema, plan.table],
      );
      for (const { column_name: column, sequence } of result.rows) {
        // Only ever forward: next value = max(id) + 1 unless the sequence is already past it.
        // `sequence` is regclass output: already quoted and qualified as needed.
        await this.client.query(
          `SELECT setval($1::regclass, m.max_id)
           FROM (SELECT max(t.${q(column)})::bigint AS max_id FROM ${q(plan.table)} t) m, ${sequence} s
           WHERE m.max_id IS NOT NULL AND (m.max_id > s.last_value OR (m.max_id = s.last_value AND NOT s.is_called))`,
          [sequence],
        );
      }
    } catch (error) {
      throw this.session.operationError(`Moving the sequences of table "${plan.table}" past the restored ids failed`, error);
    }
  }
}

export const postgresEngine = {
  name: 'postgres',
  async connect(config: OrganizationsConfig, options?: ConnectOptions): Promise<OrganizationSession> {
    if (config.client !== 'pg') {
      throw new ConfigError(`The PostgreSQL engine needs organizations.client "pg", not "${config.client}".`);
    }
    const session = new PostgresSession(await loadDriver(), config, options);
    await session.connect();
    return session;
  },
} satisfies OrganizationEngine;
