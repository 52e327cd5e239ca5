/** The `auto` command: the once-a-day organization backup for login hooks and cron (and --enable/--disable, --all, --detach). */
import type { Command } from 'commander';
import { TenantBackupError, UsageError } from '../../errors.js';
import { action, examples, parsePositiveInteger } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { formatBytes, printJson, printLine, renderAutoAll, type OutputOptions } from '../render.js';

export function registerAuto(program: Command): void {
  program
    .command('auto')
    .description('Once-a-day organization backup for login hooks and cron: makes today\'s backup only if none exists yet.')
    .option('--org <id>', 'the organization')
    .option('--all', 'every organization in the organizations table', false)
    .option('--user <id>', 'the user who logged in (recorded in the ledger)')
    .option('--role <role>', 'the user\'s role; super admins and roles not allowed to trigger backups are skipped')
    .option('--owner', 'the user owns the organization (allowed whatever the role)', false)
    .option('--enable', 'enable automatic backups for the organization', false)
    .option('--disable', 'disable automatic backups for the organization', false)
    .option('--detach', 'start the backup in the background and return at once', false)
    .option('--concurrency <n>', 'with --all: organizations backed up at once', '1')
    .addHelpText('after', examples(['tenant-backup auto --org 42 --user 7 --role admin', 'tenant-backup auto --org 42 --disable', 'tenant-backup auto --all --concurrency 2']))
    .action(
      action(async (ctx, options: AutoCommandOptions) => {
        const deps = await ctx.deps();
        const { targetFrom } = await import('../../core/targets.js');
        if (options.all) {
          if (options.org !== undefined || options.enable || options.disable || options.detach || options.role !== undefined) {
            throw new UsageError('--all runs every organization as cron would: it takes only --user and --concurrency.');
          }
          const concurrency = parsePositiveInteger(options.concurrency, '--concurrency');
          const { autoBackupAll } = await import('../../core/auto-all.js');
          const result = await withInterrupt((signal) => autoBackupAll(deps, { concurrency, userId: options.user ?? null, signal }));
          if (ctx.output.json) printJson(result);
          else printLine(await renderAutoAll(result), ctx.output);
          if (result.summary.failed > 0) {
            throw new TenantBackupError('OPERATION_FAILED', `${result.summary.failed} of ${result.results.length} organizations failed (see above; each failure is in the ledger).`);
          }
          return;
        }
        if (options.org === undefined) throw new UsageError('auto needs --org <id> (or --all).');
        const target = targetFrom({ org: options.org });
        if (target.kind !== 'organization') throw new UsageError('auto works on organizations (--org).');
        const organizationId = target.organizationId;
        if (options.enable && options.disable) throw new UsageError('Give --enable or --disable, not both.');
        if (options.enable || options.disable) {
          const { setAutoBackupEnabled } = await import('../../core/auto.js');
          const result = await setAutoBackupEnabled(deps, organizationId, Boolean(options.enable));
          if (ctx.output.json) printJson(result);
          else printLine(`Automatic backups ${result.action} for organization ${organizationId}${result.changed ? '' : ' (no change)'}.`, ctx.output);
          return;
        }
        const autoOptions = { organizationId, userId: options.user ?? null, role: options.role, owner: options.owner };
        const { autoBackup, autoSkipReason } = await import('../../core/auto.js');
        if (options.detach) {
          const skipped = await autoSkipReason(deps, autoOptions);
          if (skipped) return renderAuto(ctx.output, skipped);
          const { startDetachedAuto } = await import('../../core/auto-detach.js');
          const started = await startDetachedAuto(deps, autoOptions);
          if (ctx.output.json) printJson(started);
          else printLine(`Started the backup of organization ${organizationId} in the background (pid ${started.pid}); log: ${started.log_file}`, ctx.output);
          return;
        }
        const result = await withInterrupt((signal) => autoBackup(deps, { ...autoOptions, signal }));
        renderAuto(ctx.output, result);
      }),
    );
}

interface AutoCommandOptions {
  org?: string;
  all: boolean;
  user?: string;
  role?: string;
  owner: boolean;
  enable: boolean;
  disable: boolean;
  detach: boolean;
  concurrency: string;
}

function renderAuto(output: OutputOptions, result: { action: 'created' | 'skipped'; organization_id: string } & Record<string, unknown>): void {
  if (output.json) return printJson(result);
  if (result.action === 'skipped') printLine(`Skipped organization ${result.organization_id}: ${String(result.message)}`, output);
  else {
    const record = result.record as { backup_path: string; backup_size: number };
    printLine(`Created today's backup of organization ${result.organization_id}: ${record.backup_path} (${formatBytes(record.backup_size)}).`, output);
  }
}
