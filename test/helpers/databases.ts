/**
 * Per-test databases on the shared throwaway servers (started by test/global-setup.ts).
 *
 * Contract:
 * - `createTestDatabase(engine)` creates a new, empty, uniquely named database (lowercase
 *   `<prefix>_<random>`) and returns how to reach it. Test files run in parallel against the same
 *   servers, so never rely on a fixed database name.
 * - `db.knex()` is created lazily and memoized; `db.drop()` destroys it and removes the database
 *   (or the SQLite temp dir). `drop()` is idempotent; call it in afterEach/afterAll.
 * - Only usable inside vitest workers (it reads `inject('servers')`).
 */
import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { inject } from 'vitest';
import type { ServerEngine, ServerInfo } from './servers.js';

export type TestEngine = ServerEngine | 'sqlite';
export type TestClient = 'pg' | 'mysql2' | 'better-sqlite3';

export interface ServerConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}
export interface SqliteConnection {
  filename: string;
}

export interface TestDatabase {
  engine: TestEngine;
  client: TestClient;
  name: string;
  connection: ServerConnection | SqliteConnection;
  /** Memoized Knex instance for this database, created on first call. */
  knex(): Knex;
  /** Destroys the Knex instance and drops the database / removes the SQLite dir. Idempotent. */
  drop(): Promise<void>;
}

const CLIENT: Record<TestEngine, TestClient> = { postgres: 'pg', mysql: 'mysql2', sqlite: 'better-sqlite3' };

/** Connection details of the shared server for `engine`, as provided by globalSetup. */
export function serverInfo(engine: ServerEngine): ServerInfo {
  return inject('servers')[engine];
}

/**
 * A new Knex connected as the superuser `tb_admin` to the server's maintenance database
 * (`postgres` on PostgreSQL, none on MariaDB). The caller owns it and must `destroy()` it.
 */
export function adminKnex(engine: ServerEngine): Knex {
  const { host, port, user, password } = serverInfo(engine);
  return knexFactory({
    client: CLIENT[engine],
    connection: engine === 'postgres' ? { host, port, user, password, database: 'postgres' } : { host, port, user, password },
    pool: { min: 0, max: 2 },
  });
}

/** A fresh temp dir under os.tmpdir(); `cleanup()` removes it (idempotent). */
export async function withTempDir(prefix = 'tb-test-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

export async function createTestDatabase(engine: TestEngine, prefix = 'tb'): Promise<TestDatabase> {
  // Identifiers are interpolated into DDL, so only allow a safe, short shape (PG limit: 63 bytes).
  const name = `${prefix}_${crypto.randomBytes(6).toString('hex')}`.toLowerCase();
  if (!/^[a-z][a-z0-9_]{0,50}$/.test(name)) throw new Error(`bad test database prefix: ${JSON.stringify(prefix)}`);
  const client = CLIENT[engine];

  let connection: ServerConnection | SqliteConnection;
  let remove: () => Promise<void>;
  if (engine === 'sqlite') {
    const tmp = await withTempDir('tb-sqlite-');
    connection = { filename: path.join(tmp.dir, `${name}.sqlite`) };
    remove = tmp.cleanup;
  } else {
    const { host, port, user, password } = serverInfo(engine);
    connection = { host, port, user, password, database: name };
    const quoted = engine === 'postgres' ? `"${name}"` : `\`${name}\``;
    await withAdmin(engine, (admin) => admin.raw(`CREATE DATABASE ${quoted}`));
    // WITH (FORCE) ends stray sessions (e.g. a pg_dump a failed test left open) instead of failing.
    const dropSql = engine === 'postgres' ? `DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)` : `DROP DATABASE IF EXISTS ${quoted}`;
    remove = () => withAdmin(engine, (admin) => admin.raw(dropSql)).then(() => undefined);
  }

  let instance: Knex | undefined;
  let dropped = false;
  return {
    engine,
    client,
    name,
    connection,
    knex() {
      if (dropped) throw new Error(`test database ${name} was dropped`);
      instance ??= knexFactory({
        client,
        connection: { ...connection },
        ...(engine === 'sqlite' ? { useNullAsDefault: true } : {}),
      });
      return instance;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await instance?.destroy();
      instance = undefined;
      await remove();
    },
  };
}

async function withAdmin<T>(engine: ServerEngine, fn: (admin: Knex) => Promise<T>): Promise<T> {
  const admin = adminKnex(engine);
  try {
    return await fn(admin);
  } finally {
    await admin.destroy();
  }
}
