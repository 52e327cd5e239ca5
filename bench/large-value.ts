/**
 * Restore memory with one large value (issue 9, point 5): peak RSS of `restore --org` when one
 * row holds a VALUE_MB text value, against the same restore without it. Target: under
 * 2 × the value + 150 MiB. Run with `npm run bench:large-value` (builds first; `-- --mb 50`,
 * `-- --only postgres|mysql`). Never part of `npm test`; figures go to bench/PERFORMANCE.md.
 *
 * It starts a throwaway PostgreSQL 15 and MariaDB (test/helpers/servers.ts), makes a database
 * with organizations 1 and 2 and a `documents` table, backs organization 1 up through the CLI and
 * restores it under GNU time (peak RSS of the process), first with small documents only, then with
 * one document of VALUE_MB MiB (ASCII text, so the value is exactly that many bytes).
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariadb, startPostgres, type RunningServer } from '../test/helpers/servers.js';
import { logPrefix, measure } from './measure.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tenant-backup.js');

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const at = argv.indexOf(name);
  return at === -1 ? undefined : argv[at + 1];
};
const VALUE_MB = Number(flag('--mb') ?? 50);
const only = flag('--only');

async function prepare(server: RunningServer, bigValue: boolean): Promise<void> {
  const big = bigValue ? 'x'.repeat(VALUE_MB * 1024 * 1024) : 'small';
  if (server.engine === 'postgres') {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
    await client.connect();
    await client.query('DROP TABLE IF EXISTS documents, organizations');
    await client.query('CREATE TABLE organizations (id integer PRIMARY KEY, code text)');
    await client.query('CREATE TABLE documents (id integer PRIMARY KEY, organization_id integer NOT NULL REFERENCES organizations (id), body text)');
    await client.query("INSERT INTO organizations VALUES (1, 'big'), (2, 'other')");
    await client.query("INSERT INTO documents SELECT g, 1 + g % 2, repeat('d', 200) FROM generate_series(1, 1000) g");
    await client.query('INSERT INTO documents VALUES (100000, 1, $1)', [big]);
    await client.end();
    return;
  }
  const connection = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  await connection.query('SET GLOBAL max_allowed_packet = 1073741824');
  await connection.end();
  const db = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  await db.query('CREATE DATABASE IF NOT EXISTS bench_large');
  await db.query('USE bench_large');
  await db.query('DROP TABLE IF EXISTS documents, organizations');
  await db.query('CREATE TABLE organizations (id INT PRIMARY KEY, code VARCHAR(20))');
  await db.query('CREATE TABLE documents (id INT PRIMARY KEY, organization_id INT NOT NULL, body LONGTEXT, FOREIGN KEY (organization_id) REFERENCES organizations (id))');
  await db.query("INSERT INTO organizations VALUES (1, 'big'), (2, 'other')");
  await db.query("INSERT INTO documents SELECT seq, 1 + seq % 2, REPEAT('d', 200) FROM seq_1_to_1000");
  await db.query('INSERT INTO documents VALUES (100000, 1, ?)', [big]);
  await db.end();
}

async function run(server: RunningServer): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tb-bench-large-'));
  try {
    const connection = {
      host: server.host,
      port: server.port,
      user: server.user,
      password: '${BENCH_DB_PASSWORD}',
      database: server.engine === 'postgres' ? 'postgres' : 'bench_large',
    };
    const config = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: server.engine === 'postgres' ? 'pg' : 'mysql2', connection } };
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(config));
    await chmod(path.join(dir, '.backuprc'), 0o600);
    const env = { ...process.env, BENCH_DB_PASSWORD: server.password, TENANT_BACKUP_CONFIG: '' };
    const results: string[] = [];
    for (const bigValue of [false, true]) {
      await prepare(server, bigValue);
      const prefix = logPrefix(dir, `${server.engine}-${bigValue ? 'big' : 'small'}`);
      const backup = await measure(['node', BIN, 'backup', '--org', '1', '--quiet'], { env, cwd: dir, logPrefix: `${prefix}-backup` });
      const restore = await measure(['node', BIN, 'restore', '--org', '1', 'org_big_' + weekday() + '_backup.zip', '--yes', '--quiet'], {
        env,
        cwd: dir,
        logPrefix: `${prefix}-restore`,
      });
      results.push(
        `${server.engine.padEnd(8)} ${bigValue ? `one ${VALUE_MB} MiB value` : 'small values only'.padEnd(16)}  backup ${(backup.max_rss_kib / 1024).toFixed(0)} MiB, ` +
          `restore ${(restore.max_rss_kib / 1024).toFixed(0)} MiB peak RSS (${(restore.wall_ms / 1000).toFixed(1)} s)`,
      );
    }
    console.log(results.join('\n'));
    console.log(`${server.engine.padEnd(8)} target for the restore: < ${2 * VALUE_MB + 150} MiB`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function weekday(): string {
  return new Date().toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' }).toLowerCase();
}

const servers: RunningServer[] = [];
try {
  if (only !== 'mysql') servers.push(await startPostgres());
  if (only !== 'postgres') servers.push(await startMariadb());
  for (const server of servers) await run(server);
} finally {
  await Promise.allSettled(servers.map((s) => s.stop()));
}
