/**
 * Fixed costs and memory: `auto`'s nothing-to-do path against Node's own start (7), restore memory
 * with one 50 MiB value (8 PostgreSQL, 8m MariaDB), and a small organization in a 130-table
 * schema (9 backup, 9r restore) against one psql session running the same per-table \copy.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { alternate, judge, ours, q, type Context, type PairResult } from './context.js';
import { MEASURED_ORG } from './dataset.js';
import { allowLargePackets, measureLargeValue } from './large-value.js';
import { shellQuote } from './measure.js';
import { ensurePgArchive } from './pairs-postgres.js';
import { WIDE_TABLES } from './wide-dataset.js';

/** Pair 7: `auto --org` when today's backup exists vs `node -e 0`. */
export async function pair7(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '7', title: "auto --org when today's backup exists (no-op)", target: '≤ 1.5', status: 'info' };
  await ensurePgArchive(ctx);
  const command = ours(['auto', '--org', MEASURED_ORG, '--user', '7', '--role', 'admin', '--json'], ctx.pg!.configFile);
  await alternate(ctx, result, { name: 'p7-ours', command }, { name: 'p7-ref', command: [process.execPath, '-e', '0'] }, undefined, {
    // Start-up times are short and noisy: five times as many pairs.
    pairs: ctx.flags.pairs * 5,
    afterWarmUp: async (warm) => {
      const out = JSON.parse(readFileSync(warm.stdoutFile, 'utf8')) as { action: string; reason?: string };
      if (out.action !== 'skipped' || out.reason !== 'already_done') throw new Error(`auto did not skip: ${JSON.stringify(out)}`);
    },
  });
  judge(result, 1.5);
  return result;
}

const LARGE_VALUE_MB = 50;

/** Pairs 8 / 8m: peak RSS of `restore --org` with one 50 MiB text value (bench/large-value.ts). */
export async function pair8(ctx: Context, engine: 'postgres' | 'mysql'): Promise<PairResult> {
  const id = engine === 'postgres' ? '8' : '8m';
  const limit = 2 * LARGE_VALUE_MB + 150;
  const result: PairResult = {
    id,
    title: `peak RSS of restore --org with one ${LARGE_VALUE_MB} MiB value, ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`,
    target: `≤ ${limit} MiB (2 × value + 150)`,
    status: 'pending',
  };
  const setup = engine === 'postgres' ? ctx.pg : ctx.my;
  if (!setup) return { ...result, note: 'needs its server' };
  if (engine === 'mysql') await allowLargePackets(setup.server);
  const runs = await measureLargeValue(setup.server, { mb: LARGE_VALUE_MB, kind: 'text' });
  const [small, big] = runs;
  result.rss_mib = { restore_small: mib(small!.restore.max_rss_kib), restore_large: mib(big!.restore.max_rss_kib), backup_large: mib(big!.backup.max_rss_kib) };
  result.exact = big!.exact;
  result.status = big!.exact && big!.restore.max_rss_kib / 1024 <= limit ? 'met' : 'not met';
  return result;
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

/**
 * The reference of pairs 9 and 9r: one psql session, one REPEATABLE READ snapshot, the plan's
 * per-table `\copy (SELECT …) TO '<file>'` (backup); one transaction with the plan's DELETEs and
 * `\copy <table> FROM '<file>'` (restore).
 */
async function wideReference(ctx: Context): Promise<{ backup: string; restore: string }> {
  const plans = ctx.wide!.plans;
  const dir = path.join(ctx.work, 'ref-wide');
  await mkdir(dir, { recursive: true });
  const file = (i: number) => path.join(dir, `${i}.tsv`);
  const copyOut = plans.map((p, i) => {
    const order = p.primaryKey.length > 0 ? ` ORDER BY ${p.primaryKey.map((c) => `t.${q(c)}`).join(', ')}` : '';
    return `\\copy (SELECT ${p.columns.map((c) => `t.${q(c.name)}`).join(', ')} FROM ONLY ${q(p.table)} t WHERE ${p.where}${order}) TO ${shellQuote(file(i))}`;
  });
  const backup = ['\\set ON_ERROR_STOP on', 'SET search_path = wide;', 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;', ...copyOut, 'COMMIT;'];
  const restore = [
    '\\set ON_ERROR_STOP on',
    'SET search_path = wide;',
    'BEGIN;',
    ...[...plans].reverse().map((p) => `DELETE FROM ONLY ${q(p.table)} t WHERE ${p.where};`),
    ...plans.map((p, i) => `\\copy ${q(p.table)} (${p.columns.map((c) => q(c.name)).join(', ')}) FROM ${shellQuote(file(i))}`),
    'COMMIT;',
  ];
  const scripts = { backup: path.join(ctx.work, 'ref-wide-backup.sql'), restore: path.join(ctx.work, 'ref-wide-restore.sql') };
  await writeFile(scripts.backup, `${backup.join('\n')}\n`);
  await writeFile(scripts.restore, `${restore.join('\n')}\n`);
  return scripts;
}

/** Runs `fn` with psql pointed at the wide schema's database. */
async function inWideDatabase(ctx: Context, fn: () => Promise<void>): Promise<void> {
  const saved = ctx.env;
  ctx.env = { ...ctx.env, PGDATABASE: 'wide' };
  try {
    await fn();
  } finally {
    ctx.env = saved;
  }
}

/** Pair 9: `backup --org` of a small organization in a 130-table schema. */
export async function pair9(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '9', title: `backup --org, ~3k rows in a ${WIDE_TABLES}-table schema (PostgreSQL)`, target: '≤ 1.5', status: 'info' };
  const scripts = await wideReference(ctx);
  await inWideDatabase(ctx, () =>
    alternate(
      ctx,
      result,
      { name: 'p9-ours', command: ours(['backup', '--org', MEASURED_ORG, '--json'], ctx.wide!.configFile) },
      { name: 'p9-ref', command: ['psql', '-X', '-q', '-f', scripts.backup] },
      ctx.wide!.pid,
      {
        afterWarmUp: async (warm) => {
          ctx.archives.wide = (JSON.parse(readFileSync(warm.stdoutFile, 'utf8')) as { record: { backup_path: string } }).record.backup_path;
        },
      },
    ),
  );
  judge(result, 1.5);
  return result;
}

/** Pair 9r: `restore --org --yes` of that organization (needs pair 9's archive and files). */
export async function pair9r(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '9r', title: `restore --org --yes, ~3k rows in a ${WIDE_TABLES}-table schema (PostgreSQL)`, target: '≤ 1.5', status: 'info' };
  if (!ctx.archives.wide) return { ...result, status: 'pending', note: 'needs pair 9 in the same run' };
  const scripts = await wideReference(ctx);
  const archive = path.basename(ctx.archives.wide);
  await inWideDatabase(ctx, () =>
    alternate(
      ctx,
      result,
      { name: 'p9r-ours', command: ours(['restore', '--org', MEASURED_ORG, archive, '--yes', '--json'], ctx.wide!.configFile) },
      { name: 'p9r-ref', command: ['psql', '-X', '-q', '-f', scripts.restore] },
      ctx.wide!.pid,
    ),
  );
  judge(result, 1.5);
  return result;
}
