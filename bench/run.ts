/**
 * tenant-backup against the physical limits (issue 6). Run with `npm run bench` (builds first):
 *
 *   npm run bench                                  # all pairs at 1M rows, 3 pairs each
 *   npm run bench -- --rows 4000000 --only 1,2     # peak RSS at 4M rows (pair 2 combines sizes)
 *   npm run bench -- --pairs 5 --only 3,6
 *   npm run bench -- --only 4,4m                   # tenant database backups, PostgreSQL and MariaDB
 *   npm run bench -- --only 9,9r                   # a small organization in a 130-table schema
 *   npm run bench -- --only s3                     # backup --org into S3 (s3rver emulator) vs local
 *   npm run bench -- --only age                    # backup --org encrypted (age) vs not
 *
 * It starts a throwaway PostgreSQL 15 and/or MariaDB (test/helpers/servers.ts), generates the
 * billing database of bench/dataset.ts server-side, then for each pair runs our command (A) and
 * its reference (B) as whole processes, alternately: A B (warm-up, not counted), then A B × pairs.
 * It prints a table and writes bench/results/latest.json and bench/results/rows-<rows>.json.
 * Never part of `npm test`.
 *
 * Secrets: passwords reach children only through the environment (PGPASSWORD, MYSQL_PWD, and
 * BENCH_*_PASSWORD interpolated by `.backuprc`), never argv.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariadb, startPostgres, type RunningServer } from '../test/helpers/servers.js';
import { log, planFor, RESULTS_DIR, ROOT, writeConfig, type Context, type Flags, type PairResult } from './context.js';
import { generateMariadb, generatePostgres, MEASURED_ORG, tableSizes } from './dataset.js';
import { pidFromFile, round } from './measure.js';
import { pair7, pair8, pair9, pair9r } from './pairs-fixed.js';
import { pair4m, pair5, pair6 } from './pairs-mariadb.js';
import { pair1, pair1Jobs, pair1NoJit, pair2, pair3, pair4, pairAge, pairS3 } from './pairs-postgres.js';
import { generateWidePostgres } from './wide-dataset.js';

// ---------------------------------------------------------------------------------------------
// Flags

const ALL_PAIRS = ['1', '1j', '1s', '2', '3', '4', '4m', '5', '6', '7', '8', '8m', '9', '9r', 's3', 'age'];
const PG_PAIRS = ['1', '1j', '1s', '2', '3', '4', '7', '8', '9', '9r', 's3', 'age'];
const MY_PAIRS = ['4m', '5', '6', '8m'];

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { rows: 1_000_000, pairs: 3, only: new Set(ALL_PAIRS), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--rows') flags.rows = parseCount(value());
    else if (arg === '--pairs') flags.pairs = parseCount(value());
    else if (arg === '--only')
      flags.only = new Set(
        value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (arg === '--keep') flags.keep = true;
    else if (arg === '--help') {
      console.log(`usage: npm run bench -- [--rows 1000000] [--pairs 3] [--only ${ALL_PAIRS.join(',')}] [--keep]`);
      process.exit(0);
    } else throw new Error(`unknown flag ${arg} (try --help)`);
  }
  for (const id of flags.only) if (!ALL_PAIRS.includes(id)) throw new Error(`unknown pair "${id}"; pairs: ${ALL_PAIRS.join(', ')}`);
  if (flags.pairs < 1) throw new Error('--pairs must be at least 1');
  return flags;
}

function parseCount(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kKmM]?)$/.exec(text.replaceAll('_', ''));
  if (!match) throw new Error(`not a count: ${text}`);
  const unit = match[2]!.toLowerCase() === 'k' ? 1e3 : match[2]!.toLowerCase() === 'm' ? 1e6 : 1;
  return Math.round(Number(match[1]) * unit);
}

// ---------------------------------------------------------------------------------------------
// The bench

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run bench` (it builds first).');
  const needsPg = PG_PAIRS.some((id) => flags.only.has(id));
  const needsMy = MY_PAIRS.some((id) => flags.only.has(id));
  const work = await mkdtemp(path.join(os.tmpdir(), 'tb-bench-'));
  const ctx: Context = { flags, work, env: childEnv(), archives: {} };
  const servers: RunningServer[] = [];
  const results: PairResult[] = [];
  const started = Date.now();
  log(`work dir ${work}; rows ${flags.rows.toLocaleString('en-US')}; pairs ${flags.pairs}; only ${[...flags.only].join(',')}`);
  try {
    const [pgServer, myServer] = await Promise.all([needsPg ? startPostgres() : undefined, needsMy ? startMariadb() : undefined]);
    if (pgServer) servers.push(pgServer);
    if (myServer) servers.push(myServer);
    if (pgServer) await preparePostgres(ctx, pgServer);
    if (pgServer && (flags.only.has('9') || flags.only.has('9r'))) await prepareWide(ctx, pgServer);
    if (myServer) await prepareMariadb(ctx, myServer);

    const pairs: Array<[string, (ctx: Context) => Promise<PairResult>]> = [
      ['1', pair1],
      ['1j', pair1NoJit],
      ['1s', pair1Jobs],
      [
        '2',
        async () =>
          pair2(
            ctx,
            results.find((r) => r.id === '1'),
          ),
      ],
      ['3', pair3],
      ['4', pair4],
      ['4m', pair4m],
      ['5', pair5],
      ['6', pair6],
      ['7', pair7],
      ['8', (c) => pair8(c, 'postgres')],
      ['8m', (c) => pair8(c, 'mysql')],
      ['9', pair9],
      ['9r', pair9r],
      ['s3', pairS3],
      ['age', pairAge],
    ];
    for (const [id, run] of pairs) {
      if (!flags.only.has(id)) continue;
      log(`pair ${id}…`);
      const result = await run(ctx);
      results.push(result);
      printPair(result);
    }

    const report = {
      generated_at: new Date().toISOString(),
      duration_s: round((Date.now() - started) / 1000),
      machine: machineInfo(servers),
      rows: flags.rows,
      pairs_per_measurement: flags.pairs,
      dataset: {
        organizations: 5,
        measured_organization: MEASURED_ORG,
        table_rows_all_organizations: tableSizes(flags.rows),
        measured_backup: ctx.backupSummary ?? null,
      },
      results,
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    await writeFile(path.join(RESULTS_DIR, `rows-${flags.rows}.json`), json);
    // latest.json is the full picture: a partial run (--only) leaves it to the last full run.
    const full = ALL_PAIRS.every((id) => flags.only.has(id));
    if (full || !existsSync(path.join(RESULTS_DIR, 'latest.json'))) await writeFile(path.join(RESULTS_DIR, 'latest.json'), json);
    console.log(`\n${renderTable(results)}\n`);
    log(`wrote bench/results/rows-${flags.rows}.json${full ? ' and bench/results/latest.json' : ''} (${report.duration_s} s)`);
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    if (!flags.keep) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', LC_ALL: 'C' };
  for (const key of Object.keys(env)) if (key.startsWith('PG') || key.startsWith('MYSQL') || key === 'TENANT_BACKUP_CONFIG') delete env[key];
  return env;
}

// ---------------------------------------------------------------------------------------------
// Servers and data

async function preparePostgres(ctx: Context, server: RunningServer): Promise<void> {
  const admin = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'bench' });
  await client.connect();
  const t = Date.now();
  await generatePostgres(client, ctx.flags.rows);
  await client.end();
  log(`PostgreSQL ${server.version}: generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  Object.assign(ctx.env, {
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGUSER: server.user,
    PGDATABASE: 'bench',
    PGPASSWORD: server.password,
    BENCH_PG_PASSWORD: server.password,
  });
  const connection = { host: server.host, port: server.port, user: server.user, password: '${BENCH_PG_PASSWORD}', database: 'bench' };
  const raw = {
    storage: { dir: './store-pg' },
    timezone: 'UTC',
    organizations: { client: 'pg', connection },
    tenants: { bench: { client: 'pg', connection } },
  };
  const configFile = path.join(ctx.work, 'pg.backuprc');
  await writeConfig(configFile, raw);
  const plans = await planFor(raw, configFile, ctx.env, MEASURED_ORG);
  ctx.pg = { server, pid: await pidFromFile(path.join(server.dataDir, 'postmaster.pid')), configFile, plans };
}

/** Pair 9's schema: database `wide`, schema `wide` (bench/wide-dataset.ts). */
async function prepareWide(ctx: Context, server: RunningServer): Promise<void> {
  const admin = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE wide');
  await admin.end();
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'wide' });
  await client.connect();
  await generateWidePostgres(client);
  await client.end();
  const connection = { host: server.host, port: server.port, user: server.user, password: '${BENCH_PG_PASSWORD}', database: 'wide' };
  const raw = { storage: { dir: './store-wide' }, timezone: 'UTC', organizations: { client: 'pg', schema: 'wide', connection } };
  const configFile = path.join(ctx.work, 'wide.backuprc');
  await writeConfig(configFile, raw);
  const plans = await planFor(raw, configFile, ctx.env, MEASURED_ORG);
  ctx.wide = { server, pid: ctx.pg?.pid, configFile, plans };
  log(`wide schema: ${plans.length} tables planned`);
}

