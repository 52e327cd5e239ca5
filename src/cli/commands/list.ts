/** The `list [<tenant> | --org <id|code>]` command: the ledger, newest first, with filters. */
import type { Command } from 'commander';
import type { BackupStatus } from '../../ledger/types.js';
import { UsageError } from '../../errors.js';
import { action, examples, parsePositiveInteger } from '../command-kit.js';
import { printJson, printLine, printNote, renderRecordsTable } from '../render.js';
import type { ListResult } from '../../core/list.js';

const STATUSES = ['success', 'failed', 'in_progress'];

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List recorded backups, newest first (grouped by tenant / organization; times in the configured time zone).')
    .argument('[tenant]', 'only this tenant')
    .option('--org <id|code>', 'only this organization')
    .option('--status <status>', `only records with this status (${STATUSES.join(', ')})`)
    .option('--since <when>', 'only records made since: a duration (30m, 12h, 7d, 2w), a date (2026-11-20) or an ISO time')
    .option('--limit <n>', 'at most <n> records (the newest)')
    .option('--check-storage', 'reconcile with the store (local folder or bucket): mark records whose archive is missing or has another size', false)
    .addHelpText(
      'after',
      examples([
        'tenant-backup list',
        'tenant-backup list acme --since 7d',
        'tenant-backup list --status failed --limit 10',
        'tenant-backup list --check-storage',
        "tenant-backup list --org 42 --json | jq -r '.[] | \"\\(.created_at | fromdate) \\(.backup_filename)\"'",
      ]),
    )
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string; status?: string; since?: string; limit?: string; checkStorage: boolean }) => {
        const { listBackups } = await import('../../core/list.js');
        if (options.status !== undefined && !STATUSES.includes(options.status)) {
          throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, not "${options.status}".`);
        }
        const limit = options.limit === undefined ? undefined : parsePositiveInteger(options.limit, '--limit');
        const target = tenant === undefined && options.org === undefined ? undefined : await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await listBackups(deps, { target, status: options.status as BackupStatus | undefined, since: options.since, limit, checkStorage: options.checkStorage });
        for (const record of result.recovered) {
          printNote(`note: backup ${record.backup_filename} (record ${record.id}) was interrupted; marked failed.`, ctx.output);
        }
        if (ctx.output.json) printJson(result.records);
        else printLine(renderRecordsTable(result.records, deps.config.timezone), ctx.output);
        if (options.checkStorage && !ctx.output.json) printLine(renderStorageCheck(result), ctx.output);
      }),
    );
}

/** Below the table: what the store has that the ledger does not say, or lacks. */
function renderStorageCheck(result: ListResult): string {
  const checked = result.records.filter((record) => record.storage_check && record.storage_check.state !== 'not_checked');
  const problems = checked.filter((record) => record.storage_check!.state !== 'ok');
  const lines = [`Storage check: ${checked.length - problems.length} of ${checked.length} successful backups present with their recorded size.`];
  for (const record of problems) {
    const check = record.storage_check!;
    lines.push(check.state === 'missing' ? `  MISSING       ${record.backup_filename}` : `  SIZE DIFFERS  ${record.backup_filename}: ${check.stored_bytes} bytes stored, ${record.backup_size} recorded`);
  }
  for (const file of result.untracked ?? []) lines.push(`  NO RECORD     ${file.name} (${file.path})`);
  return lines.join('\n');
}
