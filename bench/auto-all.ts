/**
 * `auto --all` at scale (issue 17, point 4). Run with `npm run bench:auto-all` (builds first):
 *
 *   npm run bench:auto-all                                   # 2,000 organizations, default concurrency
 *   npm run bench:auto-all -- --orgs 500 --concurrency 4
 *   npm run bench:auto-all -- --ledger database              # the ledger in the same PostgreSQL
 *   npm run bench:auto-all -- --orgs 300 --profile /tmp/prof # node --cpu-prof of both runs, summarized
 *
 * It starts a throwaway PostgreSQL 15 (test/helpers/servers.ts), generates N organizations of 28
 * rows each in a small billing-like schema, server-side (organizations, customers, products,
 * invoices, invoice_items without the tenant column, payments), then runs `auto --all` twice as
 * whole processes: the first run (every organization backed up) and the run when everything is
 * already done. It prints wall time, peak RSS and CPU of each, the server's CPU, the connections
 * the server saw (`log_connections`), and the ratios against the issue's targets
 * (first run ≤ 150 s, all-done run ≤ 5 s at 2,000 organizations). Every archive is checked to be
 * there and every organization to have exactly one success record of today.
 *
 * Writes bench/results/auto-all-<N>.json. Never part of `npm test`.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateOrganizations } from '../test/helpers/many-organizations.js';
import { startPostgres, type RunningServer } from '../test/helpers/servers.js';
import { logPrefix, measure, pidFromFile, round, type Measurement } from './measure.js';
import { summarize } from './profile-summary.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tenant-backup.js');
const RESULTS_DIR = path.join(ROOT, 'bench/results');
/** The issue's targets at 2,000 organizations; scaled linearly for other sizes. */
const FIRST_RUN_S_PER_2000 = 150;
const DONE_RUN_S_PER_2000 = 5;

interface Flags {
  orgs: number;
  concurrency: number | null;
  ledger: 'json' | 'database';
  profile: string | null;
  keep: boolean;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { orgs: 2000, concurrency: null, ledger: 'json', profile: null, keep: false };
  for (let i = 0; i < argv.length; i += 1) {
    const value = () => argv[++i] ?? '';
    const arg = argv[i];
    if (arg === '--orgs') flags.orgs = Number(value().replaceAll('_', ''));
    else if (arg === '--concurrency') flags.concurrency = Number(value());
    else if (arg === '--ledger') flags.ledger = value() === 'database' ? 'database' : 'json';
    else if (arg === '--profile') flags.profile = path.resolve(value());
    else if (arg === '--keep') flags.keep = true;
    else throw new Error(`unknown flag ${arg}; usage: npm run bench:auto-all -- [--orgs N] [--concurrency N] [--ledger json|database] [--profile DIR] [--keep]`);
  }
  if (!Number.isInteger(flags.orgs) || flags.orgs < 1) throw new Error('--orgs takes a positive integer');
  return flags;
}

