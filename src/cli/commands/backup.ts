/** The `backup [<tenant> | --org <id|code>]` command: one tenant database, or one organization of the shared database. */
import { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples, parsePositiveInteger, plural } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { formatBytes, printJson, printLine, printWarning } from '../render.js';

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('Back up one tenant database, or one organization of the shared database (--org).')
    .argument('[tenant]', 'tenant name (a key under "tenants" in the configuration)')
    .option('--org <id|code>', 'back up this organization of the shared database (its id, or its code)')
    .option('--user <id>', 'who triggered the backup (recorded in the ledger)')
    .addOption(new Option('--rotate <scheme>', 'tenant backups: name by weekday and replace last week\'s').choices(['weekday']))
    .option('--keep-last <n>', 'tenant backups: keep only the newest <n> timestamped backups')
    .addHelpText('after', examples(['tenant-backup backup acme', 'tenant-backup backup --org 42 --user 7', 'tenant-backup backup --org 42 --json']))
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string; user?: string; rotate?: 'weekday'; keepLast?: string }) => {
        const target = await ctx.target({ tenant, org: options.org });
        if (target.kind === 'database') {
          const keepLast = options.keepLast === undefined ? undefined : parsePositiveInteger(options.keepLast, '--keep-last');
          const { backupTenant } = await import('../../core/backup-tenant.js');
          const deps = await ctx.deps();
          const result = await withInterrupt(ctx.output, (signal) =>
            backupTenant(deps, { tenant: target.tenant, userId: options.user ?? null, rotate: options.rotate, keepLast, signal }),
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
        const { backupOrganization } = await import('../../core/backup-organization.js');
        const deps = await ctx.deps();
        const result = await withInterrupt(ctx.output, (signal) =>
          backupOrganization(deps, { organizationId: target.organizationId, userId: options.user ?? null, backupType: 'manual', signal }),
        );
        if (ctx.output.json) printJson(result);
        else {
          const rows = result.tables.reduce((sum, t) => sum + t.rows, 0);
          printLine(
            `Backed up organization ${result.organization.id}${result.organization.name ? ` (${result.organization.name})` : ''}: ${plural(rows, 'row')} in ${plural(result.tables.length, 'table')} → ${result.record.backup_path} (${formatBytes(result.record.backup_size)}).`,
            ctx.output,
          );
          if (result.replaced && result.replaced.id !== result.record.id) {
            printLine(`This replaced ${result.replaced.backup_filename} made at ${result.replaced.created_at.slice(0, 19).replace('T', ' ')} UTC (${result.replaced.backup_date === result.record.backup_date ? 'earlier today' : `on ${result.replaced.backup_date}`}).`, ctx.output);
          }
        }
      }),
    );
}
