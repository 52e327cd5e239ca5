/**
 * The MariaDB pairs on the billing database: the tenant database backup (4m), organization backup
 * (5) and restore (6). References and their exact commands: bench/PERFORMANCE.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mysqldumpArgs } from '../src/engines/mysql/dump.js';
import type { TablePlan } from '../src/engines/types.js';
import { alternate, judge, ours, type Context, type PairResult } from './context.js';
import { MEASURED_ORG } from './dataset.js';
import { shellQuote } from './measure.js';

function mysqlConnectionArgs(ctx: Context): string[] {
  const s = ctx.my!.server;
  return [`--host=${s.host}`, `--port=${s.port}`, `--user=${s.user}`];
}

/** mysqldump's SELECT has no alias: qualify the planner's `t.` references with the table name. */
function qualifiedWhere(plan: TablePlan): string {
  const table = '`' + plan.table.replaceAll('`', '``') + '`';
  return plan.where.replace(/\bt\.`/g, `${table}.\``);
}

/** The dump tool the tenant engine runs (it prefers mariadb-dump). */
function dumpTool(): string {
  return ['/usr/bin/mariadb-dump', '/usr/local/bin/mariadb-dump'].find((file) => existsSync(file)) ?? 'mysqldump';
}

/** Pair 4m: tenant database backup vs <the tool's own mariadb-dump arguments> | gzip -1. */
export async function pair4m(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '4m', title: 'backup <tenant> on MariaDB (the whole bench database)', target: '≤ 1.10', status: 'pending' };
  // The same option file the tool writes, minus the password (MYSQL_PWD gives it to the reference).
  const s = ctx.my!.server;
  const optionFile = path.join(ctx.work, 'ref-mariadb.cnf');
  await writeFile(optionFile, `[client]\nhost="${s.host}"\nport=${s.port}\nuser="${s.user}"\n`, { mode: 0o600 });
  const file = path.join(ctx.work, 'ref-tenant-mariadb.sql.gz');
  const args = mysqldumpArgs(optionFile, 'bench');
  const reference = ['bash', '-c', `set -o pipefail; ${dumpTool()} ${args.map(shellQuote).join(' ')} | gzip -1 > ${shellQuote(file)}`];
  await alternate(ctx, result, { name: 'p4m-ours', command: ours(['backup', 'bench', '--json'], ctx.my!.configFile) }, { name: 'p4m-ref', command: reference }, ctx.my!.pid);
  judge(result, 1.1);
  result.dump_args = args.slice(1);
  return result;
}

/** Pair 5: organization backup vs mysqldump --single-transaction --where … | gzip -1. */
export async function pair5(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '5', title: 'backup --org on MariaDB', target: '≤ 1.0', status: 'info' };
  const plans = ctx.my!.plans;
  const file = path.join(ctx.work, 'ref-mysql-dump.sql.gz');
  const base = ['mysqldump', ...mysqlConnectionArgs(ctx), '--single-transaction', '--no-create-info'];
  // One mysqldump for the tables with the tenant column (one condition for all), one per other table.
  const groups: Array<{ where: string; tables: string[] }> = [];
  const tagged = plans.filter((p) => p.selection.kind === 'tenant-column');
  for (const plan of plans) {
    if (plan.selection.kind === 'tenant-column') {
      if (plan === tagged[0]) groups.push({ where: `organization_id = ${MEASURED_ORG}`, tables: tagged.map((p) => p.table) });
    } else groups.push({ where: qualifiedWhere(plan), tables: [plan.table] });
  }
  const commands = groups.map((g) => [...base, `--where=${g.where}`, 'bench', ...g.tables].map(shellQuote).join(' '));
  const script = path.join(ctx.work, 'ref-mysql-backup.sh');
  await writeFile(script, `set -euo pipefail\n{\n${commands.map((c) => `  ${c}`).join('\n')}\n} | gzip -1 > ${shellQuote(file)}\n`);
  await alternate(
    ctx,
    result,
    { name: 'p5-ours', command: ours(['backup', '--org', MEASURED_ORG, '--json'], ctx.my!.configFile) },
    { name: 'p5-ref', command: ['bash', script] },
    ctx.my!.pid,
    {
      afterWarmUp: async (warm) => {
        ctx.archives.mysql = (JSON.parse(readFileSync(warm.stdoutFile, 'utf8')) as { record: { backup_path: string } }).record.backup_path;
      },
    },
  );
  ctx.mysqlDumpFile = file;
  judge(result, 1.0);
  result.bytes = { ours: (await stat(ctx.archives.mysql!)).size, reference: (await stat(file)).size };
  return result;
}

/** Pair 6: organization restore vs deleting the rows, then `mysql < pair 5's dump`. */
export async function pair6(ctx: Context): Promise<PairResult> {
  const result: PairResult = { id: '6', title: 'restore --org --yes on MariaDB', target: '≤ 1.5', status: 'info' };
  if (!ctx.mysqlDumpFile || !ctx.archives.mysql) {
    result.note = 'needs pair 5 in the same run (its archive and its dump)';
    result.status = 'pending';
    return result;
  }
  const plans = ctx.my!.plans;
  const deletes = [...plans]
    .reverse()
    .map((p) => `DELETE t FROM \`${p.table.replaceAll('`', '``')}\` t WHERE ${p.where};`)
    .join(' ');
  const connection = mysqlConnectionArgs(ctx).map(shellQuote).join(' ');
  const script = path.join(ctx.work, 'ref-mysql-restore.sh');
  await writeFile(script, `set -euo pipefail\nmysql ${connection} bench -e ${shellQuote(deletes)}\ngzip -dc ${shellQuote(ctx.mysqlDumpFile)} | mysql ${connection} bench\n`);
  await alternate(
    ctx,
    result,
    { name: 'p6-ours', command: ours(['restore', '--org', MEASURED_ORG, path.basename(ctx.archives.mysql), '--yes', '--json'], ctx.my!.configFile) },
    { name: 'p6-ref', command: ['bash', script] },
    ctx.my!.pid,
  );
  judge(result, 1.5);
  return result;
}
