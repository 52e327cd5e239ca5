/**
 * SQLite database-per-tenant engine, on better-sqlite3 (no external tool).
 *
 * Choice: the archive holds the database FILE itself, as the entry `database.sqlite` (not a SQL
 * text): it is exact by construction (every page, storage classes, AUTOINCREMENT counters,
 * `user_version`, page size) where a hand-written `.dump` equivalent has many corner cases, and a
 * restore is a page copy. By hand: `unzip -p x.zip database.sqlite > tenant.sqlite`.
 *
 * Backup: SQLite's online backup API (`db.backup()`) from a read-only connection into a file in a
 * private temp dir, then that file is streamed into the archive and removed. The backup API
 * copies a consistent snapshot while the application keeps working (a write by another connection
 * during the copy makes SQLite restart it).
 *
 * Restore: the entry is written to a temp file BESIDE the target (same file system), checked with
 * `PRAGMA integrity_check`, then copied INTO the live target with the backup API (source = the
 * checked temp file, destination = the tenant's file), and the temp file is removed. The copy runs
 * as one write transaction on the target, through SQLite's own locking and journal: a failure or
 * crash midway leaves the target exactly as it was. This deliberately replaces "rename the temp
 * file over the target", which is atomic on disk but wrong while the application holds the
 * database open: its connections would keep reading and writing the old, unlinked inode (writes
 * silently lost), and a leftover `-wal` file beside the renamed file would be replayed into it.
 * With the backup API the application's connections see the restored content from their next
 * transaction on. While the restore copies, the application's writers wait (busy); a restore (or
 * backup) that keeps finding the database locked by the application gives up after
 * COPY_BUSY_LIMIT_MS, with nothing changed.
 *
 * The target file must exist (a lost file: create an empty one, e.g. `touch`, then restore with
 * --no-safety-backup, or extract the entry by hand).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { ArchiveError, ConfigError, ConnectionError, OperationError, TenantBackupError, describeCause } from '../../errors.js';
import { settleOutput } from '../tools.js';
import type { DatabaseEngine, DatabaseTarget, EngineOptions, PreflightInfo } from '../types.js';

/** Pages per backup step: everything at once (one consistent read; restarts are rare). */
const ALL_PAGES = 0x7fffffff;
const BUSY_TIMEOUT_MS = 5_000;
/** How long a backup-API copy may keep finding the database locked before it gives up. */
export const COPY_BUSY_LIMIT_MS = 10_000;

/**
 * Copies `source` into the file `destination` with SQLite's backup API, all pages in one step,
 * as one write transaction on the destination (a failure rolls it back).
 *
 * better-sqlite3's `backup()` needs two guards here. A step that finds a database locked
 * (SQLITE_BUSY) is retried on the next event-loop turn for ever; and when that happens on the very
 * FIRST step, the page count is still 0, so the wrapper resolves as if the copy were complete
 * although nothing was copied. So: a result without pages is treated as "locked" and the copy is
 * retried after a pause, and the progress callback fails a copy stuck on later steps; both give up
 * after COPY_BUSY_LIMIT_MS (or when the signal aborts).
 */
