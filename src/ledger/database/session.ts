/**
 * One connection of the database ledger, whatever the engine: statements with `?` placeholders,
 * rows as plain objects of text and numbers, transactions, and the driver's errors worded without
 * secrets. The drivers are the organization engines' own (engines/<kind>/), opened with the same
 * settings, and imported only when a ledger connects — the JSON ledger's commands never load them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ConnectionError, OperationError, describeCause, redactSecrets } from '../../errors.js';
import { connectionSecrets } from '../../engines/connection.js';
import { DIALECTS, type Dialect } from './dialect.js';

export type Row = Record<string, unknown>;

export interface SqlSession {
  readonly dialect: Dialect;
  /** Where, for messages (never a password). */
  readonly where: string;
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  /** A statement; `insertId` for an INSERT (its `RETURNING id` where the engine has it). */
  execute(sql: string, params?: unknown[]): Promise<{ changes: number; insertId: number | null }>;
  /** Ends the session; called again, does nothing. */
  close(): Promise<void>;
  /** Called once if the session ends by itself (server gone, network): locks held on it are lost. */
  onEnd(listener: (error: Error) => void): void;
  /** False once the session has ended by itself or a statement failed because the connection did. */
  alive(): boolean;
}

export interface SessionTarget {
  client: 'pg' | 'mysql2' | 'better-sqlite3';
  connection: string | Record<string, unknown>;
  /** A SQLite file that may be created (the ledger's own file, not the application's database). */
  mayCreateFile?: boolean;
  /** The organizations database itself (SQLite: it must be in WAL mode, see openSqlite). */
  sharedWithOrganizations?: boolean;
}

export async function openSession(target: SessionTarget): Promise<SqlSession> {
  if (target.client === 'pg') return openPostgres(target);
  if (target.client === 'mysql2') return openMysql(target);
  return openSqlite(target);
}

async function openPostgres(target: SessionTarget): Promise<SqlSession> {
  const { loadDriver, postgresClientConfig, describeTarget, driverMessage } = await import('../../engines/postgres/client.js');
  const { pg } = await loadDriver();
  const described = describeTarget(target.connection);
  const where = `PostgreSQL ${described.host}:${described.port}/${described.database}`;
  const client = new pg.Client(postgresClientConfig(target.connection));
  const end = endWatch();
  client.on('error', end.ended);
  client.on('end', () => end.ended(new Error('the connection ended')));
  try {
    await client.connect();
  } catch (error) {
    throw new ConnectionError(
      `Cannot connect to the ledger's database (${where}${described.user ? ` as ${described.user}` : ''}): ${driverMessage(error, described.secrets)}`,
      error,
    );
  }
  const fail = (error: unknown) => {
    if (connectionLost(error)) end.ended(error as Error);
    return new OperationError(`${where}: ${driverMessage(error, described.secrets)}`, { cause: error });
  };
  return {
    dialect: DIALECTS.pg,
    where,
    async query(sql, params = []) {
      try {
        return (await client.query(DIALECTS.pg.sql(sql), params)).rows as Row[];
      } catch (error) {
        throw fail(error);
      }
    },
    async execute(sql, params = []) {
      try {
        const result = await client.query(DIALECTS.pg.sql(sql), params);
        const id = (result.rows[0] as { id?: unknown } | undefined)?.id;
        return { changes: result.rowCount ?? 0, insertId: id === undefined ? null : Number(id) };
      } catch (error) {
        throw fail(error);
      }
    },
    async close() {
      end.closing();
      await client.end().catch(() => undefined);
    },
    onEnd: end.onEnd,
    alive: end.alive,
  };
}

async function openMysql(target: SessionTarget): Promise<SqlSession> {
  const { connectTarget, openConnection, run, scrub } = await import('../../engines/mysql/driver.js');
  const mysql = (await import('mysql2')).default;
  const connectTo = connectTarget({ connection: target.connection } as Parameters<typeof connectTarget>[0]);
  const where = `MySQL/MariaDB ${connectTo.where}`;
  const connection = await openConnection(mysql, connectTo);
  const end = endWatch();
  connection.on('error', end.ended);
  connection.on('end', () => end.ended(new Error('the connection ended')));
  const fail = (error: unknown) => {
    if (connectionLost(error)) end.ended(error as Error);
    return new OperationError(`${where}: ${redactSecrets(describeCause(scrub(error, connectTo.secrets)), connectTo.secrets)}`, { cause: error });
  };
  return {
    dialect: DIALECTS.mysql,
    where,
    async query(sql, params = []) {
      try {
        return (await run(connection, sql, params)) as Row[];
      } catch (error) {
        throw fail(error);
      }
    },
    async execute(sql, params = []) {
      try {
        const result = (await run(connection, sql, params)) as { affectedRows?: number; insertId?: number | string };
        return { changes: result.affectedRows ?? 0, insertId: result.insertId ? Number(result.insertId) : null };
      } catch (error) {
        throw fail(error);
      }
    },
    async close() {
      end.closing();
      await new Promise<void>((resolve) => connection.end(() => resolve()));
    },
    onEnd: end.onEnd,
    alive: end.alive,
  };
}

