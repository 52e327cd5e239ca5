/**
 * Memory with one large value (issue 16 pair 8, issue 17 point 5): peak RSS of `backup --org` and
 * `restore --org` when one row holds a value of VALUE_MB MiB, against the same organization without
 * it. Targets: the restore under 2 × the value + 150 MiB (pair 8, a 50 MiB text value); backup and
 * restore under 3 × the value + 150 MiB for any value up to the database's own limit (17.5).
 * Every run checks that the value came back exactly (md5 in the database, before and after).
 *
 *   npm run bench:large-value                                   # 50 MiB text, both engines
 *   npm run bench:large-value -- --mb 300 --kind binary         # a 300 MiB bytea / LONGBLOB
 *   npm run bench:large-value -- --mb 900 --kind text --only postgres
 *
 * It starts a throwaway PostgreSQL 15 and MariaDB (test/helpers/servers.ts; MariaDB gets
 * max_allowed_packet = 1 GiB), makes a database with organizations 1 and 2 and a `documents` table,
 * and runs the CLI under GNU time. Text values are ASCII (so the value is exactly that many bytes);
 * binary values are pseudo-random bytes (PostgreSQL: sha256 blocks; MariaDB: a repeated 32-byte
 * block). Never part of `npm test`; figures go to bench/PERFORMANCE.md and
 * bench/results/large-value-<engine>-<kind>-<mb>.json.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariadb, startPostgres, type RunningServer } from '../test/helpers/servers.js';
import { logPrefix, measure, type Measurement } from './measure.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tenant-backup.js');
const RESULTS_DIR = path.join(ROOT, 'bench/results');

export interface LargeValueOptions {
  /** The value's size, MiB. */
  mb: number;
  kind: 'text' | 'binary';
}

/** Creates the tables; with `big`, one more row holding the large value. Returns the value's md5. */
async function prepare(server: RunningServer, big: boolean, { mb, kind: KIND }: LargeValueOptions): Promise<string | null> {
  const VALUE_BYTES = mb * 1024 * 1024;
  if (server.engine === 'postgres') {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
    await client.connect();
    try {
      const type = KIND === 'text' ? 'text' : 'bytea';
      await client.query('DROP TABLE IF EXISTS documents, organizations');
      await client.query('CREATE TABLE organizations (id integer PRIMARY KEY, code text)');
      await client.query(`CREATE TABLE documents (id integer PRIMARY KEY, organization_id integer NOT NULL REFERENCES organizations (id), body ${type})`);
      await client.query("INSERT INTO organizations VALUES (1, 'big'), (2, 'other')");
      const small = KIND === 'text' ? "repeat('d', 200)" : "decode(repeat('ab', 200), 'hex')";
      await client.query(`INSERT INTO documents SELECT g, 1 + g % 2, ${small} FROM generate_series(1, 1000) g`);
      if (!big) return null;
      // Built server-side: a value this size never passes through this script.
      const value =
        KIND === 'text'
          ? `repeat('x', ${VALUE_BYTES})`
          : `(SELECT substring(string_agg(sha256(int4send(g)), '' ORDER BY g) FROM 1 FOR ${VALUE_BYTES}) FROM generate_series(1, ${Math.ceil(VALUE_BYTES / 32)}) g)`;
      await client.query(`INSERT INTO documents VALUES (100000, 1, ${value})`);
      return (await client.query<{ md5: string }>('SELECT md5(body) AS md5 FROM documents WHERE id = 100000')).rows[0]!.md5;
    } finally {
      await client.end();
    }
  }
  const db = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  try {
    await db.query('CREATE DATABASE IF NOT EXISTS bench_large');
    await db.query('USE bench_large');
    await db.query('DROP TABLE IF EXISTS documents, organizations');
    await db.query('CREATE TABLE organizations (id INT PRIMARY KEY, code VARCHAR(20))');
    await db.query(
      `CREATE TABLE documents (id INT PRIMARY KEY, organization_id INT NOT NULL, body ${KIND === 'text' ? 'LONGTEXT' : 'LONGBLOB'}, FOREIGN KEY (organization_id) REFERENCES organizations (id))`,
    );
    await db.query("INSERT INTO organizations VALUES (1, 'big'), (2, 'other')");
    await db.query(`INSERT INTO documents SELECT seq, 1 + seq % 2, ${KIND === 'text' ? "REPEAT('d', 200)" : "UNHEX(REPEAT('ab', 200))"} FROM seq_1_to_1000`);
    if (!big) return null;
    const value = KIND === 'text' ? `REPEAT('x', ${VALUE_BYTES})` : `REPEAT(UNHEX(SHA2('tenant-backup', 256)), ${Math.ceil(VALUE_BYTES / 32)})`;
    await db.query(`INSERT INTO documents VALUES (100000, 1, ${value})`);
    const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT MD5(body) AS md5 FROM documents WHERE id = 100000');
    return String(rows[0]!.md5);
  } finally {
    await db.end();
  }
}

