/** The `prune [<tenant>]` command: retention of timestamped tenant backups. */
import type { Command } from 'commander';
import { action, examples, parsePositiveInteger } from '../command-kit.js';
import { printJson, printLine, printNote } from '../render.js';

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description('Apply the retention policy to timestamped tenant backups (config "retention", or --keep-last), then the ledger\'s history policy (config "ledger.keep").')
    .argument('[tenant]', 'only this tenant (default: every configured tenant)')
    .option('--keep-last <n>', 'keep the newest <n> timestamped backups (overrides retention.keepLast)')
    .option('--dry-run', 'show what would be removed, remove nothing', false)
    .addHelpText('after', examples(['tenant-backup prune --dry-run', 'tenant-backup prune acme --keep-last 7']))
    .action(
      action(async (ctx, tenant: string | undefined, options: { keepLast?: string; dryRun: boolean }) => {
        const keepLast = options.keepLast === undefined ? undefined : parsePositiveInteger(options.keepLast, '--keep-last');
        if (tenant !== undefined) {
          const { targetFrom } = await import('../../core/targets.js');
          targetFrom({ tenant });
        }
        const { pruneTenantBackups } = await import('../../core/prune.js');
        const deps = await ctx.deps();
        const result = await pruneTenantBackups(deps, { tenant, keepLast, dryRun: options.dryRun });
        if (ctx.output.json) return printJson(result);
        const verb = result.dry_run ? 'Would remove' : 'Removed';
        for (const record of result.removed) printLine(`${verb} ${record.backup_filename} (tenant ${record.tenant}, ${record.backup_date}).`, ctx.output);
        for (const skipped of result.skipped) printNote(`note: tenant ${skipped.tenant} skipped: ${skipped.reason}`, ctx.output);
        printLine(`${result.removed.length} ${result.dry_run ? 'to remove' : 'removed'}, ${result.kept.length} kept.`, ctx.output);
        const { failures, missing_archives: missing } = result.history;
        if (failures + missing > 0) {
          printLine(
            `Ledger history: ${result.dry_run ? 'would forget' : 'forgot'} ${failures} failed record(s) older than the ledger.keep limit and ${missing} record(s) of archives that no longer exist.`,
            ctx.output,
          );
        }
      }),
    );
}