/**
 * A statement's error that means the connection itself is gone (the server ended the session —
 * `idle_session_timeout`, `wait_timeout`, `pg_terminate_backend`, KILL, a restart — or the network
 * or a proxy cut it), not that the statement was refused. mysql2 marks those `fatal`.
 */
function connectionLost(error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown; fatal?: unknown; message?: unknown };
  if (e.fatal === true) return true;
  if (['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST'].includes(String(e.code))) return true;
  return /Connection terminated|not queryable|Client was closed|connection is in closed state/i.test(String(e.message ?? ''));
}

/** Tells `onEnd` listeners, once, that a connection ended by itself (not by `close`). */
function endWatch() {
  const listeners: Array<(error: Error) => void> = [];
  let done = false;
  let ended = false;
  return {
    ended(error: Error) {
      ended = true;
      if (done) return;
      done = true;
      for (const listener of listeners.splice(0)) listener(error);
    },
    closing() {
      done = true;
      ended = true;
    },
    alive: () => !ended,
    onEnd(listener: (error: Error) => void) {
      listeners.push(listener);
    },
  };
}

/** The SQLite database file of a target (absolute). */
export function sqliteFile(connection: SessionTarget['connection']): string {
  const filename = typeof connection === 'string' ? connection : connection.filename;
  if (typeof filename !== 'string' || filename === '' || filename === ':memory:' || filename.startsWith('file:')) {
    throw new ConfigError('The ledger\'s SQLite connection needs a "filename": the path of a database file.');
  }
  return path.resolve(filename);
}

async function openSqlite(target: SessionTarget): Promise<SqlSession> {
  const { createRequire } = await import('node:module');
  const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
  const file = sqliteFile(target.connection);
  const where = `SQLite ${file}`;
  if (!target.mayCreateFile && !fs.existsSync(file)) {
    throw new ConfigError(`The SQLite database "${file}" does not exist; no empty database was created.`, { filename: file });
  }
  let db: import('better-sqlite3').Database;
  try {
    // A 5 s busy timeout, as the engine's: writers of the application wait briefly rather than fail.
    db = new Database(file, { timeout: 5000 });
  } catch (error) {
    throw new ConnectionError(`Cannot open the ledger's database (${where}): ${describeCause(error)}`, error);
  }
  // A backup reads the organizations in one transaction, and records in the ledger meanwhile: in the
  // same file, that needs WAL (readers do not block the writer); a rollback journal would lock.
  if (target.sharedWithOrganizations && String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') {
    db.close();
    throw new ConfigError(
      `The SQLite ledger cannot share the organizations database ${file} while it is not in WAL mode: a backup reads that file in one transaction, during which the ledger could not write. ` +
        'Give the ledger a file of its own ("ledger": { "type": "database", "client": "better-sqlite3", "connection": { "filename": "./ledger.sqlite" } }), or switch the database to WAL (PRAGMA journal_mode=WAL).',
      { filename: file },
    );
  }
  const fail = (error: unknown) => new OperationError(`${where}: ${describeCause(error)}`, { cause: error });
  const params = (values: unknown[]) => values.map((value) => (typeof value === 'boolean' ? Number(value) : value));
  return {
    dialect: DIALECTS.sqlite,
    where,
    async query(sql, values = []) {
      try {
        return db.prepare(sql).all(...params(values)) as Row[];
      } catch (error) {
        throw fail(error);
      }
    },
    async execute(sql, values = []) {
      try {
        const statement = db.prepare(sql);
        if (statement.reader) {
          const row = statement.get(...params(values)) as { id?: unknown } | undefined;
          return { changes: row ? 1 : 0, insertId: row?.id === undefined ? null : Number(row.id) };
        }
        const result = statement.run(...params(values));
        return { changes: result.changes, insertId: Number(result.lastInsertRowid) };
      } catch (error) {
        throw fail(error);
      }
    },
    async close() {
      if (db.open) db.close();
    },
    onEnd: () => undefined,
    alive: () => db.open,
  };
}

/** Every secret of a target's connection, for messages. */
export function targetSecrets(target: SessionTarget): string[] {
  return connectionSecrets(target.connection);
}