async function md5After(server: RunningServer): Promise<string | null> {
  if (server.engine === 'postgres') {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<{ md5: string }>('SELECT md5(body) AS md5 FROM documents WHERE id = 100000')).rows[0]?.md5 ?? null;
    } finally {
      await client.end();
    }
  }
  const db = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'bench_large' });
  try {
    const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT MD5(body) AS md5 FROM documents WHERE id = 100000');
    return rows[0] ? String(rows[0].md5) : null;
  } finally {
    await db.end();
  }
}

export interface LargeValueRun {
  with_value: boolean;
  backup: Measurement;
  restore: Measurement;
  exact: boolean | null;
}

/**
 * Backs organization 1 up and restores it through the CLI under GNU time, without and then with
 * the large value; prints a line for each. MariaDB's max_allowed_packet must allow the value.
 */
export async function measureLargeValue(server: RunningServer, options: LargeValueOptions): Promise<LargeValueRun[]> {
  const { mb: VALUE_MB, kind: KIND } = options;
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
    const runs: LargeValueRun[] = [];
    for (const big of [false, true]) {
      const before = await prepare(server, big, options);
      const prefix = logPrefix(dir, `${server.engine}-${big ? 'big' : 'small'}`);
      const backup = await measure(['node', BIN, 'backup', '--org', '1', '--quiet'], { env, cwd: dir, logPrefix: `${prefix}-backup` });
      const restore = await measure(['node', BIN, 'restore', '--org', '1', `org_big_${weekday()}_backup.zip`, '--yes', '--quiet'], {
        env,
        cwd: dir,
        logPrefix: `${prefix}-restore`,
      });
      const exact = before === null ? null : (await md5After(server)) === before;
      runs.push({ with_value: big, backup, restore, exact });
      const mib = (m: Measurement) => `${(m.max_rss_kib / 1024).toFixed(0)} MiB (${(m.wall_ms / 1000).toFixed(1)} s)`;
      console.log(
        `${server.engine.padEnd(8)} ${big ? `one ${VALUE_MB} MiB ${KIND} value` : 'small values only'.padEnd(16)}  backup ${mib(backup)}, restore ${mib(restore)}` +
          `${exact === null ? '' : exact ? ', came back exactly' : ', DIFFERS after the restore'}`,
      );
    }
    console.log(
      `${server.engine.padEnd(8)} targets: restore < ${2 * VALUE_MB + 150} MiB (2 × value + 150, pair 8); backup and restore < ${3 * VALUE_MB + 150} MiB (3 × value + 150, issue 17.5)`,
    );
    return runs;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function weekday(): string {
  return new Date().toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' }).toLowerCase();
}

/** MariaDB takes values up to max_allowed_packet: the largest it allows (1 GiB). */
export async function allowLargePackets(server: RunningServer): Promise<void> {
  const admin = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  await admin.query('SET GLOBAL max_allowed_packet = 1073741824');
  await admin.end();
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const options: LargeValueOptions = { mb: Number(flag('--mb') ?? 50), kind: (flag('--kind') ?? 'text') as LargeValueOptions['kind'] };
  if (!['text', 'binary'].includes(options.kind)) throw new Error('--kind is text or binary');
  const only = flag('--only');
  const servers: RunningServer[] = [];
  try {
    if (only !== 'mysql') servers.push(await startPostgres());
    if (only !== 'postgres') {
      const server = await startMariadb();
      servers.push(server);
      await allowLargePackets(server);
    }
    await mkdir(RESULTS_DIR, { recursive: true });
    for (const server of servers) {
      const runs = await measureLargeValue(server, options);
      const report = {
        generated_at: new Date().toISOString(),
        engine: server.engine,
        server_version: server.version,
        kind: options.kind,
        value_mib: options.mb,
        node: process.version,
        runs,
      };
      await writeFile(path.join(RESULTS_DIR, `large-value-${server.engine}-${options.kind}-${options.mb}.json`), `${JSON.stringify(report, null, 2)}\n`);
    }
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
