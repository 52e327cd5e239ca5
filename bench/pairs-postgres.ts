/**
 * The PostgreSQL pairs on the billing database: organization backup (1, 1j, 1s) and restore (3),
 * peak RSS at two sizes (2), the tenant database backup (4), and ours against ours: into S3 (s3)
 * and encrypted (age). References and their exact commands: bench/PERFORMANCE.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { X25519Identity } from '../src/cipher/age/keys.js';
import { PG_DUMP_ARGS } from '../src/engines/postgres/dump.js';
import { EMULATOR_ENV, startEmulator } from '../test/helpers/s3.js';
import { alternate, BIN, judge, ours, q, RESULTS_DIR, writeConfig, type Context, type PairResult } from './context.js';
import { MEASURED_ORG } from './dataset.js';
import { round, shellQuote } from './measure.js';

/** `psql \copy (SELECT … the plan's condition …) TO STDOUT | gzip -1` per table, one after another. */
export function pgReferenceScript(ctx: Context, dir: string, files: string[]): string {
  const lines = ['set -euo pipefail'];
  for (const [i, plan] of ctx.pg!.plans.entries()) {
    const columns = plan.columns.map((c) => `t.${q(c.name)}`).join(', ');
    const order = plan.primaryKey.length > 0 ? ` ORDER BY ${plan.primaryKey.map((c) => `t.${q(c)}`).join(', ')}` : '';
    const select = `SELECT ${columns} FROM ONLY ${q(plan.table)} t WHERE ${plan.where}${order}`;
    const file = path.join(dir, `${i}-${plan.table.replace(/[^A-Za-z0-9_-]/g, '_')}.tsv.gz`);
    files.push(file);
    lines.push(`psql -X -q -v ON_ERROR_STOP=1 -c ${shellQuote(`\\copy (${select}) TO STDOUT`)} | gzip -1 > ${shellQuote(file)}`);
  }
  return lines.join('\n') + '\n';
}

const TITLES: Record<string, [string, string]> = {
  '1': ['backup --org on PostgreSQL', '≤ 1.0'],
  '1j': ['backup --org on PostgreSQL vs the reference with JIT off', 'information (no target)'],
};

async function pair1Like(ctx: Context, id: '1' | '1j', env: NodeJS.ProcessEnv | undefined): Promise<PairResult> {
  const [title, target] = TITLES[id]!;
  const result: PairResult = { id, title, target, status: 'info' };
  const dir = path.join(ctx.work, `ref-pg-${id}`);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const script = path.join(ctx.work, `ref-pg-backup-${id}.sh`);
  await writeFile(script, pgReferenceScript(ctx, dir, files));
  const saved = ctx.env;
  if (env) ctx.env = { ...ctx.env, ...env };
  try {
    await alternate(
      ctx,
      result,
      { name: `p${id}-ours`, command: ours(['backup', '--org', MEASURED_ORG, '--json'], ctx.pg!.configFile) },
      { name: `p${id}-ref`, command: ['bash', script] },
      ctx.pg!.pid,
      {
        afterWarmUp: async (warm) => {
          const out = JSON.parse(readFileSync(warm.stdoutFile, 'utf8')) as {
            record: { backup_path: string; backup_size: number };
            tables: Array<{ table: string; rows: number; bytes: number }>;
          };
          ctx.archives.postgres = out.record.backup_path;
          ctx.backupSummary = {
            rows: out.tables.reduce((s, t) => s + t.rows, 0),
            ndjson_bytes: out.tables.reduce((s, t) => s + t.bytes, 0),
            archive_bytes: out.record.backup_size,
            tables: out.tables,
          };
        },
      },
    );
  } finally {
    ctx.env = saved;
  }
  if (id === '1') {
    ctx.pgReferenceFiles = files;
    judge(result, 1.0);
  }
  const refBytes = (await Promise.all(files.map((f) => stat(f)))).reduce((s, st) => s + st.size, 0);
  result.bytes = { ours: ctx.backupSummary?.archive_bytes ?? 0, reference: refBytes };
  return result;
}

export const pair1 = (ctx: Context) => pair1Like(ctx, '1', undefined);
export const pair1NoJit = (ctx: Context) => pair1Like(ctx, '1j', { PGOPTIONS: '-c jit=off' });

/** Pair 1s: what `--jobs 2` (the default) does against one table at a time, both ours (information). */
export async function pair1Jobs(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '1s', title: 'backup --org on PostgreSQL, --jobs 2 (default) vs --jobs 1', target: 'information (no target)', status: 'info' };
  await alternate(
    ctx,
    result,
    { name: 'p1s-jobs2', command: ours(['backup', '--org', MEASURED_ORG, '--json', '--jobs', '2'], ctx.pg!.configFile) },
    { name: 'p1s-jobs1', command: ours(['backup', '--org', MEASURED_ORG, '--json', '--jobs', '1'], ctx.pg!.configFile) },
    ctx.pg!.pid,
  );
  return result;
}

