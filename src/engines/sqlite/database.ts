/**
 * better-sqlite3 as the SQLite organization engine uses it (synchronous, in-process).
 *
 * Connection: `{ filename }` (resolved to an absolute path by the config loader) or a path string.
 * The file must already exist: a missing file is a ConfigError, never a new empty database.
 * Every connection is opened with `defaultSafeIntegers(true)` (INTEGER values come back as BigInt,
 * exact over all 64 bits) and a 5 s busy timeout, so a backup or restore waits briefly for the
 * application's writers instead of failing at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError, ConnectionError, OperationError, TenantBackupError, describeCause } from '../../errors.js';

export type Database = BetterSqlite3.Database;
export type DatabaseConstructor = typeof BetterSqlite3;

export const BUSY_TIMEOUT_MS = 5000;

export function databaseFile(config: OrganizationsConfig): string {
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

export function openDatabase(Database: DatabaseConstructor, filename: string, readonly: boolean): Database {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filename);
  } catch {
    throw new ConfigError(`The SQLite database "${filename}" does not exist (organizations.connection.filename); no empty database was created.`, { filename });
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
export function createQueue(): <T>(task: () => Promise<T> | T) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T> | T): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function asOperationError(message: string, error: unknown): TenantBackupError {
  if (error instanceof TenantBackupError) return error;
  return new OperationError(`${message}: ${describeCause(error)}`, { cause: error });
}
