/**
 * The database ledger's sessions through a long backup (PostgreSQL and MariaDB): a main session
 * that the server ended meanwhile (`pg_terminate_backend`, `KILL`, an idle limit) is replaced and
 * the record finished; a lock session that ended fails the run before its success is recorded;
 * while a lock is held, pings keep both sessions in use past the server's idle limit.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { DatabaseLedger } from '../../src/ledger/database/index.js';
import type { SqlSession } from '../../src/ledger/database/session.js';
import { frozenClock } from '../../src/retention/clock.js';
import { DEFAULT_HISTORY_POLICY } from '../../src/retention/history.js';
import { newRecord } from '../contract/ledger.contract.js';
import { adminKnex, createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const TABLES = { logs: 'auto_backup_logs', settings: 'auto_backup_settings' };
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
});

const SUCCESS = { status: 'success', backup_size: 5, sha256: 'a'.repeat(64) } as const;

function ledgerOn(db: TestDatabase, keepaliveMs?: number): DatabaseLedger {
  return new DatabaseLedger({
    target: { client: db.client, connection: { ...db.connection } as Record<string, unknown> },
    tables: TABLES,
    clock: frozenClock('2026-11-23T08:00:00Z'),
    keep: DEFAULT_HISTORY_POLICY,
    host: 'test-host',
    ...(keepaliveMs ? { keepaliveMs } : {}),
  });
}

/** The ledger's own statement session (private: the test asks it who it is). */
const mainSession = (ledger: DatabaseLedger) => (ledger as unknown as { main: { connect(): Promise<SqlSession> } }).main.connect();
const lostLock = (ledger: DatabaseLedger, key: string) => (ledger as unknown as { locks: { lost(key: string): Error | null } }).locks.lost(key);
const runKeyOf = (ledger: DatabaseLedger, id: number) => (ledger as unknown as { runKeys: Map<number, string> }).runKeys.get(id)!;

for (const engine of ['postgres', 'mysql'] as const) {
  describe(`the database ledger's sessions on ${engine}`, () => {
    /** Ends a server session from outside, as an administrator (or the server's idle limit) would. */
    async function terminate(id: number | string): Promise<void> {
      const admin = adminKnex(engine);
      try {
        await admin.raw(engine === 'postgres' ? 'SELECT pg_terminate_backend(?)' : `KILL ${Number(id)}`, engine === 'postgres' ? [id] : []);
      } finally {
        await admin.destroy();
      }
    }
    /** The session that holds the lock `key` of the ledger's table. */
    async function lockHolder(db: TestDatabase, key: string): Promise<number> {
      const admin = adminKnex(engine);
      try {
        if (engine === 'postgres') {
          const digest = createHash('sha256').update(`${TABLES.logs}\u0000${key}`).digest();
          const [a, b] = [digest.readUInt32BE(0) & 0x7fffffff, digest.readUInt32BE(4) & 0x7fffffff];
          const rows = await admin.raw("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ?::text::oid AND objid = ?::text::oid", [
            String(a),
            String(b),
          ]);
          return Number(rows.rows[0].pid);
        }
        const name = `tb_${createHash('sha256').update(`${db.name}\u0000${TABLES.logs}\u0000${key}`).digest('hex').slice(0, 40)}`;
        const [rows] = await admin.raw('SELECT IS_USED_LOCK(?) AS holder', [name]);
        return Number(rows[0].holder);
      } finally {
        await admin.destroy();
      }
    }

    it('replaces a main session the server ended while the backup ran, and records the success', async () => {
      const db = await createTestDatabase(engine, 'tb_sessions');
      databases.push(db);
      const ledger = ledgerOn(db);
      try {
        const started = await ledger.withLock('org-42', async () => {
          const record = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
          const session = await mainSession(ledger);
          const own = (await session.query(engine === 'postgres' ? 'SELECT pg_backend_pid() AS id' : 'SELECT CONNECTION_ID() AS id'))[0]!.id;
          await terminate(own as number);
          const finished = await ledger.finish(record.id, SUCCESS);
          expect(finished).toMatchObject({ id: record.id, status: 'success', backup_size: 5, sha256: 'a'.repeat(64), error_message: null });
          return record;
        });
        const [stored] = await ledger.find({ organization_id: '42' });
        expect(stored).toMatchObject({ id: started.id, status: 'success', backup_size: 5, sha256: 'a'.repeat(64) });
        const own = (await (await mainSession(ledger)).query(engine === 'postgres' ? 'SELECT pg_backend_pid() AS id' : 'SELECT CONNECTION_ID() AS id'))[0]!.id;
        expect(String(own)).not.toBe('');
      } finally {
        await ledger.close();
      }
    }, 60_000);

    it("fails a run whose lock session ended before its success is recorded (the lock may be another server's now)", async () => {
      const db = await createTestDatabase(engine, 'tb_sessions');
      databases.push(db);
      const ledger = ledgerOn(db, 100);
      try {
        const outcome = ledger.withLock('org-42', async () => {
          const record = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
          await terminate(await lockHolder(db, 'org-42'));
          // The client learns of it when the socket closes, or at the next ping.
          await vi.waitFor(() => expect(lostLock(ledger, runKeyOf(ledger, record.id))).not.toBeNull(), { timeout: 20_000, interval: 50 });
          await expect(ledger.finish(record.id, SUCCESS)).rejects.toThrow(/Lost the run lock of ledger record \d+/);
          expect(await ledger.finish(record.id, { status: 'failed', error_message: 'lock lost' })).toMatchObject({ status: 'failed' });
          return record;
        });
        await expect(outcome).rejects.toThrow(OperationError);
        await expect(outcome).rejects.toThrow(/Lost the lock org-42 while working/);
        // The lock manager works again for the next operation (a new session).
        expect(await ledger.withLock('org-42', async () => 'again')).toBe('again');
        expect((await ledger.find({ organization_id: '42' })).map((r) => r.status)).toEqual(['failed']);
      } finally {
        await ledger.close();
      }
    }, 60_000);

    it("keeps both sessions in use while a lock is held, past the server's idle limit", async () => {
      const db = await createTestDatabase(engine, 'tb_sessions');
      databases.push(db);
      if (engine === 'postgres') await db.knex().raw(`ALTER DATABASE "${db.name}" SET idle_session_timeout = '2s'`);
      const ledger = ledgerOn(db, 200);
      try {
        // MariaDB has no per-database idle limit: the main session gets one (the lock session's pings are the same code).
        if (engine === 'mysql') await (await mainSession(ledger)).execute('SET SESSION wait_timeout = 2');
        const id = await ledger.withLock('org-42', async () => {
          const record = await ledger.begin(newRecord(), { backupType: 'auto_daily' });
          await sleep(5000);
          expect(lostLock(ledger, runKeyOf(ledger, record.id))).toBeNull();
          expect(lostLock(ledger, 'org-42')).toBeNull();
          return (await ledger.finish(record.id, SUCCESS)).id;
        });
        expect((await ledger.find({ organization_id: '42' })).map((r) => [r.id, r.status])).toEqual([[id, 'success']]);
      } finally {
        await ledger.close();
      }
    }, 60_000);
  });
}
