/** The `auto` command: the once-a-day organization backup for login hooks and cron (and --enable/--disable, --all, --detach). */
import type { Command } from 'commander';
import type { AutoAllItem, AutoAllResult } from '../../core/auto-all.js';
import { TenantBackupError, UsageError } from '../../errors.js';
import { action, examples, parsePositiveInteger, type CommandContext } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { autoAllLine, formatBytes, printJson, printLine, renderAutoAll, type OutputOptions } from '../render.js';
import { printAllRun, warnDeliveryFailure } from '../run-output.js';

export function registerAuto(program: Command): void {
  program
    .command('auto')
    .description("Once-a-day organization backup for login hooks and cron: makes today's backup only if none exists yet.")
    .option('--org <id|code>', 'the organization')
    .option('--all', 'every organization in the organizations table', false)
    .option('--user <id>', 'the user who logged in (recorded in the ledger)')
    .option('--role <role>', "the user's role (compared case-insensitively); super admins and roles not allowed to trigger backups are skipped")
    .option('--owner', 'the user owns the organization (allowed whatever the role)', false)
    .option('--enable', 'enable automatic backups for the organization', false)
    .option('--disable', 'disable automatic backups for the organization', false)
    .option('--detach', 'start the backup in the background and return at once', false)
    .option('--concurrency <n>', 'with --all: organizations backed up at once (default 2)')
    .addHelpText('after', examples(['tenant-backup auto --org 42 --user 7 --role admin', 'tenant-backup auto --org 42 --disable', 'tenant-backup auto --all --concurrency 2']))
    .action(
      action(async (ctx, options: AutoCommandOptions) => {
        if (options.all) return runAll(ctx, options);
        if (options.org === undefined) throw new UsageError('auto needs --org <id|code> (or --all).');
        if (options.enable && options.disable) throw new UsageError('Give --enable or --disable, not both.');
        const target = await ctx.target({ org: options.org });
        if (target.kind !== 'organization') throw new UsageError('auto works on organizations (--org).');
        const organizationId = target.organizationId;
        const deps = await ctx.deps();
        if (options.enable || options.disable) {
          const { setAutoBackupEnabled } = await import('../../core/auto.js');
          const result = await setAutoBackupEnabled(deps, { organizationId, enabled: Boolean(options.enable) });
          if (ctx.output.json) printJson(result);
          else printLine(result.message, ctx.output);
          return;
        }
        const autoOptions = { organizationId, userId: options.user ?? null, role: options.role, owner: options.owner };
        if (options.detach) {
          const { autoBackupDetached } = await import('../../core/auto-detach.js');
          const result = await autoBackupDetached(deps, autoOptions);
          if (result.action === 'skipped') return renderAuto(ctx.output, result);
          if (ctx.output.json) printJson(result);
          else printLine(`Started the backup of organization ${organizationId} in the background (pid ${result.pid}); log: ${result.log_file}`, ctx.output);
          return;
        }
        const { autoBackupNotified } = await import('../../core/notified.js');
        const result = await withInterrupt(ctx.output, (signal) => autoBackupNotified(deps, { ...autoOptions, signal }, { onDeliveryFailure: warnDeliveryFailure }));
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
  concurrency?: string;
}

/** `auto --all` (see run-output.ts for its output). */
async function runAll(ctx: CommandContext, options: AutoCommandOptions): Promise<void> {
  if (options.org !== undefined || options.enable || options.disable || options.detach || options.role !== undefined) {
    throw new UsageError('--all runs every organization as cron would: it takes only --user and --concurrency.');
  }
  const concurrency = options.concurrency === undefined ? undefined : parsePositiveInteger(options.concurrency, '--concurrency');
  const { autoBackupAll } = await import('../../core/auto-all.js');
  const deps = await ctx.deps();
  const result = await printAllRun<AutoAllItem, AutoAllResult>(
    ctx,
    (signal, onResult) =>
      autoBackupAll(deps, {
        ...(concurrency ? { concurrency } : {}),
        userId: options.user ?? null,
        signal,
        onDeliveryFailure: warnDeliveryFailure,
        ...(onResult ? { onResult } : {}),
      }),
    { line: (item) => autoAllLine(item), table: renderAutoAll, summary: ({ summary: s }) => `${s.created} created, ${s.skipped} skipped, ${s.failed} failed` },
  );
  const { failed } = result.summary;
  if (failed > 0) {
    throw new TenantBackupError('OPERATION_FAILED', `${failed} of ${result.results.length} organizations failed (see above; each failure is in the ledger).`);
  }
}

function renderAuto(output: OutputOptions, result: { action: 'created' | 'skipped'; organization_id: string } & Record<string, unknown>): void {
  if (output.json) return printJson(result);
  if (result.action === 'skipped') printLine(`Skipped organization ${result.organization_id}: ${String(result.message)}`, output);
  else {
    const record = result.record as { backup_path: string; backup_size: number };
    printLine(`Created today's backup of organization ${result.organization_id}: ${record.backup_path} (${formatBytes(record.backup_size)}).`, output);
  }
}
