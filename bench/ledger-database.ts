/**
 * D1 (issue 12): `auto --org 1`'s skip path on the database ledger — connection on loopback and
 * one indexed query included — against `node -e 0` (target ≤ 3) and against the JSON ledger's
 * skip (L1's configuration). PostgreSQL 15 and MariaDB are throwaway servers (test/helpers/
 * servers.ts); SQLite is the demo database itself. Each holds a small organizations table and a
 * ledger of `--records` records copied from the generated JSON ledger (`ledger migrate`), and
 * organization 1 is backed up for real first.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariadb, startPostgres, type RunningServer } from '../test/helpers/servers.js';
import type { LedgerBenchContext, LedgerPair, alternate } from './ledger.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tenant-backup.js');
const run = promisify(execFile);

export interface PairHelpers {
  alternate: typeof alternate;
  log: (text: string) => void;
  /** The folder of the JSON-ledger configuration (organization 1 backed up today). */
  jsonApp: string;
}

const SCHEMA = [
  'CREATE TABLE organizations (id BIGINT PRIMARY KEY, code VARCHAR(50), name VARCHAR(100))',
  'CREATE TABLE notes (id BIGINT PRIMARY KEY, organization_id BIGINT NOT NULL REFERENCES organizations (id), body TEXT)',
  "INSERT INTO organizations VALUES (1, 'acme', 'ACME'), (2, 'globex', 'Globex')",
  "INSERT INTO notes VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c')",
];

export async function databaseLedgerPairs(ctx: LedgerBenchContext, helpers: PairHelpers): Promise<LedgerPair[]> {
  const servers: RunningServer[] = [];
  const results: LedgerPair[] = [];
  try {
    const [postgres, mariadb] = await Promise.all([startPostgres(), startMariadb()]);
    servers.push(postgres, mariadb);
    const configs: Array<[string, string, Record<string, unknown>]> = [];
    {
      const admin = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: 'postgres' });
      await admin.connect();
      await admin.query('CREATE DATABASE ledger_bench');
      await admin.end();
      const client = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: 'ledger_bench' });
      await client.connect();
      for (const statement of SCHEMA) await client.query(statement);
      await client.end();
      ctx.env.BENCH_PG_PASSWORD = postgres.password;
      configs.push([
        'PostgreSQL',
        'pg',
        { client: 'pg', connection: { host: postgres.host, port: postgres.port, user: postgres.user, password: '${BENCH_PG_PASSWORD}', database: 'ledger_bench' } },
      ]);
    }
    {
      const admin = await mysql.createConnection({ host: mariadb.host, port: mariadb.port, user: mariadb.user, password: mariadb.password });
      // The test helper's 64 MiB buffer pool would make a million-row table disk-bound (as in bench/run.ts).
      await admin.query('SET GLOBAL innodb_buffer_pool_size = 1073741824');
      await admin.query('CREATE DATABASE ledger_bench');
      await admin.query('USE ledger_bench');
      for (const statement of SCHEMA) await admin.query(statement);
      await admin.end();
      ctx.env.BENCH_MY_PASSWORD = mariadb.password;
      configs.push([
        'MariaDB',
        'mysql2',
        { client: 'mysql2', connection: { host: mariadb.host, port: mariadb.port, user: mariadb.user, password: '${BENCH_MY_PASSWORD}', database: 'ledger_bench' } },
      ]);
    }
    configs.push(['SQLite', 'better-sqlite3', { client: 'better-sqlite3', connection: { filename: './demo.sqlite' } }]);
    // SQLite: the ledger in a file of its own (the demo database is not in WAL mode).
    const ledgerOf = (client: string) => (client === 'better-sqlite3' ? { type: 'database', client, connection: { filename: './ledger.sqlite' } } : { type: 'database' });

    for (const [title, client, organizations] of configs) {
      const app = path.join(ctx.work, `db-${client}`);
      await mkdir(app, { recursive: true });
      await copyFile(path.join(helpers.jsonApp, 'demo.sqlite'), path.join(app, 'demo.sqlite'));
      // The same ledger as the JSON pairs, copied in (from the generated store), then today's
      // backup of organization 1 made in this configuration's own store.
      const ledger = ledgerOf(client);
      await writeFile(
        path.join(app, 'migrate.backuprc'),
        JSON.stringify({ storage: { dir: path.join(helpers.jsonApp, 'backups') }, timezone: 'Europe/Berlin', organizations, ledger }),
        { mode: 0o600 },
      );
      await writeFile(path.join(app, '.backuprc'), JSON.stringify({ storage: { dir: './backups' }, timezone: 'Europe/Berlin', organizations, ledger }), { mode: 0o600 });
      helpers.log(`D1 ${title}: copying the JSON ledger in…`);
      const started = Date.now();
      const migrated = await run(process.execPath, [BIN, 'ledger', 'migrate', '--from', 'json', '--json', '--config', path.join(app, 'migrate.backuprc')], {
        cwd: app,
        env: { ...ctx.env, TENANT_BACKUP_CONFIG: '' },
        maxBuffer: 1 << 20,
      });
      helpers.log(`D1 ${title}: ${migrated.stdout.trim()} in ${Math.round((Date.now() - started) / 1000)} s`);
      await run(process.execPath, [BIN, 'backup', '--org', '1', '--json'], { cwd: app, env: ctx.env });
      const figures = await helpers.alternate(
        ctx,
        `D1-${client}`,
        [process.execPath, BIN, 'auto', '--org', '1', '--user', '7', '--role', 'admin', '--json'],
        [process.execPath, '-e', '0'],
        ctx.pairs * 5,
        app,
      );
      results.push({
        id: `D1 ${title}`,
        title: `auto --org 1 with nothing to do, database ledger on ${title} (connection included)`,
        target: '≤ 3 × node -e 0',
        status: figures.ratio <= 3 ? 'met' : 'not met',
        figure: `${figures.ours_ms} / ${figures.reference_ms} ms = ${figures.ratio}`,
        ...figures,
      });
    }
    const json = await helpers.alternate(
      ctx,
      'D1-json',
      [process.execPath, BIN, 'auto', '--org', '1', '--user', '7', '--role', 'admin', '--json'],
      [process.execPath, '-e', '0'],
      ctx.pairs * 5,
      helpers.jsonApp,
    );
    results.push({
      id: 'D1 JSON',
      title: 'the same on the JSON ledger (for comparison)',
      target: 'information',
      status: 'info',
      figure: `${json.ours_ms} / ${json.reference_ms} ms = ${json.ratio}`,
      ...json,
    });
    return results;
  } finally {
    await Promise.allSettled(servers.map((server) => server.stop()));
  }
}
