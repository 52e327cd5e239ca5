/** The `restore (<tenant> | --org <id>) <backup>` command: verified first, then one transaction (or a safety backup). */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples, splitTargetAndBackup } from '../command-kit.js';
import { confirmer, withInterrupt } from '../interaction.js';
import { printJson, printLine, renderRestoreChanges } from '../render.js';

interface RestoreFlags {
  org?: string;
  file?: string;
  yes: boolean;
  dryRun: boolean;
  safetyBackup: boolean;
  allowRemovingNewTables: boolean;
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('Restore a backup: `restore <tenant> <backup>` or `restore --org <id> <backup>`.')
    .argument('[target-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`), `latest` (the newest successful one), or path to an archive in the store')
    .option('--org <id|code>', 'restore this organization (its id, or its code)')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .option('--dry-run', 'run the whole restore and every check, then roll it back: show what would change (or why it would be refused), change nothing', false)
    .option('--file <path>', "organization restores: an archive outside the store (verified and checked to be this organization's like any other)")
    .option('--allow-removing-new-tables', "organization restores: accept removing the organization's rows of tables the archive does not hold (created after the backup)", false)
    .option('--no-safety-backup', 'tenant restores: skip the safety backup of the current database')
    .addHelpText(
      'after',
      examples([
        'tenant-backup restore acme acme_2026-11-21_19-04-00.zip --yes',
        'tenant-backup restore acme latest --dry-run',
        'tenant-backup restore --org acme org_acme_monday_backup.zip --dry-run',
        'tenant-backup restore --org acme --file ./copy.zip --dry-run',
      ]),
    )
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: RestoreFlags) => {
        if (options.file !== undefined && options.org === undefined) throw new UsageError('--file applies to organization restores: `restore --org <id|code> --file <path>`.');
        if (options.file !== undefined && (first !== undefined || second !== undefined)) throw new UsageError('Give the archive once: either `<backup>` or `--file <path>`.');
        const { tenant, backup } = options.file !== undefined ? { tenant: undefined, backup: undefined } : splitTargetAndBackup(first, second, options.org);
        const target = await ctx.target({ tenant, org: options.org });
        if (target.kind === 'database') {
          const { restoreTenant } = await import('../../core/restore-tenant.js');
          const deps = await ctx.deps();
          const progress = await ctx.progress();
          const result = await withInterrupt(ctx.output, (signal) =>
            restoreTenant(deps, {
              tenant: target.tenant,
              backup: backup!,
              dryRun: options.dryRun,
              safetyBackup: options.safetyBackup,
              confirm: confirmer(options.yes, 'restore', progress),
              signal,
            }),
          );
          if (ctx.output.json) return printJson(result);
          if (result.action === 'cancelled') return printLine('Cancelled; nothing was changed.', ctx.output);
          if (result.action === 'dry-run') {
            return printLine(
              [`Dry run: ${result.backup_filename} (made ${result.created_at}) verified; nothing was changed. A restore would:`, ...result.steps.map((step) => `  - ${step}`)].join(
                '\n',
              ),
              ctx.output,
            );
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
            file: options.file,
            dryRun: options.dryRun,
            allowRemovingNewTables: options.allowRemovingNewTables,
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
