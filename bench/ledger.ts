/**
 * The ledger at scale (issue 17) and the database ledger's skip path (issue 12). Run with
 * `npm run bench:ledger` (builds first):
 *
 *   npm run bench:ledger                                  # every pair, a ledger of 1,000,000 records
 *   npm run bench:ledger -- --records 100000 --only L1,L2
 *   npm run bench:ledger -- --migrate-records 500000 --only L6
 *
 * The JSON ledger is generated in exactly the format the tool writes (test/helpers/ledger-
 * generator.ts: 2,000 organizations with their weekday archives and failures, 2,000 tenants with a
 * long history of timestamped backups), beside a copy of the demo SQLite database; organization 1
 * is then backed up for real, so `auto --org 1` has nothing to do. Pairs:
 *
 *   L1  auto --org 1 when today's backup exists, against `node -e 0`      target ≤ 1.5
 *   L2  list --org 1 --json, and list <the largest tenant> --json          target ≤ 0.5 s
 *   L3  peak RSS of every reading and writing command                      target ≤ 200 MiB each
 *   L4  a backup's time in ledger calls (bench/ledger-work.ts)             target ≤ 50 ms
 *   L5  20 processes writing at once: records lost                         target 0
 *   L6  first command on a format-1 ledger (the migration): time, RSS      information
 *   D1  auto --org 1's skip path on a database ledger (PostgreSQL, MariaDB, SQLite), against
 *       `node -e 0` and against the JSON ledger                           target ≤ 3
 *
 * Writes bench/results/ledger-<records>.json. Never part of `npm test`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateFormat1Ledger, generateJsonLedger } from '../test/helpers/ledger-generator.js';
import { logPrefix, measure, median, round, type Measurement } from './measure.js';
import { databaseLedgerPairs } from './ledger-database.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tenant-backup.js');
const RESULTS_DIR = path.join(ROOT, 'bench/results');
const ALL = ['L1', 'L2', 'L3', 'L4', 'L5', 'L6', 'D1'];
const run = promisify(execFile);

export interface LedgerBenchContext {
  work: string;
  pairs: number;
  env: NodeJS.ProcessEnv;
}

export interface LedgerPair {
  id: string;
  title: string;
  target: string;
  status: 'met' | 'not met' | 'info';
  figure: string;
  [detail: string]: unknown;
}

interface Flags {
  records: number;
  migrateRecords: number;
  pairs: number;
  only: Set<string>;
  keep: boolean;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { records: 1_000_000, migrateRecords: 500_000, pairs: 5, only: new Set(ALL), keep: false };
  for (let i = 0; i < argv.length; i += 1) {
    const value = () => argv[++i] ?? '';
    const arg = argv[i];
    if (arg === '--records') flags.records = Number(value().replaceAll('_', ''));
    else if (arg === '--migrate-records') flags.migrateRecords = Number(value().replaceAll('_', ''));
    else if (arg === '--pairs') flags.pairs = Number(value());
    else if (arg === '--only') flags.only = new Set(value().split(','));
    else if (arg === '--keep') flags.keep = true;
    else throw new Error(`unknown flag ${arg}; usage: npm run bench:ledger -- [--records N] [--migrate-records N] [--pairs N] [--only ${ALL.join(',')}] [--keep]`);
  }
  return flags;
}

const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

/** `ours` and `reference` alternately (after one warm-up each); the median of per-pair ratios. */
export async function alternate(ctx: LedgerBenchContext, name: string, ours: string[], reference: string[], pairs: number, cwd: string) {
  const once = (side: string, argv: string[]) => measure(argv, { env: ctx.env, cwd, logPrefix: logPrefix(ctx.work, `${name}-${side}`) });
  await once('ours', ours);
  await once('ref', reference);
  const a: Measurement[] = [];
  const b: Measurement[] = [];
  for (let i = 0; i < pairs; i += 1) {
    a.push(await once('ours', ours));
    b.push(await once('ref', reference));
  }
  const ratios = a.map((m, i) => round(m.wall_ms / b[i]!.wall_ms, 2));
  return {
    ours_ms: round(median(a.map((m) => m.wall_ms))),
    reference_ms: round(median(b.map((m) => m.wall_ms))),
    ratio: round(median(ratios), 2),
    ratios,
    ours_rss_mib: round(Math.max(...a.map((m) => m.max_rss_kib)) / 1024, 1),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run bench:ledger` (it builds first).');
  const work = await mkdtemp(path.join(os.tmpdir(), 'tb-bench-ledger-'));
  const ctx: LedgerBenchContext = { work, pairs: flags.pairs, env: { ...process.env, TENANT_BACKUP_CONFIG: '' } };
  const results: LedgerPair[] = [];
  const started = Date.now();
  try {
    const app = path.join(work, 'app');
    const store = path.join(app, 'backups');
    await mkdir(app, { recursive: true });
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(app, 'demo.sqlite'));
    const config = { storage: { dir: './backups' }, timezone: 'Europe/Berlin', organizations: { client: 'better-sqlite3', connection: { filename: './demo.sqlite' } } };
    await writeFile(path.join(app, '.backuprc'), JSON.stringify(config), { mode: 0o600 });
    const needsLedger = ['L1', 'L2', 'L3', 'L4', 'L5', 'D1'].some((id) => flags.only.has(id));
    let generated: Awaited<ReturnType<typeof generateJsonLedger>> | undefined;
    if (needsLedger) {
      log(`generating a JSON ledger of ${flags.records.toLocaleString('en-US')} records…`);
      const today = new Date().toLocaleDateString('sv-SE', { timeZone: 'Europe/Berlin' });
      generated = await generateJsonLedger(store, { records: flags.records, today, host: os.hostname() });
      const made = await run(process.execPath, [BIN, 'backup', '--org', '1', '--json'], { cwd: app, env: ctx.env });
      log(`organization 1 backed up: ${(JSON.parse(made.stdout) as { record: { backup_filename: string } }).record.backup_filename}`);
    }
    const cli = (args: string[]) => [process.execPath, BIN, ...args];

    if (flags.only.has('L1')) {
      log('L1 auto no-op…');
      const figures = await alternate(ctx, 'L1', cli(['auto', '--org', '1', '--user', '7', '--role', 'admin', '--json']), [process.execPath, '-e', '0'], flags.pairs * 5, app);
      results.push({
        id: 'L1',
        title: `auto --org 1 with nothing to do, ${flags.records.toLocaleString('en-US')} records`,
        target: '≤ 1.5 × node -e 0',
        status: figures.ratio <= 1.5 ? 'met' : 'not met',
        figure: `${figures.ours_ms} / ${figures.reference_ms} ms = ${figures.ratio}`,
        ...figures,
      });
    }
    if (flags.only.has('L2')) {
      log('L2 list --org…');
      const tenant = generated!.tenants[0]!;
      for (const [id, args] of [
        ['L2', ['list', '--org', '1', '--json']],
        ['L2t', ['list', tenant, '--json']],
      ] as const) {
        const runs: Measurement[] = [];
        for (let i = 0; i <= flags.pairs; i += 1) runs.push(await measure(cli([...args]), { env: ctx.env, cwd: app, logPrefix: logPrefix(work, id) }));
        const ms = round(median(runs.slice(1).map((m) => m.wall_ms)));
        const count = (JSON.parse(await readFile(`${logPrefix(work, id)}.out`, 'utf8')) as unknown[]).length;
        results.push({
          id,
          title: `${args.slice(0, -1).join(' ')} (${count} records listed)`,
          target: '≤ 0.5 s',
          status: ms <= 500 ? 'met' : 'not met',
          figure: `${ms} ms`,
          wall_ms: ms,
          rss_mib: round(Math.max(...runs.map((m) => m.max_rss_kib)) / 1024, 1),
        });
      }
    }
    if (flags.only.has('L3')) {
      log('L3 peak RSS of each command…');
      const commands: string[][] = [
        ['auto', '--org', '1', '--json'],
        ['list', '--org', '1', '--json'],
        ['list', '--json'],
        ['list'],
        ['list', '--status', 'failed', '--limit', '100', '--json'],
        ['status', '--org', '1', '--json'],
        ['status', '--all', '--json'],
        ['backup', '--org', '2', '--json'],
        ['auto', '--org', '2', '--json'],
        ['prune', '--dry-run', '--json'],
      ];
      const rows: Array<{ command: string; wall_ms: number; rss_mib: number }> = [];
      for (const args of commands) {
        const m = await measure(cli(args), { env: ctx.env, cwd: app, logPrefix: logPrefix(work, `L3-${args.join('-')}`) }).catch((error: Error) => ({
          wall_ms: -1,
          max_rss_kib: -1,
          error: error.message,
        }));
        rows.push({ command: args.join(' '), wall_ms: round(m.wall_ms), rss_mib: round(m.max_rss_kib / 1024, 1) });
        log(`  ${args.join(' ')}: ${round(m.max_rss_kib / 1024, 1)} MiB, ${round(m.wall_ms)} ms`);
      }
      const worst = Math.max(...rows.map((r) => r.rss_mib));
      results.push({
        id: 'L3',
        title: 'peak RSS, every command',
        target: '≤ 200 MiB',
        status: worst <= 200 && rows.every((r) => r.rss_mib > 0) ? 'met' : 'not met',
        figure: `highest ${worst} MiB`,
        commands: rows,
      });
    }
    if (flags.only.has('L4')) {
      log('L4 ledger work of a backup…');
      const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/ledger-work.ts'), path.join(app, '.backuprc'), '1', String(flags.pairs + 1)], {
        cwd: ROOT,
        env: ctx.env,
        maxBuffer: 1 << 20,
      });
      const out = JSON.parse(stdout) as { ledger_ms: number[]; total_ms: number[]; calls: Record<string, number> };
      const ms = median(out.ledger_ms.slice(1));
      results.push({
        id: 'L4',
        title: 'a backup --org, time inside ledger calls',
        target: '≤ 50 ms',
        status: ms <= 50 ? 'met' : 'not met',
        figure: `${ms} ms of ${median(out.total_ms.slice(1))} ms`,
        ...out,
      });
    }
    if (flags.only.has('L5')) {
      log('L5 20 writers at once…');
      const worker = path.join(ROOT, 'test/helpers/ledger-worker.ts');
      const owners = Array.from({ length: 20 }, (_, i) => (i < 10 ? generated!.tenants[0]! : String(100 + i)));
      const before = JSON.parse(await readFile(path.join(store, 'ledger.json'), 'utf8')) as { next_id: number };
      const t0 = performance.now();
      await Promise.all(owners.map((owner) => run(process.execPath, ['--import', 'tsx', worker, store, owner], { cwd: ROOT })));
      const wall = round(performance.now() - t0);
      const { JsonFileLedger } = await import('../src/ledger/json-file.js');
      const { systemClock } = await import('../src/retention/clock.js');
      const ledger = new JsonFileLedger(store, systemClock);
      let found = 0;
      for (const owner of new Set(owners)) {
        const filter = /^\d/.test(owner) ? { organization_id: owner } : { tenant: owner };
        found += (await ledger.find(filter)).filter((r) => r.id >= before.next_id && r.status === 'success').length;
      }
      results.push({
        id: 'L5',
        title: "20 processes writing at once (10 into one tenant's file)",
        target: '0 records lost',
        status: found === 20 ? 'met' : 'not met',
        figure: `${20 - found} lost, ${wall} ms for all 20`,
        wall_ms: wall,
      });
    }
    if (flags.only.has('L6')) {
      log(`L6 migration of a format-1 ledger of ${flags.migrateRecords.toLocaleString('en-US')} records…`);
      const old = path.join(work, 'old');
      await mkdir(old);
      await copyFile(path.join(app, 'demo.sqlite'), path.join(old, 'demo.sqlite'));
      await writeFile(path.join(old, '.backuprc'), JSON.stringify(config), { mode: 0o600 });
      await generateFormat1Ledger(path.join(old, 'backups'), { records: flags.migrateRecords });
      const m = await measure(cli(['list', '--org', '1', '--json']), { env: ctx.env, cwd: old, logPrefix: logPrefix(work, 'L6') });
      const after = await measure(cli(['list', '--org', '1', '--json']), { env: ctx.env, cwd: old, logPrefix: logPrefix(work, 'L6b') });
      results.push({
        id: 'L6',
        title: `first command on a format-1 ledger of ${flags.migrateRecords.toLocaleString('en-US')} records (it migrates)`,
        target: 'information',
        status: 'info',
        figure: `${round(m.wall_ms / 1000, 1)} s, ${round(m.max_rss_kib / 1024)} MiB; the next: ${round(after.wall_ms)} ms`,
        wall_ms: m.wall_ms,
        rss_mib: round(m.max_rss_kib / 1024, 1),
        next_ms: after.wall_ms,
      });
    }
    if (flags.only.has('D1')) results.push(...(await databaseLedgerPairs(ctx, { alternate, log, jsonApp: app })));

    // A partial run (--only) keeps the other pairs' latest figures in the file.
    const file = path.join(RESULTS_DIR, `ledger-${flags.records}.json`);
    const earlier = existsSync(file) ? ((JSON.parse(await readFile(file, 'utf8')) as { results?: Array<LedgerPair & { measured_at?: string }> }).results ?? []) : [];
    const now = new Date().toISOString();
    const merged = [...earlier.filter((r) => !results.some((n) => n.id === r.id)), ...results.map((r) => ({ ...r, measured_at: now }))];
    const report = {
      generated_at: now,
      duration_s: round((Date.now() - started) / 1000),
      records: flags.records,
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? null, node: process.version },
      results: merged,
    };
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log('\n| # | what | figure | target | |\n|---|---|---|---|---|');
    for (const r of results) console.log(`| ${r.id} | ${r.title} | ${r.figure} | ${r.target} | **${r.status}** |`);
    log(`wrote bench/results/ledger-${flags.records}.json (${report.duration_s} s)`);
  } finally {
    if (!flags.keep) await rm(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

await main();
