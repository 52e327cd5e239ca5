/**
 * The lock format 1 used around its one ledger file (proper-lockfile's `ledger.json.lock`
 * folder). Only the migration to format 2 takes it, so that an older tenant-backup still running
 * on this host waits instead of writing the format-1 file while it is being converted.
 */
import path from 'node:path';
import { LockedError } from '../../errors.js';

export async function withFormat1Lock<T>(storageDir: string, fn: () => Promise<T>): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  const lockPath = path.join(storageDir, 'ledger.json.lock');
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockPath, {
      realpath: false,
      lockfilePath: lockPath,
      stale: 10_000,
      retries: { retries: 2400, factor: 1, minTimeout: 50, maxTimeout: 50 },
      onCompromised: () => undefined,
    });
  } catch (error) {
    throw new LockedError(`An older tenant-backup holds the ledger lock ${lockPath}; the ledger is converted to format 2 once it has finished. Try again then.`, {
      lock: lockPath,
      cause: String(error),
    });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
