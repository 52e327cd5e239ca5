/** The `list [<tenant> | --org <id>]` command: the ledger, newest first. */
import type { Command } from 'commander';
import { action, examples } from '../command-kit.js';
import { printJson, printLine, printNote, renderRecordsTable } from '../render.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List recorded backups, newest first (times in the configured time zone).')
    .argument('[tenant]', 'only this tenant')
    .option('--org <id>', 'only this organization')
    .addHelpText('after', examples(['tenant-backup list', 'tenant-backup list acme', "tenant-backup list --org 42 --json | jq '.[0].backup_path'"]))
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string }) => {
        const [{ listBackups }, { targetFrom }] = await Promise.all([import('../../core/list.js'), import('../../core/targets.js')]);
        const target = tenant === undefined && options.org === undefined ? undefined : targetFrom({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await listBackups(deps, target);
        for (const record of result.recovered) {
          printNote(`note: backup ${record.backup_filename} (record ${record.id}) was interrupted; marked failed.`, ctx.output);
        }
        if (ctx.output.json) printJson(result.records);
        else printLine(await renderRecordsTable(result.records, deps.config.timezone), ctx.output);
      }),
    );
}
