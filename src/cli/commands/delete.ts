/** The `delete (<tenant> | --org <id>) <backup>` command: archive and records, once ownership is proven. */
import type { Command } from 'commander';
import { action, examples, splitTargetAndBackup } from '../command-kit.js';
import { confirmer } from '../interaction.js';
import { printJson, printLine } from '../render.js';

export function registerDelete(program: Command): void {
  program
    .command('delete')
    .description('Delete one backup (archive and ledger record) of a tenant or organization.')
    .argument('[tenant-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`), `latest`, or path to an archive in the store')
    .option('--org <id|code>', 'the organization the backup belongs to')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)', false)
    .addHelpText('after', examples(['tenant-backup delete acme acme_2026-11-21_19-04-00.zip', 'tenant-backup delete --org 42 org_ACME_monday_backup.zip --yes']))
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; yes: boolean }) => {
        const { deleteBackup } = await import('../../core/delete.js');
        const { tenant, backup } = splitTargetAndBackup(first, second, options.org);
        const target = await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await deleteBackup(deps, { target, backup, confirm: confirmer(options.yes, 'delete', await ctx.progress()) });
        if (ctx.output.json) printJson(result);
        else if (result.action === 'cancelled') printLine(`Cancelled; ${result.backup_filename} was kept.`, ctx.output);
        else printLine(`Deleted ${result.backup_filename}${result.file_existed ? '' : ' (file was already gone; record removed)'}.`, ctx.output);
      }),
    );
}
