/**
 * Cross-process locks held by the kernel: a lock is a POSIX record lock (fcntl) on a small file,
 * taken through SQLite (better-sqlite3, already a dependency): `BEGIN IMMEDIATE` on an empty
 * database file takes its RESERVED lock, which only one connection — of any process — can hold.
 *
 * Why the kernel: the lock lives exactly as long as the process that holds it. Nothing refreshes
 * it, so a holder whose event loop is blocked (a long parse, a stalled disk) keeps it; a holder
 * that dies (SIGKILL, power loss of the process) loses it that instant. No lock is ever "stale",
 * none is ever taken over, and no clock is ever compared — not this host's, not another's.
 *
 * Contract of the files: a lock file is an empty file, never written (journal_mode MEMORY: no
 * `-journal` file either) and never opened by anything but this module (closing any descriptor of
 * a file drops a process's fcntl locks on it; SQLite keeps its own descriptors for that reason).
 * Operation lock files are never removed: removing a lock file while another process waits on it
 * would let two processes hold "the same" lock on two inodes. Run locks (one per running backup)
 * are removed by their holder only, while it still holds them.
 */
import { lstat, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { LockedError, OperationError, describeCause } from '../errors.js';
import { unsafeStore } from '../store/safety.js';

type SqliteDatabase = import('better-sqlite3').Database;
type SqliteConstructor = typeof import('better-sqlite3');

/** Loaded on first lock: reading the ledger takes none, and `auto`'s skip path never loads it. */
let driver: SqliteConstructor | undefined;
function sqlite(): SqliteConstructor {
  driver ??= createRequire(import.meta.url)('better-sqlite3') as SqliteConstructor;
  return driver;
}

export interface HeldLock {
  readonly file: string;
  /** Releases the lock; with `remove`, unlinks the file first (run locks only: see the header). */
  release(options?: { remove?: boolean }): Promise<void>;
}

export interface LockWait {
  /** How long to wait for a held lock; 0 (default) fails at once with LockedError. */
  waitMs?: number;
  /** Words for the LockedError ("the lock org-42"). */
  describe?: string;
}

/**
 * Takes the lock of `file` (created if missing) or returns null when another connection holds it.
 * With `mustExist`, a missing file is `'missing'` (a run that ended and removed its lock).
 */
export async function tryLockFile(file: string, options: { mustExist?: boolean } = {}): Promise<HeldLock | null | 'missing'> {
  const info = await lstat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (info === null && options.mustExist) return 'missing';
  if (info && !info.isFile()) {
    throw unsafeStore(file, `is not a lock file (${info.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'})`, 'Remove it; tenant-backup creates its lock files itself.');
  }
  let db: SqliteDatabase;
  try {
    db = new (sqlite())(file, { timeout: 0, fileMustExist: options.mustExist === true });
  } catch (error) {
    if (options.mustExist && /unable to open|does not exist/i.test(String((error as Error).message))) return 'missing';
    throw new OperationError(`Cannot open the lock file ${file}: ${describeCause(error)}`, { cause: error });
  }
  try {
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return null;
    throw new OperationError(`Cannot take the lock ${file}: ${describeCause(error)} (a lock file must be empty; remove it if it is not).`, { cause: error });
  }
  let released = false;
  return {
    file,
    async release(releaseOptions = {}) {
      if (released) return;
      released = true;
      if (releaseOptions.remove) await rm(file, { force: true }).catch(() => undefined);
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}

/** Takes the lock of `file`, waiting up to `waitMs` for its holder; a LockedError otherwise. */
export async function lockFile(file: string, options: LockWait = {}): Promise<HeldLock> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  let pause = 5;
  for (;;) {
    const held = await tryLockFile(file);
    if (held && held !== 'missing') return held;
    if (Date.now() >= deadline) {
      const what = options.describe ?? `the lock ${file}`;
      throw new LockedError(
        `Another process holds ${what}${options.waitMs ? ` (waited ${Math.round(options.waitMs / 1000)} s)` : ''}; try again when it has finished. A lock is released the moment its process ends.`,
        { lock: file },
      );
    }
    // Randomized back-off (5 → 100 ms): waiters do not wake in step.
    await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random())));
    pause = Math.min(100, pause * 1.5);
  }
}

/**
 * Whether a live process holds the lock of `file`: true (held), false (free: its holder, if any,
 * is gone) or 'missing' (no such file). The probe takes the lock for an instant; only run locks
 * are probed, which nobody but their holder ever takes, so a probe never makes another process
 * fail to take an operation lock.
 */
export async function probeLockFile(file: string): Promise<boolean | 'missing'> {
  const held = await tryLockFile(file, { mustExist: true });
  if (held === 'missing') return 'missing';
  if (held === null) return true;
  await held.release();
  return false;
}

/**
 * Takes the lock of a new run-lock file, which nobody else takes but a probe (probeLockFile) —
 * and a probe for an instant: a busy lock is tried again for up to `waitMs` before giving up.
 */
export async function takeNewRunLock(file: string, waitMs = 2000): Promise<HeldLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const held = await tryLockFile(file);
    if (held && held !== 'missing') return held;
    if (Date.now() >= deadline) throw new OperationError(`Cannot take the run lock ${file}.`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs `fn` while holding the lock of `file`. */
export async function withFileLock<T>(file: string, options: LockWait, fn: () => Promise<T>): Promise<T> {
  const held = await lockFile(file, options);
  try {
    return await fn();
  } finally {
    await held.release();
  }
}