/** Pair 2: peak RSS of pair 1 at two sizes (this run and another rows-<n>.json). */
export async function pair2(ctx: Context, one?: PairResult): Promise<PairResult> {
  const result: PairResult = { id: '2', title: 'peak RSS of pair 1 (ours) at two sizes', target: '≤ 200 MiB at 1M and 4M rows; 4M/1M ≤ 1.2', status: 'pending' };
  const sizes = new Map<number, number>(); // rows → peak RSS MiB (highest of the runs)
  const medians = new Map<number, number>(); // rows → median of the runs' peak RSS
  if (one?.summary) {
    sizes.set(ctx.flags.rows, one.summary.ours_rss_mib);
    medians.set(ctx.flags.rows, one.summary.ours_rss_median_mib);
  }
  if (existsSync(RESULTS_DIR)) {
    for (const file of readdirSync(RESULTS_DIR)) {
      const match = /^rows-(\d+)\.json$/.exec(file);
      if (!match || Number(match[1]) === ctx.flags.rows) continue;
      try {
        const report = JSON.parse(readFileSync(path.join(RESULTS_DIR, file), 'utf8')) as { results: PairResult[] };
        const previous = report.results.find((r) => r.id === '1')?.summary;
        if (previous?.ours_rss_mib !== undefined) sizes.set(Number(match[1]), previous.ours_rss_mib);
        if (previous?.ours_rss_median_mib !== undefined) medians.set(Number(match[1]), previous.ours_rss_median_mib);
      } catch {
        // an unreadable old result is simply not used
      }
    }
  }
  const measured = [...sizes.entries()].sort((a, b) => a[0] - b[0]);
  result.rss_mib_by_rows = Object.fromEntries(measured);
  result.rss_median_mib_by_rows = Object.fromEntries([...medians.entries()].sort((a, b) => a[0] - b[0]));
  const small = measured.find(([rows]) => rows === 1_000_000) ?? measured[0];
  const large = measured.find(([rows]) => rows === 4_000_000) ?? measured.at(-1);
  if (!small || !large || small[0] === large[0]) {
    result.note = 'needs pair 1 at two sizes: run `npm run bench -- --rows 4000000 --only 1,2` and a 1M run';
    return result;
  }
  result.small = { rows: small[0], rss_mib: small[1] };
  result.large = { rows: large[0], rss_mib: large[1] };
  result.growth = round(large[1] / small[1], 3);
  result.status = small[1] <= 200 && large[1] <= 200 && large[1] / small[1] <= 1.2 ? 'met' : 'not met';
  return result;
}

async function ensurePgReference(ctx: Context): Promise<string[]> {
  if (ctx.pgReferenceFiles) return ctx.pgReferenceFiles;
  const dir = path.join(ctx.work, 'ref-pg-3');
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const script = path.join(ctx.work, 'ref-pg-backup-3.sh');
  await writeFile(script, pgReferenceScript(ctx, dir, files));
  execFileSync('bash', [script], { env: ctx.env, cwd: ctx.work, stdio: 'inherit' });
  ctx.pgReferenceFiles = files;
  return files;
}

export async function ensurePgArchive(ctx: Context): Promise<string> {
  if (ctx.archives.postgres) return ctx.archives.postgres;
  const out = execFileSync(process.execPath, [BIN, 'backup', '--org', MEASURED_ORG, '--json', '--config', ctx.pg!.configFile], { env: ctx.env, cwd: ctx.work });
  ctx.archives.postgres = (JSON.parse(out.toString()) as { record: { backup_path: string } }).record.backup_path;
  return ctx.archives.postgres;
}

/** Pair 3: organization restore vs DELETE + \copy FROM in one transaction. */
export async function pair3(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '3', title: 'restore --org --yes on PostgreSQL', target: '≤ 1.5', status: 'info' };
  const files = await ensurePgReference(ctx);
  const archive = await ensurePgArchive(ctx);
  const plans = ctx.pg!.plans;
  const sql = [
    '\\set ON_ERROR_STOP on',
    'BEGIN;',
    ...[...plans].reverse().map((p) => `DELETE FROM ONLY ${q(p.table)} t WHERE ${p.where};`),
    ...plans.map((p, i) => `\\copy ${q(p.table)} (${p.columns.map((c) => q(c.name)).join(', ')}) FROM PROGRAM 'gzip -dc ${files[i]!}'`),
    'COMMIT;',
  ].join('\n');
  const script = path.join(ctx.work, 'ref-pg-restore.sql');
  await writeFile(script, `${sql}\n`);
  const vacuum = async () => {
    // Each run leaves the replaced rows dead; every run starts from the same, vacuumed state.
    execFileSync('psql', ['-X', '-q', '-c', `VACUUM ${plans.map((p) => q(p.table)).join(', ')}`], { env: ctx.env });
  };
  await alternate(
    ctx,
    result,
    { name: 'p3-ours', command: ours(['restore', '--org', MEASURED_ORG, path.basename(archive), '--yes', '--json'], ctx.pg!.configFile) },
    { name: 'p3-ref', command: ['psql', '-X', '-q', '-f', script] },
    ctx.pg!.pid,
    { before: vacuum },
  );
  await vacuum();
  judge(result, 1.5);
  return result;
}

