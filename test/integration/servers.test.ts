/**
 * Smoke test of the test infrastructure itself: the real servers started by globalSetup accept
 * password-authenticated connections (and reject wrong passwords), and test databases can be
 * created, used and dropped. SQLite gets the same round trip without a server.
 */
import knexFactory, { type Knex } from 'knex';
import { afterEach, describe, expect, it } from 'vitest';
import { adminKnex, createTestDatabase, serverInfo, withTempDir, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import fs from 'node:fs';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function track(db: TestDatabase): Promise<TestDatabase> {
  cleanups.push(() => db.drop());
  return db;
}

async function roundTrip(k: Knex): Promise<void> {
  await k.schema.createTable('widgets', (t) => {
    t.increments('id').primary();
    t.string('name', 100).notNullable();
  });
  await k('widgets').insert([{ name: 'alpha' }, { name: 'ünïcode ✓' }]);
  const rows = await k('widgets').select('id', 'name').orderBy('id');
  expect(rows.map((r: { name: string }) => r.name)).toEqual(['alpha', 'ünïcode ✓']);
}

/** Rows from `knex.raw`, whose result shape differs per driver. */
function rawRows(engine: 'postgres' | 'mysql', result: unknown): Array<Record<string, unknown>> {
  return engine === 'postgres' ? (result as { rows: Array<Record<string, unknown>> }).rows : (result as [Array<Record<string, unknown>>])[0];
}

describe.each(['postgres', 'mysql'] as const)('%s test server', (engine) => {
  it('creates, uses and drops a test database', async () => {
    const db = await track(await createTestDatabase(engine, 'smoke'));
    expect(db.name).toMatch(/^smoke_[0-9a-f]{12}$/);
    expect(db.client).toBe(engine === 'postgres' ? 'pg' : 'mysql2');
    const conn = db.connection as ServerConnection;
    expect(conn.host).toBe('127.0.0.1');
    expect(conn.database).toBe(db.name);

    const k = db.knex();
    expect(db.knex()).toBe(k); // memoized
    await roundTrip(k);

    const versionSql = engine === 'postgres' ? 'SHOW server_version' : 'SELECT VERSION() AS server_version';
    const [versionRow] = rawRows(engine, await k.raw(versionSql));
    expect(versionRow?.server_version).toBe(serverInfo(engine).version);
    expect(serverInfo(engine).version).toMatch(engine === 'postgres' ? /^15\./ : /^10\.11\..*MariaDB/);

    await db.drop();
    await db.drop(); // idempotent
    const admin = adminKnex(engine);
    try {
      const existsSql =
        engine === 'postgres' ? 'SELECT datname AS name FROM pg_database WHERE datname = ?' : 'SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = ?';
      expect(rawRows(engine, await admin.raw(existsSql, [db.name]))).toEqual([]);
    } finally {
      await admin.destroy();
    }
  });

  it('gives each call a distinct database', async () => {
    const [a, b] = await Promise.all([createTestDatabase(engine), createTestDatabase(engine)]);
    await track(a);
    await track(b);
    expect(a.name).not.toBe(b.name);
  });

  it('rejects a wrong password', async () => {
    const { host, port, user } = serverInfo(engine);
    const k = knexFactory({
      client: engine === 'postgres' ? 'pg' : 'mysql2',
      connection: { host, port, user, password: 'definitely-wrong', database: engine === 'postgres' ? 'postgres' : undefined },
      pool: { min: 0, max: 1 },
      acquireConnectionTimeout: 10_000,
      log: { warn: () => undefined }, // the pool logs the expected auth failure; keep output clean
    });
    try {
      await expect(k.raw('SELECT 1')).rejects.toThrow(/password authentication failed|Access denied/);
    } finally {
      await k.destroy();
    }
  });
});

describe('sqlite test database', () => {
  it('creates, uses and removes a temp-file database', async () => {
    const db = await track(await createTestDatabase('sqlite'));
    expect(db.client).toBe('better-sqlite3');
    const { filename } = db.connection as { filename: string };
    await roundTrip(db.knex());
    expect(fs.existsSync(filename)).toBe(true);
    await db.drop();
    expect(fs.existsSync(filename)).toBe(false);
  });

  it('withTempDir creates and removes a directory', async () => {
    const tmp = await withTempDir();
    expect(fs.statSync(tmp.dir).isDirectory()).toBe(true);
    await tmp.cleanup();
    await tmp.cleanup();
    expect(fs.existsSync(tmp.dir)).toBe(false);
  });
});
