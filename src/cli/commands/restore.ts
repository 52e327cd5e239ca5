/** The `restore (<tenant> | --org <id>) <backup>` command: verified first, then one transaction (or a safety backup). */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples, splitTargetAndBackup } from '../command-kit.js';
import { confirmer, withInterrupt } from '../interaction.js';
import { printJson, printLine, renderRestoreChanges } from '../render.js';

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('Restore a backup: `restore <tenant> <backup>` or `restore --org <id> <backup>`.')
    .argument('[target-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`), `latest` (the newest successful one), or path to an archive in the store')
    .option('--org <id|code>', 'restore this organization (its id, or its code)')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .option('--dry-run', 'verify the archive and show what would change, change nothing', false)
    .option('--no-safety-backup', 'tenant restores: skip the safety backup of the current database')
    .addHelpText('after', examples(['tenant-backup restore acme acme_2026-11-21_19-04-00.zip --yes', 'tenant-backup restore acme latest --dry-run', 'tenant-backup restore --org acme org_acme_monday_backup.zip --dry-run']))
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; yes: boolean; dryRun: boolean; safetyBackup: boolean }) => {
        const { tenant, backup } = splitTargetAndBackup(first, second, options.org);
        const target = await ctx.target({ tenant, org: options.org });
        if (target.kind === 'database') {
          const { restoreTenant } = await import('../../core/restore-tenant.js');
          const deps = await ctx.deps();
          const progress = await ctx.progress();
          const result = await withInterrupt(ctx.output, (signal) =>
            restoreTenant(deps, {
              tenant: target.tenant,
              backup,
              dryRun: options.dryRun,
              safetyBackup: options.safetyBackup,
              confirm: confirmer(options.yes, 'restore', progress),
              signal,
            }),
          );
          if (ctx.output.json) return printJson(result);
          if (result.action === 'cancelled') return printLine('Cancelled; nothing was changed.', ctx.output);
          if (result.action === 'dry-run') {
            return printLine([`Dry run: ${result.backup_filename} (made ${result.created_at}) verified; nothing was changed. A restore would:`, ...result.steps.map((step) => `  - ${step}`)].join('\n'), ctx.output);
          }
          printLine(
            `Restored tenant ${result.tenant} from ${result.backup_filename} (made ${result.created_at}).` +
              (result.safety_backup ? ` Safety backup of the previous state: ${result.safety_backup.backup_path}` : ' No safety backup was taken (--no-safety-backup).'),
            ctx.output,
          );
          return;
        }
        if (!options.safetyBackup) throw new UsageError('--no-safety-backup applies to tenant databases; an organization restore is one transaction.');
        const { restoreOrganization } = await import('../../core/restore-organization.js');
        const deps = await ctx.deps();
        const progress = await ctx.progress();
        const result = await withInterrupt(ctx.output, (signal) =>
          restoreOrganization(deps, {
            organizationId: target.organizationId,
            backup,
            dryRun: options.dryRun,
            confirm: confirmer(options.yes, 'restore', progress),
            signal,
          }),
        );
        if (ctx.output.json) printJson(result);
        else if (result.action === 'cancelled') printLine(`Cancelled; nothing was changed.`, ctx.output);
        else printLine(renderRestoreChanges(result), ctx.output);
      }),
    );
}