/** Pair 4: tenant database backup vs pg_dump <the tool's own flags> | gzip -1. */
export async function pair4(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '4', title: 'backup <tenant> on PostgreSQL (the whole bench database)', target: '≤ 1.10', status: 'pending' };
  const file = path.join(ctx.work, 'ref-tenant.sql.gz');
  const reference = ['bash', '-c', `set -o pipefail; pg_dump ${PG_DUMP_ARGS.map(shellQuote).join(' ')} | gzip -1 > ${shellQuote(file)}`];
  await alternate(ctx, result, { name: 'p4-ours', command: ours(['backup', 'bench', '--json'], ctx.pg!.configFile) }, { name: 'p4-ref', command: reference }, ctx.pg!.pid);
  judge(result, 1.1);
  result.pg_dump_args = [...PG_DUMP_ARGS];
  return result;
}

/**
 * Pair s3: organization backup into an S3 bucket (the s3rver emulator on loopback) vs into a local
 * folder: what the upload and its read-back confirmation cost. Information only: an emulator on
 * the same machine is neither a network nor a real S3.
 */
export async function pairS3(ctx: Context): Promise<PairResult> {
  const result: PairResult = {
    id: 's3',
    title: 'backup --org on PostgreSQL into S3 (s3rver emulator, loopback) vs into a local folder',
    target: 'information (no target)',
    status: 'info',
  };
  const emulator = await startEmulator('s3rver');
  const saved = ctx.env;
  try {
    await emulator.createBucket('bench');
    const raw = JSON.parse(readFileSync(ctx.pg!.configFile, 'utf8')) as Record<string, unknown>;
    const configFile = path.join(ctx.work, 'pg-s3.backuprc');
    await writeConfig(configFile, { ...raw, storage: { type: 's3', dir: './staging-s3', bucket: 'bench', prefix: 'bench/', endpoint: emulator.endpoint, forcePathStyle: true } });
    ctx.env = { ...ctx.env, ...EMULATOR_ENV };
    await alternate(
      ctx,
      result,
      { name: 'ps3-s3', command: ours(['backup', '--org', MEASURED_ORG, '--json'], configFile) },
      { name: 'ps3-local', command: ours(['backup', '--org', MEASURED_ORG, '--json'], ctx.pg!.configFile) },
      ctx.pg!.pid,
    );
  } finally {
    ctx.env = saved;
    await emulator.stop();
  }
  return result;
}

/** Pair age: the cost of encryption: backup --org encrypted with age vs not, same run. */
export async function pairAge(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: 'age', title: 'backup --org on PostgreSQL encrypted (age) vs unencrypted', target: '≤ 1.10', status: 'info' };
  const raw = JSON.parse(readFileSync(ctx.pg!.configFile, 'utf8')) as Record<string, unknown>;
  // Separate stores: each run replaces its own weekday archive, as a nightly backup does.
  const plainFile = path.join(ctx.work, 'pg-plain.backuprc');
  const ageFile = path.join(ctx.work, 'pg-age.backuprc');
  await writeConfig(plainFile, { ...raw, storage: { dir: './store-pg-plain' } });
  await writeConfig(ageFile, { ...raw, storage: { dir: './store-pg-age' }, encryption: { recipients: [X25519Identity.generate().recipient] } });
  await alternate(
    ctx,
    result,
    { name: 'page-age', command: ours(['backup', '--org', MEASURED_ORG, '--json'], ageFile) },
    { name: 'page-plain', command: ours(['backup', '--org', MEASURED_ORG, '--json'], plainFile) },
    ctx.pg!.pid,
    {
      afterWarmUp: async (warm) => {
        const out = JSON.parse(readFileSync(warm.stdoutFile, 'utf8')) as { record: { backup_filename: string; backup_size: number } };
        if (!out.record.backup_filename.endsWith('.zip.age')) throw new Error(`not encrypted: ${out.record.backup_filename}`);
        result.bytes = { ours: out.record.backup_size, reference: 0 };
      },
    },
  );
  judge(result, 1.1);
  return result;
}
