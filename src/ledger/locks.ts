/**
 * Cross-process locks on the local file system (proper-lockfile: an atomic mkdir whose mtime the
 * holder refreshes). A holder that dies stops refreshing, so its lock turns stale and is taken over:
 * one crash never blocks an organization for ever. The holder's pid is written beside the lock
 * (`<lock>.owner`), so a holder on this host that was killed is recognised at once.
 *
 * Nothing here follows a symbolic link: a lock path that is not a real folder is refused before
 * proper-lockfile (which stats, utimes and rmdirs it) sees it; the owner file is created
 * exclusively and read with O_NOFOLLOW.
 */
import { lstat, mkdir, rm, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { LockedError, OperationError } from '../errors.js';
import { isProcessAlive } from '../store/local.js';
import { openDirectoryNoFollow, readFileNoFollow, replaceSmallFile, unsafeStore } from '../store/safety.js';

/** A lock is stale when not refreshed for this long (the holder refreshes every STALE_MS / 2). */
export const STALE_MS = 10_000;

export interface LockOptions {
  /** Wait for a held lock (with retries) instead of failing at once. */
  wait: boolean;
  /** Upper bound on waiting, in milliseconds. */
  waitMs?: number;
}

export function lockPathFor(locksDir: string, key: string): string {
  if (!/^[A-Za-z0-9._%-]+$/.test(key)) throw new OperationError(`Invalid lock key "${key}".`);
  return path.join(locksDir, `${key}.lock`);
}

export async function withFileLock<T>(lockPath: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(lockPath), { recursive: true, mode: 0o700 });
  await assertNotALink(lockPath);
  let compromised: Error | undefined;
  const acquire = () =>
    lockfile.lock(lockPath, {
      realpath: false,
      lockfilePath: lockPath,
      stale: STALE_MS,
      retries: options.wait ? retriesFor(options.waitMs ?? 60_000) : 0,
      onCompromised: (error) => {
        compromised = error;
      },
    });
  let release: () => Promise<void>;
  try {
    release = await acquire().catch(async (error: NodeJS.ErrnoException) => {
      // A holder on this host whose process is gone will never release: age its lock so that
      // proper-lockfile's own stale takeover applies now instead of after STALE_MS.
      if (error.code !== 'ELOCKED' || !(await holderIsDead(lockPath))) throw error;
      await assertNotALink(lockPath);
      const past = new Date(Date.now() - 2 * STALE_MS);
      await utimes(lockPath, past, past).catch(() => undefined);
      return acquire();
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new LockedError(`Another process holds the lock ${path.basename(lockPath)}; try again later (a lock whose process died expires within ${STALE_MS / 1000} s).`, { lock: lockPath });
    }
    throw error;
  }
  const owner = `${lockPath}.owner`;
  await tighten(lockPath);
  const identity = await lockIdentity(lockPath);
  await replaceSmallFile(owner, JSON.stringify({ pid: process.pid, host: hostname(), lock: identity })).catch(() => undefined);
  try {
    const result = await fn();
    if (compromised) throw new OperationError(`Lost the lock ${lockPath} while working: ${compromised.message}`);
    return result;
  } finally {
    await rm(owner, { force: true }).catch(() => undefined);
    await release().catch(() => undefined);
  }
}

/**
 * The holder recorded beside a lock is a process of this host that no longer exists — and the
 * record is about THIS lock directory (same inode and birth time). A lock just re-created by a
 * live process, whose owner file is not written yet, still carries the dead holder's record:
 * the identity check keeps us from ageing (and stealing) that fresh lock.
 */
async function holderIsDead(lockPath: string): Promise<boolean> {
  try {
    const text = await readFileNoFollow(`${lockPath}.owner`);
    if (text === null) return false;
    const owner = JSON.parse(text) as { pid?: unknown; host?: unknown; lock?: unknown };
    if (owner.host !== hostname() || typeof owner.pid !== 'number' || owner.pid === process.pid || isProcessAlive(owner.pid)) return false;
    return owner.lock !== null && owner.lock === (await lockIdentity(lockPath));
  } catch {
    return false;
  }
}

/** A lock path that exists must be a real folder: proper-lockfile would follow a link. */
async function assertNotALink(lockPath: string): Promise<void> {
  const info = await lstat(lockPath).catch(() => null);
  if (info && !info.isDirectory()) {
    throw unsafeStore(lockPath, `is not a lock folder (${info.isSymbolicLink() ? 'a symbolic link' : 'a file'})`, 'Remove it; tenant-backup creates lock folders itself.');
  }
}

/** 0700 on the lock folder we just created, through a handle (never a link's target). */
async function tighten(lockPath: string): Promise<void> {
  const handle = await openDirectoryNoFollow(lockPath).catch(() => null);
  if (!handle) return;
  await handle.chmod(0o700).catch(() => undefined);
  await handle.close();
}

/** Identifies one incarnation of a lock directory (mtime changes with refreshes; these do not). */
async function lockIdentity(lockPath: string): Promise<string | null> {
  const info = await lstat(lockPath).catch(() => null);
  return info ? `${info.dev}:${info.ino}:${info.birthtimeMs}` : null;
}

/** True when someone (this or another live process) holds the lock at `lockPath`. */
export async function isLockHeld(lockPath: string): Promise<boolean> {
  return lockfile.check(lockPath, { realpath: false, lockfilePath: lockPath, stale: STALE_MS }).catch(() => false);
}

function retriesFor(waitMs: number) {
  // Randomized backoff between 5 and 100 ms; enough attempts to cover waitMs.
  return { retries: Math.max(1, Math.ceil(waitMs / 50)), factor: 1.3, minTimeout: 5, maxTimeout: 100, randomize: true };
}