async function prepareMariadb(ctx: Context, server: RunningServer): Promise<void> {
  const connection = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  // A production-like server for this data size (the test helper starts a tiny one).
  const pool = ctx.flags.rows > 2_000_000 ? 4 : 1;
  await connection.query(`SET GLOBAL innodb_buffer_pool_size = ${pool} * 1024 * 1024 * 1024`);
  await connection.query('SET GLOBAL innodb_log_file_size = 512 * 1024 * 1024');
  await connection.query('CREATE DATABASE bench');
  await connection.query('USE bench');
  const t = Date.now();
  await generateMariadb(connection, ctx.flags.rows);
  await connection.end();
  log(`MariaDB ${server.version}: generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  Object.assign(ctx.env, { MYSQL_PWD: server.password, BENCH_MYSQL_PASSWORD: server.password });
  const mysqlConnection = { host: server.host, port: server.port, user: server.user, password: '${BENCH_MYSQL_PASSWORD}', database: 'bench' };
  const raw = {
    storage: { dir: './store-mysql' },
    timezone: 'UTC',
    organizations: { client: 'mysql2', connection: mysqlConnection },
    tenants: { bench: { client: 'mysql2', connection: mysqlConnection } },
  };
  const configFile = path.join(ctx.work, 'mysql.backuprc');
  await writeConfig(configFile, raw);
  const plans = await planFor(raw, configFile, ctx.env, MEASURED_ORG);
  ctx.my = { server, pid: await pidFromFile(path.join(path.dirname(server.dataDir), 'mariadb.pid')), configFile, plans };
}

// ---------------------------------------------------------------------------------------------
// Reporting

function machineInfo(servers: RunningServer[]) {
  const version = (argv: string[]) => {
    try {
      return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .split('\n')[0]!
        .trim();
    } catch {
      return null;
    }
  };
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? null,
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: servers.find((s) => s.engine === 'postgres')?.version ?? null,
    mariadb: servers.find((s) => s.engine === 'mysql')?.version ?? null,
    psql: version(['psql', '--version']),
    pg_dump: version(['pg_dump', '--version']),
    mysqldump: version(['mysqldump', '--version']),
    gzip: version(['gzip', '--version']),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function printPair(result: PairResult): void {
  const s = result.summary;
  if (s) {
    log(
      `pair ${result.id}: ours ${seconds(s.ours_ms)} (${s.ours_rss_mib} MiB), reference ${seconds(s.reference_ms)} (${s.reference_rss_mib} MiB), ` +
        `ratio ${s.ratio} [${result.ratios!.join(', ')}] → ${result.status}`,
    );
  } else log(`pair ${result.id}: ${result.status}${result.note ? ` — ${result.note}` : ''}`);
}

export function renderTable(results: PairResult[]): string {
  const header = ['#', 'what', 'ours', 'reference', 'ratio', 'per pair', 'RSS ours / ref', 'CPU ours / ref (server)', 'target', 'status'];
  const rows = results.map((r) => {
    const s = r.summary;
    if (r.rss_mib && !s) {
      const rss = r.rss_mib as { restore_small: number; restore_large: number; backup_large: number };
      return [
        r.id,
        r.title,
        `restore ${rss.restore_large} MiB`,
        `(without the value: ${rss.restore_small} MiB)`,
        '-',
        '',
        `backup ${rss.backup_large} MiB`,
        r.exact ? 'came back exactly' : 'DIFFERS',
        r.target,
        r.status,
      ];
    }
    if (r.id === '2') {
      const sizes = Object.entries((r.rss_mib_by_rows as Record<string, number>) ?? {}).map(([rows, mib]) => `${Number(rows) / 1e6}M: ${mib} MiB`);
      return [r.id, r.title, sizes.join(', ') || '-', '', r.growth !== undefined ? `${String(r.growth)}x` : '-', '', '', '', r.target, r.status];
    }
    if (!s) return [r.id, r.title, '-', '-', '-', '', '', '', r.target, `${r.status}${r.note ? ` (${r.note})` : ''}`];
    const server = s.ours_server_cpu_ms !== null ? ` (server ${seconds(s.ours_server_cpu_ms)} / ${seconds(s.reference_server_cpu_ms ?? 0)})` : '';
    return [
      r.id,
      r.title,
      seconds(s.ours_ms),
      seconds(s.reference_ms),
      `${s.ratio.toFixed(2)}x`,
      r.ratios!.map((x) => x.toFixed(2)).join(' '),
      `${s.ours_rss_mib} / ${s.reference_rss_mib} MiB`,
      `${seconds(s.ours_cpu_ms)} / ${seconds(s.reference_cpu_ms)}${server}`,
      r.target,
      r.status,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((row) => line(row.map(String)))].join('\n');
}

await main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
