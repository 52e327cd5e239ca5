/**
 * The database ledger (`auto_backup_logs` in PostgreSQL, MariaDB and SQLite): the Ledger contract
 * (test/contract/ledger.contract.ts) on each engine, then what is the table's own — its columns,
 * `init` (idempotent; the SQL named when the user may not create tables), the once-a-day key
 * across connections, and locks and recovery seen from another process that gets killed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DailySlotTakenError, LockedError } from '../../src/errors.js';
import { DatabaseLedger } from '../../src/ledger/database/index.js';
import type { SessionTarget } from '../../src/ledger/database/session.js';
import { LEDGER_RECORD_FIELDS } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { DEFAULT_HISTORY_POLICY } from '../../src/retention/history.js';
import { describeLedgerContract, newRecord } from '../contract/ledger.contract.js';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase, type TestEngine } from '../helpers/databases.js';

const ENGINES: TestEngine[] = ['postgres', 'mysql', 'sqlite'];
const TABLES = { logs: 'auto_backup_logs', settings: 'auto_backup_settings' };
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
});

async function database(engine: TestEngine): Promise<TestDatabase> {
  const db = await createTestDatabase(engine, 'tb_ledger');
  databases.push(db);
  return db;
}

function targetOf(db: TestDatabase, connection: object = db.connection): SessionTarget {
  return { client: db.client, connection: { ...connection } as Record<string, unknown>, mayCreateFile: true };
}

function ledgerOn(target: SessionTarget, clock = frozenClock('2026-11-23T08:00:00Z')): DatabaseLedger {
  return new DatabaseLedger({ target, tables: TABLES, clock, keep: DEFAULT_HISTORY_POLICY, host: 'test-host' });
}

for (const engine of ENGINES) {
  describeLedgerContract(`database table (${engine})`, {
    create: async (clock) => {
      const ledger = ledgerOn(targetOf(await database(engine)), clock);
      return { ledger, cleanup: async () => ledger.close() };
    },
  });

  describe(`the database ledger on ${engine}`, () => {
    it("is a table of exactly the record's columns, plus what the JSON ledger keeps beside them; init is idempotent", async () => {
      const db = await database(engine);
      const ledger = ledgerOn(targetOf(db));
      try {
        expect(await ledger.init()).toBe(true);
        expect(await ledger.init()).toBe(false);
        const columns =
          engine === 'sqlite'
            ? ((await db.knex().raw(`PRAGMA table_info(auto_backup_logs)`)) as Array<{ name: string }>).map((c) => c.name)
            : (
                await db
                  .knex()
                  .select('column_name as name')
                  .from('information_schema.columns')
                  .where({ table_name: 'auto_backup_logs', table_schema: engine === 'postgres' ? 'public' : db.name })
              ).map((c: { name?: string; NAME?: string }) => c.name ?? c.NAME!);
        expect(columns.sort()).toEqual([...LEDGER_RECORD_FIELDS, 'backup_type', 'host', 'run_pid', 'run_lock', 'daily_slot'].sort());
      } finally {
        await ledger.close();
      }
    });

    it('records one automatic backup per organization and day across connections (a unique key, not the lock)', async () => {
      const db = await database(engine);
      const [a, b] = [ledgerOn(targetOf(db)), ledgerOn(targetOf(db))];
      try {
        await a.init();
        const outcomes = await Promise.allSettled([a.begin(newRecord(), { backupType: 'auto_daily' }), b.begin(newRecord(), { backupType: 'auto_daily' })]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        expect(refused.reason).toBeInstanceOf(DailySlotTakenError);
        const winner = (outcomes.find((o) => o.status === 'fulfilled') as PromiseFulfilledResult<{ id: number }>).value;
        expect(refused.reason).toMatchObject({ existing: { id: winner.id, status: 'in_progress' } });
        // A failure gives the day back; a success keeps it.
        await (outcomes[0]!.status === 'fulfilled' ? a : b).finish(winner.id, { status: 'failed', error_message: 'boom' });
        const again = await b.begin(newRecord(), { backupType: 'auto_daily' });
        await b.finish(again.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
        await expect(a.begin(newRecord(), { backupType: 'auto_daily' })).rejects.toMatchObject({ existing: { id: again.id, status: 'success' } });
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('frees the lock of a killed holder at once and marks its record failed (checked in the database, not by pid)', async () => {
      const db = await database(engine);
      const target = targetOf(db);
      const ledger = ledgerOn(target);
      await ledger.init();
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/db-ledger-holder.ts'), '42'], {
        cwd: ROOT,
        env: { ...process.env, TB_LEDGER_TARGET: JSON.stringify(target) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const id = await new Promise<number>((resolve, reject) => {
          child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
          child.once('exit', () => reject(new Error('the holder exited early')));
        });
        await expect(ledger.withLock('org-42', async () => 'taken')).rejects.toBeInstanceOf(LockedError);
        expect(await ledger.recoverInterrupted()).toEqual([]);
        expect((await ledger.find({ organization_id: '42' }))[0]).toMatchObject({ id, status: 'in_progress' });
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        // The server notices the dead session when its socket closes: within a moment, never a stale timeout.
        expect(await ledger.withLock('org-42', async () => 'taken', { wait: true })).toBe('taken');
        const recovered = await ledger.recoverInterrupted();
        expect(recovered.map((r) => [r.id, r.status])).toEqual([[id, 'failed']]);
        expect(recovered[0]!.error_message).toMatch(/Interrupted: .*pid \d+ on holder-host/);
        // Its day is free again.
        expect((await ledger.begin(newRecord(), { backupType: 'auto_daily' })).status).toBe('in_progress');
      } finally {
        child.kill('SIGKILL');
        await ledger.close();
      }
    }, 60_000);
  });
}

describe('a database user that may not create tables', () => {
  it.each(['postgres', 'mysql'] as const)('gets the SQL to run, by name (exit 2) — %s', async (engine) => {
    const db = await database(engine);
    const user = `tb_noddl_${Math.random().toString(36).slice(2, 8)}`;
    const admin = db.knex();
    if (engine === 'postgres') {
      await admin.raw(`CREATE ROLE ${user} LOGIN PASSWORD 'pw-noddl'`);
      await admin.raw(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
    } else {
      await admin.raw(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-noddl'`);
      await admin.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db.name}\`.* TO '${user}'@'%'`);
    }
    const ledger = ledgerOn(targetOf(db, { ...(db.connection as ServerConnection), user, password: 'pw-noddl' }));
    try {
      const error = await ledger.find().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/may not create them/);
      expect((error as Error).message).toContain('CREATE TABLE IF NOT EXISTS');
      expect((error as Error).message).not.toContain('pw-noddl');
    } finally {
      await ledger.close();
      if (engine === 'mysql') await admin.raw(`DROP USER '${user}'@'%'`);
    }
  });
});
