/**
 * `mysql2` (callback API) as the MySQL/MariaDB organization engine uses it: one dedicated
 * connection at a time (never a pool), opened with options that keep values exact and a session
 * `sql_mode` that never changes a value on the way.
 *
 * Sessions run with `SET NAMES utf8mb4`, `time_zone = '+00:00'` and the server's `sql_mode`
 * minus the modes that would change values on the way (NO_ZERO_DATE, NO_ZERO_IN_DATE,
 * NO_BACKSLASH_ESCAPES — mysql2 escapes with backslashes —, EMPTY_STRING_IS_NULL,
 * PAD_CHAR_TO_FULL_LENGTH) plus STRICT_TRANS_TABLES (a value that does not fit fails instead of
 * being truncated) and NO_AUTO_VALUE_ON_ZERO (an id 0 is restored as 0, as mysqldump does).
 *
 * This file reaches into mysql2's internals (the socket under a connection, its command in
 * flight): test/integration/mysql-*.test.ts are the gate for a driver upgrade.
 */
import type { Connection, ConnectionOptions, QueryError, QueryOptions } from 'mysql2';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError, ConnectionError, OperationError, TenantBackupError, describeCause, redactSecrets } from '../../errors.js';
import { connectionSecrets } from '../connection.js';
import { stalledError } from '../stall.js';

export type MysqlModule = typeof import('mysql2');

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

export interface ConnectTarget {
  options: ConnectionOptions;
  stallTimeoutMs?: number;
  /** `host:port` or the socket path, for messages. */
  where: string;
  user: string;
  secrets: string[];
}

export function connectTarget(config: OrganizationsConfig): ConnectTarget {
  const raw = config.connection;
  let base: Record<string, unknown>;
  const secrets = connectionSecrets(raw);
  if (typeof raw === 'string') {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError('organizations.connection is not a valid mysql:// URL.');
    }
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
  const where = typeof base.socketPath === 'string' ? base.socketPath : `${String(base.host ?? 'localhost')}:${String(base.port ?? 3306)}`;
  return { options: { ...(base as ConnectionOptions), ...EXACT_OPTIONS }, where, user: String(base.user ?? ''), secrets };
}

export interface MysqlInternals {
  stream: import('node:net').Socket;
  /** mysql2's command in flight, if any. */
  _command: unknown;
}

/**
 * Closes a connection at once. Through the socket, with an error: mysql2 then fails the command
 * in flight (and the queue) with it — its own destroy() marks the connection as closing and leaves
 * pending commands unsettled forever.
 */
export function destroyConnection(connection: Connection, reason: Error): void {
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

export async function openConnection(mysql: MysqlModule, target: ConnectTarget): Promise<Connection> {
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
    const modes = String(rows[0]?.mode ?? '')
      .split(',')
      .filter((m) => m !== '' && !REMOVED_MODES.has(m.toUpperCase()));
    for (const mode of ADDED_MODES) if (!modes.includes(mode)) modes.push(mode);
    await run(connection, 'SET SESSION sql_mode = ?', [modes.join(',')]);
  } catch (error) {
    connection.destroy();
    throw new ConnectionError(`Cannot prepare the MySQL/MariaDB session at ${target.where}: ${redactSecrets(describeCause(error), target.secrets)}`, scrub(error, target.secrets));
  }
  return connection;
}

/** Drops the (possibly huge, data-bearing) SQL text mysql2 attaches to errors, and any secret. */
export function scrub(error: unknown, secrets: string[] = []): unknown {
  if (error && typeof error === 'object') {
    const e = error as { sql?: unknown; message?: unknown };
    if ('sql' in e) delete e.sql;
    if (typeof e.message === 'string') e.message = redactSecrets(e.message, secrets);
  }
  return error;
}

export function run(connection: Connection, sql: string, values?: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, values }, (err: QueryError | null, result: unknown) => (err ? reject(err) : resolve(result)));
  });
}

/** mysql2's Query command and connection, as far as runStatement uses them. */
interface QueryCommand {
  start(packet: unknown, connection: PacketWriter): unknown;
}
interface PacketWriter {
  writePacket(packet: { buffer: Buffer }): void;
  write(bytes: Buffer): void;
  sequenceId: number;
  _bumpSequenceId(packets: number): void;
}

/** The protocol's largest packet payload; a longer command goes in several. */
const MAX_PACKET_PAYLOAD = 0xffffff;

/**
 * Runs one statement given as UTF-8 bytes in pieces instead of a string: for statements too large
 * to be a JavaScript string (~512 MiB), or to be copied again into a packet (a restore's row
 * holding one large value: its pieces are mostly views of the row's own bytes). mysql2 runs it as
 * one of its own queries (queue, errors, result, the stall guard), except that where it would write
 * the packet of an empty statement, the statement's packets are written instead: that packet's
 * command bytes (COM_QUERY, and the query-attribute bytes where the server uses them), then the
 * pieces, cut into 16 MiB protocol packets as mysql2 cuts its own — without copying them.
 */
export function runStatement(connection: Connection, pieces: readonly Buffer[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const Base = connection.constructor as unknown as {
      createQuery(sql: QueryOptions, values: undefined, cb: (err: QueryError | null, result: unknown) => void, config: unknown): QueryCommand;
    };
    const command = Base.createQuery({ sql: '' }, undefined, (err, result) => (err ? reject(err) : resolve(result)), (connection as unknown as { config: unknown }).config);
    const start = command.start;
    command.start = function (packet, conn) {
      const write = conn.writePacket;
      conn.writePacket = (empty) => {
        conn.writePacket = write;
        writePackets(conn, [empty.buffer.subarray(4), ...pieces]);
      };
      try {
        return start.call(this, packet, conn);
      } finally {
        conn.writePacket = write;
      }
    };
    connection.query(command as unknown as QueryOptions);
  });
}

/** The payload `pieces` as protocol packets (a payload that fills its last packet is followed by an empty one). */
function writePackets(conn: PacketWriter, pieces: readonly Buffer[]): void {
  let left = pieces.reduce((sum, piece) => sum + piece.length, 0);
  let index = 0;
  let offset = 0;
  for (;;) {
    const size = Math.min(MAX_PACKET_PAYLOAD, left);
    conn.write(Buffer.from([size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, conn.sequenceId]));
    conn._bumpSequenceId(1);
    for (let need = size; need > 0;) {
      const piece = pieces[index]!;
      const n = Math.min(need, piece.length - offset);
      if (n > 0) conn.write(piece.subarray(offset, offset + n));
      need -= n;
      offset += n;
      if (offset === piece.length) {
        index += 1;
        offset = 0;
      }
    }
    left -= size;
    if (size < MAX_PACKET_PAYLOAD) return;
  }
}

/** Raw query: every value is a Buffer (text-protocol bytes) or null, rows are arrays. */
export function runRaw(connection: Connection, sql: string): Promise<Array<Array<Buffer | null>>> {
  return new Promise((resolve, reject) => {
    connection.query({ sql, rowsAsArray: true, typeCast: false } as QueryOptions, (err: QueryError | null, result: unknown) =>
      err ? reject(err) : resolve(result as Array<Array<Buffer | null>>),
    );
  });
}

/** Our own typed errors pass through; driver errors become an OperationError naming the step. */
export function fail(what: string, error: unknown): TenantBackupError {
  if (error instanceof TenantBackupError) return error;
  const code = (error as { code?: string }).code;
  return new OperationError(`MySQL/MariaDB: ${what} failed: ${describeCause(error)}${code ? ` (${code})` : ''}`, { cause: scrub(error) });
}
