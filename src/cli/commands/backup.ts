/** The `backup [<tenant> | --org <id|code> | --all]` command: one tenant database, one organization of the shared database, or every tenant. */
import { Command, Option } from 'commander';
import type { BackupAllItem, BackupAllResult } from '../../core/backup-all.js';
import { TenantBackupError, UsageError } from '../../errors.js';
import { action, examples, parsePositiveInteger, plural, type CommandContext } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { formatBytes, printJson, printLine, printWarning, printWarnings } from '../render.js';
import { printAllRun, warnDeliveryFailure } from '../run-output.js';

interface BackupCommandOptions {
  org?: string;
  all: boolean;
  concurrency?: string;
  user?: string;
  rotate?: 'weekday';
  keepLast?: string;
  jobs?: string;
}

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('Back up one tenant database, one organization of the shared database (--org), or every tenant database (--all).')
    .argument('[tenant]', 'tenant name (a key under "tenants" in the configuration)')
    .option('--org <id|code>', 'back up this organization of the shared database (its id, or its code)')
    .option('--all', 'every configured tenant database (cron): one line per tenant, then a summary', false)
    .option('--concurrency <n>', 'with --all: tenants backed up at once (default 1)')
    .option('--user <id>', 'who triggered the backup (recorded in the ledger)')
    .addOption(new Option('--rotate <scheme>', "tenant backups: name by weekday and replace last week's").choices(['weekday']))
    .option('--keep-last <n>', 'tenant backups: keep only the newest <n> timestamped backups')
    .option('--jobs <n>', 'organization backups: tables exported at a time (1 to 16, default 2), each on its own connection to the same snapshot')
    .addHelpText(
      'after',
      examples(['tenant-backup backup acme', 'tenant-backup backup --org 42 --user 7', 'tenant-backup backup --all --concurrency 2', 'tenant-backup backup --org 42 --json']),
    )
    .action(
      action(async (ctx, tenant: string | undefined, options: BackupCommandOptions) => {
        const keepLast = options.keepLast === undefined ? undefined : parsePositiveInteger(options.keepLast, '--keep-last');
        if (options.all) return backupAll(ctx, tenant, options, keepLast);
        if (options.concurrency !== undefined) throw new UsageError('--concurrency applies to --all.');
        const jobs = options.jobs === undefined ? undefined : parsePositiveInteger(options.jobs, '--jobs', (await import('../../core/backup-organization.js')).MAX_JOBS);
        const target = await ctx.target({ tenant, org: options.org });
        const hooks = { onDeliveryFailure: warnDeliveryFailure };
        if (target.kind === 'database') {
          if (jobs !== undefined) throw new UsageError('--jobs applies to organization backups (--org).');
          const { backupTenantNotified } = await import('../../core/notified.js');
          const deps = await ctx.deps();
          const result = await withInterrupt(ctx.output, (signal) =>
            backupTenantNotified(deps, { tenant: target.tenant, userId: options.user ?? null, rotate: options.rotate, keepLast, signal }, hooks),
          );
          if (ctx.output.json) return printJson(result);
          printLine(
            `Backed up tenant ${target.tenant} (${result.engine} ${result.server_version}, ${result.dump_tool}): ${formatBytes(result.dump_bytes)} of SQL → ${result.record.backup_path} (${formatBytes(result.record.backup_size)}).`,
            ctx.output,
          );
          for (const record of result.pruned) printLine(`Pruned ${record.backup_filename} (retention).`, ctx.output);
          if (result.prune_error) printWarning(`the backup succeeded, but retention failed: ${result.prune_error}`);
          return;
        }
        if (options.rotate !== undefined || options.keepLast !== undefined) {
          throw new UsageError('--rotate and --keep-last apply to tenant databases; organization archives always rotate by weekday.');
        }
        const { backupOrganizationNotified } = await import('../../core/notified.js');
        const deps = await ctx.deps();
        const result = await withInterrupt(ctx.output, (signal) =>
          backupOrganizationNotified(deps, { organizationId: target.organizationId, userId: options.user ?? null, backupType: 'manual', signal, jobs }, hooks),
        );
        printWarnings(result.warnings, ctx.output);
        if (ctx.output.json) printJson(result);
        else {
          const rows = result.tables.reduce((sum, t) => sum + t.rows, 0);
          printLine(
            `Backed up organization ${result.organization.id}${result.organization.name ? ` (${result.organization.name})` : ''}: ${plural(rows, 'row')} in ${plural(result.tables.length, 'table')} → ${result.record.backup_path} (${formatBytes(result.record.backup_size)}).`,
            ctx.output,
          );
          if (result.replaced && result.replaced.id !== result.record.id) {
            printLine(
              `This replaced ${result.replaced.backup_filename} made at ${result.replaced.created_at.slice(0, 19).replace('T', ' ')} UTC (${result.replaced.backup_date === result.record.backup_date ? 'earlier today' : `on ${result.replaced.backup_date}`}).`,
              ctx.output,
            );
          }
        }
      }),
    );
}

/** `backup --all`: every configured tenant; exit 1 when any failed (each failure is in the ledger). */
async function backupAll(ctx: CommandContext, tenant: string | undefined, options: BackupCommandOptions, keepLast: number | undefined): Promise<void> {
  if (tenant !== undefined || options.org !== undefined) throw new UsageError('--all backs up every configured tenant: give no tenant and no --org.');
  if (options.jobs !== undefined) throw new UsageError('--jobs applies to organization backups (--org).');
  const concurrency = options.concurrency === undefined ? 1 : parsePositiveInteger(options.concurrency, '--concurrency');
  const { backupAllTenants } = await import('../../core/backup-all.js');
  const { backupAllLine, renderBackupAll } = await import('../render-monitor.js');
  const deps = await ctx.deps();
  const result = await printAllRun<BackupAllItem, BackupAllResult>(
    ctx,
    (signal, onResult) =>
      backupAllTenants(deps, {
        concurrency,
        userId: options.user ?? null,
        rotate: options.rotate,
        keepLast,
        signal,
        onDeliveryFailure: warnDeliveryFailure,
        ...(onResult ? { onResult } : {}),
      }),
    { line: (item) => backupAllLine(item), table: renderBackupAll, summary: ({ summary: s }) => `${s.created} created, ${s.failed} failed` },
  );
  for (const item of result.results)
    if (item.action === 'created' && item.prune_error) printWarning(`tenant ${item.tenant}: the backup succeeded, but retention failed: ${item.prune_error}`);
  if (result.summary.failed > 0) {
    throw new TenantBackupError('OPERATION_FAILED', `${result.summary.failed} of ${result.results.length} tenants failed (see above; each failure is in the ledger).`);
  }
}