const log = (text: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

interface RunFigures extends Measurement {
  summary: { created: number; skipped: number; failed: number } | null;
  connections: number | null;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run bench:auto-all` (it builds first).');
  const work = await mkdtemp(path.join(os.tmpdir(), 'tb-bench-all-'));
  let server: RunningServer | undefined;
  try {
    server = await startPostgres();
    const admin = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE app');
    // Every connection the server accepts is logged: the runs' connection counts come from there.
    await admin.query('ALTER SYSTEM SET log_connections = on');
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'app' });
    await client.connect();
    const t = Date.now();
    const rowsPerOrg = await generateOrganizations(client, flags.orgs);
    await client.end();
    log(`PostgreSQL ${server.version}: ${flags.orgs.toLocaleString('en-US')} organizations × ${rowsPerOrg} rows generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);

    const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', LC_ALL: 'C', BENCH_PG_PASSWORD: server.password };
    for (const key of Object.keys(env)) if (key.startsWith('PG') || key === 'TENANT_BACKUP_CONFIG') delete env[key];
    const connection = { host: server.host, port: server.port, user: server.user, password: '${BENCH_PG_PASSWORD}', database: 'app' };
    const raw = {
      storage: { dir: './store' },
      timezone: 'UTC',
      organizations: { client: 'pg', connection },
      ...(flags.ledger === 'database' ? { ledger: { type: 'database' } } : {}),
    };
    const configFile = path.join(work, '.backuprc');
    await writeFile(configFile, JSON.stringify(raw, null, 2), { mode: 0o600 });
    await chmod(configFile, 0o600);
    const serverPid = await pidFromFile(path.join(server.dataDir, 'postmaster.pid'));
    const postgresLog = path.join(path.dirname(server.dataDir), 'postgres.log');
    if (flags.ledger === 'database') await measure([process.execPath, BIN, 'ledger', 'init', '--json'], { env, cwd: work, logPrefix: logPrefix(work, 'ledger-init') });
    if (flags.profile) await mkdir(flags.profile, { recursive: true });

    const runAll = async (name: string): Promise<RunFigures> => {
      const before = await connectionsLogged(postgresLog);
      const nodeArgs = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(flags.profile, name)}`] : [];
      const args = ['auto', '--all', '--json', ...(flags.concurrency ? ['--concurrency', String(flags.concurrency)] : [])];
      const m = await measure([process.execPath, ...nodeArgs, BIN, ...args], { env, cwd: work, logPrefix: logPrefix(work, name), serverPid });
      const lines = (await readFile(m.stdoutFile, 'utf8')).trim().split('\n');
      const last = JSON.parse(lines.at(-1) ?? '{}') as { summary?: RunFigures['summary'] };
      const after = await connectionsLogged(postgresLog);
      return { ...m, summary: last.summary ?? null, connections: before === null || after === null ? null : after - before };
    };
    log(`first run: auto --all${flags.concurrency ? ` --concurrency ${flags.concurrency}` : ' (default concurrency)'}…`);
    const first = await runAll('first');
    log(`  ${figures(first)}`);
    log('all-done run…');
    const done = await runAll('done');
    log(`  ${figures(done)}`);

    const archives = (await readdir(path.join(work, 'store/organizations'))).filter((name) => name.endsWith('.zip'));
    const checks = {
      archives: archives.length,
      first_created: first.summary?.created ?? null,
      done_skipped: done.summary?.skipped ?? null,
      ok: archives.length === flags.orgs && first.summary?.created === flags.orgs && done.summary?.skipped === flags.orgs,
    };
    const scale = flags.orgs / 2000;
    const firstTarget = FIRST_RUN_S_PER_2000 * scale;
    const doneTarget = DONE_RUN_S_PER_2000 * scale;
    const report = {
      generated_at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, memory_gib: round(os.totalmem() / 2 ** 30, 1), node: process.version, postgres: server.version },
      organizations: flags.orgs,
      rows_per_organization: rowsPerOrg,
      concurrency: flags.concurrency ?? 'default',
      ledger: flags.ledger,
      first_run: { ...strip(first), target_s: firstTarget, ratio: round(first.wall_ms / 1000 / firstTarget, 2) },
      done_run: { ...strip(done), target_s: doneTarget, ratio: round(done.wall_ms / 1000 / doneTarget, 2) },
      checks,
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    const out = path.join(RESULTS_DIR, `auto-all-${flags.orgs}${flags.ledger === 'database' ? '-dbledger' : ''}.json`);
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(
      [
        '',
        `auto --all over ${flags.orgs.toLocaleString('en-US')} organizations of ${rowsPerOrg} rows (PostgreSQL ${server.version}, ${flags.ledger} ledger, concurrency ${report.concurrency}, ${os.cpus().length} cores)`,
        `| run | wall | target | ratio | peak RSS | CPU (tool) | CPU (server) | connections |`,
        `|---|---|---|---|---|---|---|---|`,
        row('first run', first, firstTarget),
        row('all done', done, doneTarget),
        '',
        `checks: ${checks.archives} archives, ${checks.first_created} created, then ${checks.done_skipped} skipped — ${checks.ok ? 'ok' : 'NOT OK'}`,
      ].join('\n'),
    );
    if (flags.profile) {
      for (const name of ['first', 'done']) {
        const dir = path.join(flags.profile, name);
        const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
        if (file) console.log(`\n--- profile of the ${name} run (${path.join(dir, file)})\n${summarize(path.join(dir, file), 25)}`);
      }
    }
    log(`wrote ${path.relative(ROOT, out)}`);
    if (!checks.ok) process.exitCode = 1;
  } finally {
    await server?.stop().catch(() => undefined);
    if (!flags.keep) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

function strip(m: RunFigures) {
  return {
    wall_s: round(m.wall_ms / 1000, 2),
    max_rss_mib: round(m.max_rss_kib / 1024, 1),
    cpu_s: round(m.cpu_ms / 1000, 2),
    server_cpu_s: m.server_cpu_ms === null ? null : round(m.server_cpu_ms / 1000, 2),
    connections: m.connections,
    summary: m.summary,
  };
}

function figures(m: RunFigures): string {
  const s = strip(m);
  return `${s.wall_s} s, ${s.max_rss_mib} MiB, CPU ${s.cpu_s} s (server ${s.server_cpu_s} s), ${s.connections} connections, ${JSON.stringify(s.summary)}`;
}

function row(name: string, m: RunFigures, target: number): string {
  const s = strip(m);
  return `| ${name} | ${s.wall_s} s | ≤ ${round(target, 1)} s | ${round(s.wall_s / target, 2)} | ${s.max_rss_mib} MiB | ${s.cpu_s} s | ${s.server_cpu_s ?? '?'} s | ${s.connections ?? '?'} |`;
}

/** Connections the server has accepted so far (lines of `log_connections`). */
async function connectionsLogged(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  return text === null ? null : text.split('\n').filter((line) => line.includes('connection authorized')).length;
}

await main();