async function copyDatabase(source: Database.Database, destination: string, what: string, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + COPY_BUSY_LIMIT_MS;
  const check = () => {
    if (signal?.aborted) throw new TenantBackupError('CANCELLED', `Cancelled: ${what} was stopped.`);
    if (Date.now() > deadline) {
      throw new OperationError(`${what} gave up: the database stayed locked by another connection for ${COPY_BUSY_LIMIT_MS / 1000} s.`);
    }
  };
  for (;;) {
    check();
    const result = await source.backup(destination, {
      progress: () => {
        check();
        return ALL_PAGES;
      },
    });
    if (result.totalPages > 0 && result.remainingPages === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function sqliteFilename(target: DatabaseTarget): string {
  const c = target.connection;
  const filename = typeof c === 'string' ? c : (c as { filename?: unknown }).filename;
  if (typeof filename !== 'string' || filename === '' || filename === ':memory:') {
    throw new ConfigError(`tenants.${target.tenant}.connection needs a SQLite file name (an in-memory database cannot be backed up).`);
  }
  return path.resolve(filename);
}

async function requireFile(filename: string, tenant: string): Promise<void> {
  const info = await stat(filename).catch(() => null);
  if (!info?.isFile()) throw new ConnectionError(`The SQLite database file of tenant "${tenant}" does not exist: ${filename}.`);
}

async function preflight(target: DatabaseTarget, _purpose: 'backup' | 'restore', _options: EngineOptions = {}): Promise<PreflightInfo> {
  const filename = sqliteFilename(target);
  await requireFile(filename, target.tenant);
  let db: Database.Database | undefined;
  try {
    db = new Database(filename, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.prepare('SELECT count(*) FROM sqlite_schema').get(); // SQLITE_NOTADB shows here
    const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
    return { serverVersion: version, toolVersion: `SQLite ${version} online backup API (better-sqlite3)` };
  } catch (error) {
    throw new ConnectionError(`Cannot open the SQLite database of tenant "${target.tenant}" (${filename}): ${describeCause(error)}.`);
  } finally {
    db?.close();
  }
}

async function dumpDatabase(target: DatabaseTarget, out: Writable, options: EngineOptions = {}): Promise<{ bytes: number }> {
  return settleOutput(out, async () => {
    const filename = sqliteFilename(target);
    await requireFile(filename, target.tenant);
    options.signal?.throwIfAborted();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tenant-backup-sqlite-'));
    try {
      const copy = path.join(dir, 'database.sqlite');
      const db = new Database(filename, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      try {
        await copyDatabase(db, copy, 'The SQLite online backup', options.signal);
      } catch (error) {
        if (error instanceof TenantBackupError) throw error;
        throw new OperationError(`SQLite online backup of tenant "${target.tenant}" failed: ${describeCause(error)}`, { cause: error });
      } finally {
        db.close();
      }
      const bytes = (await stat(copy)).size;
      await pipeline(createReadStream(copy), out, { end: false, signal: options.signal });
      return { bytes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

async function restoreDatabase(target: DatabaseTarget, source: Readable, options: EngineOptions = {}): Promise<void> {
  const filename = sqliteFilename(target);
  const temp = path.join(path.dirname(filename), `.${path.basename(filename)}.tenant-backup-${randomBytes(6).toString('hex')}.restore`);
  try {
    await requireFile(filename, target.tenant);
    // Written and checked beside the target: the live file is not touched until the copy below.
    await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: 0o600 }), { signal: options.signal });
    if ((await stat(temp)).size === 0) throw new ArchiveError("The archive's database.sqlite is empty; nothing was changed.");
    const restored = openChecked(temp);
    try {
      options.signal?.throwIfAborted();
      await copyDatabase(restored, filename, 'Copying the restored database', options.signal);
    } catch (error) {
      if (error instanceof TenantBackupError) throw error;
      throw new OperationError(`Copying the restored database into ${filename} failed (it was left unchanged): ${describeCause(error)}`, { cause: error });
    } finally {
      restored.close();
    }
  } finally {
    source.destroy();
    await Promise.all(['', '-wal', '-shm', '-journal'].map((suffix) => rm(temp + suffix, { force: true })));
  }
}

/** Opens the temp copy and proves it is a whole, healthy SQLite database. */
function openChecked(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    const problems = rows.map((row) => row.integrity_check).filter((text) => text !== 'ok');
    if (problems.length > 0) throw new Error(problems.slice(0, 5).join('; '));
    return db;
  } catch (error) {
    db?.close();
    throw new ArchiveError(`The archive's database.sqlite is not a healthy SQLite database (integrity_check: ${describeCause(error)}); nothing was changed.`, {
      cause: error,
    });
  }
}

export const sqliteDumpEngine = {
  name: 'sqlite',
  entryPath: 'database.sqlite',
  atomicRestore: true,
  restoreMethod: 'a checked copy written into the database file in one SQLite transaction (online backup API)',
  preflight,
  dumpDatabase,
  restoreDatabase,
} satisfies DatabaseEngine;
