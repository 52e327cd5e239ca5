/**
 * The database ledger's locks, held by the database itself so that every server sharing it sees
 * them: PostgreSQL advisory locks (`pg_try_advisory_lock`) and MariaDB/MySQL named locks
 * (`GET_LOCK`), on a session of their own that does nothing else, for the whole operation; SQLite
 * (one machine) the kernel's file locks, beside the database file.
 *
 * A process that dies loses its session and so its locks, at once: no stale-lock timeouts, no
 * clocks. Whether a lock is held is asked without taking it (`pg_locks`, `IS_USED_LOCK`), so
 * checking a run never makes another process fail to take a lock. A lock session that ends by
 * itself (server restart, network) is reported (`lost`): the operation holding a lock on it fails
 * rather than finish unprotected.
 *
 * While any lock is held, the lock session and the ledger's main session (`keepalive.ping`) run a
 * statement every `keepalive.intervalMs`: a long backup leaves both idle, and a server's idle limit
 * (`idle_session_timeout`, `wait_timeout`) or a proxy would end them — on MariaDB, ending the lock
 * session releases GET_LOCK and lets another server clear the run's daily slot.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { probeLockFile, tryLockFile, type HeldLock } from '../file-lock.js';
import { openSession, sqliteFile, type SessionTarget, type SqlSession } from './session.js';

export interface LockManager {
  /** Takes the lock `key` if nobody holds it; false when it is held (by anyone, this process included). */
  tryAcquire(key: string): Promise<boolean>;
  release(key: string): Promise<void>;
  /** Whether anybody holds `key` now. */
  isHeld(key: string, query: SqlSession): Promise<boolean>;
  /** Why the lock `key`, taken before, may no longer be held (its session ended), or null. */
  lost(key: string): Error | null;
  close(): Promise<void>;
}

/** 64 bits of a name, for PostgreSQL's two-int4 advisory locks (31 bits each: no sign games). */
function keyPair(namespace: string, key: string): [number, number] {
  const digest = createHash('sha256').update(`${namespace}\u0000${key}`).digest();
  return [digest.readUInt32BE(0) & 0x7fffffff, digest.readUInt32BE(4) & 0x7fffffff];
}

export interface Keepalive {
  intervalMs: number;
  /** Keeps the ledger's other session in use too. */
  ping(): Promise<void>;
}

export function createLockManager(target: SessionTarget, namespace: string, keepalive: Keepalive): LockManager {
  if (target.client === 'better-sqlite3') return fileLocks(target);
  return target.client === 'pg' ? sessionLocks(target, namespace, 'pg', keepalive) : sessionLocks(target, namespace, 'mysql', keepalive);
}

function sessionLocks(target: SessionTarget, namespace: string, kind: 'pg' | 'mysql', keepalive: Keepalive): LockManager {
  let session: Promise<SqlSession> | undefined;
  const lostKeys = new Map<string, Error>();
  const held = new Set<string>();
  let database = '';
  let timer: NodeJS.Timeout | undefined;
  const beat = () => {
    const current = session;
    void Promise.all([current?.then((s) => s.query('SELECT 1')).catch(() => undefined), keepalive.ping()]);
  };
  /** The pings run while a lock is held, and never keep the process alive by themselves. */
  const pace = () => {
    if (held.size > 0 && !timer) (timer = setInterval(beat, keepalive.intervalMs)).unref();
    if (held.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  const open = () =>
    (session ??= openSession(target).then(async (opened) => {
      opened.onEnd((error) => {
        for (const key of held) lostKeys.set(key, new Error(`the database session that held ${key} ended (${error.message})`));
        held.clear();
        pace();
        session = undefined;
      });
      if (kind === 'mysql') database = String((await opened.query('SELECT DATABASE() AS db'))[0]?.db ?? '');
      return opened;
    }));
  /** MariaDB lock names are server-wide and at most 64 characters: the database, the table, the key, hashed. */
  const mysqlName = (key: string) => `tb_${createHash('sha256').update(`${database}\u0000${namespace}\u0000${key}`).digest('hex').slice(0, 40)}`;
  return {
    async tryAcquire(key) {
      if (held.has(key)) return false;
      const attempt = async (s: SqlSession) => {
        if (kind === 'pg') {
          const [a, b] = keyPair(namespace, key);
          return Number((await s.query('SELECT pg_try_advisory_lock(?::int, ?::int)::int AS got', [a, b]))[0]?.got) === 1;
        }
        return Number((await s.query('SELECT GET_LOCK(?, 0) AS got', [mysqlName(key)]))[0]?.got) === 1;
      };
      const s = await open();
      // A session that ended while idle (no lock held, so no pings) is replaced: locks it held
      // before are reported lost all the same (onEnd), never taken over silently.
      const got = await attempt(s).catch(async (error: unknown) => {
        if (s.alive()) throw error;
        return attempt(await open());
      });
      if (got) held.add(key);
      pace();
      return got;
    },
    async release(key) {
      lostKeys.delete(key);
      const had = held.delete(key);
      pace();
      if (!had || !session) return;
      const s = await session;
      if (kind === 'pg') {
        const [a, b] = keyPair(namespace, key);
        await s.query('SELECT pg_advisory_unlock(?::int, ?::int)', [a, b]).catch(() => undefined);
      } else {
        await s.query('SELECT RELEASE_LOCK(?)', [mysqlName(key)]).catch(() => undefined);
      }
    },
    async isHeld(key, query) {
      if (held.has(key)) return true;
      if (kind === 'pg') {
        const [a, b] = keyPair(namespace, key);
        const rows = await query.query(
          "SELECT count(*)::text AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = ?::text::oid AND objid = ?::text::oid AND objsubid = 2",
          [String(a), String(b)],
        );
        return Number(rows[0]?.n) > 0;
      }
      if (!database) await open();
      const rows = await query.query('SELECT IS_USED_LOCK(?) AS holder', [mysqlName(key)]);
      return rows[0]?.holder !== null && rows[0]?.holder !== undefined;
    },
    lost: (key) => lostKeys.get(key) ?? null,
    async close() {
      held.clear();
      lostKeys.clear();
      pace();
      const s = session;
      session = undefined;
      if (s) await (await s).close();
    },
  };
}

/**
 * SQLite: kernel file locks (file-lock.ts) in a folder beside the database file, so that every
 * process using that file — whatever its storage folder — meets the same locks.
 */
function fileLocks(target: SessionTarget): LockManager {
  const file = sqliteFile(target.connection);
  const dir = path.join(path.dirname(file), `.${path.basename(file)}.tenant-backup-locks`);
  const held = new Map<string, HeldLock>();
  const lockFile = (key: string) => {
    if (!/^[A-Za-z0-9._%-]+$/.test(key) || key.startsWith('.')) throw new Error(`Invalid lock key "${key}".`);
    return path.join(dir, `${key}.lck`);
  };
  return {
    async tryAcquire(key) {
      if (held.has(key)) return false;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const lock = await tryLockFile(lockFile(key));
      if (!lock || lock === 'missing') return false;
      held.set(key, lock);
      return true;
    },
    async release(key) {
      const lock = held.get(key);
      held.delete(key);
      // Run locks (one per record) are removed; operation locks stay (see file-lock.ts).
      await lock?.release({ remove: key.startsWith('run-') });
    },
    async isHeld(key) {
      if (held.has(key)) return true;
      return (await probeLockFile(lockFile(key))) === true;
    },
    lost: () => null,
    async close() {
      for (const key of [...held.keys()]) await this.release(key);
    },
  };
}
