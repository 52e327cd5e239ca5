/**
 * Commander wiring. Each command parses its flags, calls one core use case (lazy-imported, so
 * `--help` and `list` never load database drivers) and renders the result. Nothing here touches
 * the file system, child processes or knex.
 */
import { Command, Option } from 'commander';
import type { Deps } from '../core/context.js';
import { TenantBackupError, UsageError } from '../errors.js';
import { EXIT_CODE_HELP } from './exit-codes.js';
import { confirmer, createProgress, withInterrupt } from './interaction.js';
import { formatBytes, printJson, printLine, printNote, printWarning, renderRecordsTable, renderAutoAll, renderRestoreChanges, renderStatus, type OutputOptions } from './render.js';
import { TOOL_VERSION } from '../version.js';

interface GlobalOptions {
  config?: string;
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

interface CommandContext {
  output: OutputOptions;
  deps(): Promise<Deps>;
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n\n${EXIT_CODE_HELP}\n`;
}

async function contextOf(command: Command): Promise<CommandContext> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const output: OutputOptions = { json: Boolean(globals.json), quiet: Boolean(globals.quiet) };
  return {
    output,
    async deps() {
      const { createDeps } = await import('../core/context.js');
      const progress = await createProgress(output);
      return createDeps({ configPath: globals.config, progress });
    },
  };
}

/** Wraps an action so every command gets its context and always stops its spinner. */
function action<A extends unknown[]>(handler: (ctx: CommandContext, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const ctx = await contextOf(command);
    await handler(ctx, ...(args.slice(0, -1) as A));
  };
}

export function buildProgram(options: { json?: boolean } = {}): Command {
  const program = new Command('tenant-backup');
  // Under --json, usage errors are reported once, as a JSON object, by main.ts: commander's own
  // text must not precede it. Set before the subcommands are added: they copy it.
  if (options.json) program.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  program
    .description('Back up and restore the tenants of multi-tenant applications (database per tenant, or organizations in a shared database).')
    .version(TOOL_VERSION, '-V, --version', 'print the version')
    .option('-c, --config <path>', 'configuration file (default: $TENANT_BACKUP_CONFIG, else .backuprc in this folder or a parent)')
    .option('--json', 'print results as JSON on stdout (errors as JSON on stderr)', false)
    .option('-q, --quiet', 'print nothing but errors (and --json results)', false)
    .option('--debug', 'show stack traces of unexpected errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', examples(['tenant-backup backup acme', 'tenant-backup backup --org 42', 'tenant-backup list --org 42 --json']))
    .exitOverride();

  program
    .command('backup')
    .description('Back up one tenant database, or one organization of the shared database (--org).')
    .argument('[tenant]', 'tenant name (a key under "tenants" in the configuration)')
    .option('--org <id>', 'back up organization <id> from the shared database')
    .option('--user <id>', 'who triggered the backup (recorded in the ledger)')
    .addOption(new Option('--rotate <scheme>', 'tenant backups: name by weekday and replace last week\'s').choices(['weekday']))
    .option('--keep-last <n>', 'tenant backups: keep only the newest <n> timestamped backups')
    .addHelpText('after', examples(['tenant-backup backup acme', 'tenant-backup backup --org 42 --user 7', 'tenant-backup backup --org 42 --json']))
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string; user?: string; rotate?: 'weekday'; keepLast?: string }) => {
        const { targetFrom } = await import('../core/targets.js');
        const target = targetFrom({ tenant, org: options.org });
        if (target.kind === 'database') {
          const keepLast = options.keepLast === undefined ? undefined : parsePositiveInteger(options.keepLast, '--keep-last');
          const { backupTenant } = await import('../core/backup-tenant.js');
          const deps = await ctx.deps();
          const result = await withInterrupt((signal) =>
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
        const { backupOrganization } = await import('../core/backup-organization.js');
        const deps = await ctx.deps();
        const result = await withInterrupt((signal) =>
          backupOrganization(deps, { organizationId: target.organizationId, userId: options.user ?? null, backupType: 'manual', signal }),
        );
        if (ctx.output.json) printJson(result);
        else {
          const rows = result.tables.reduce((sum, t) => sum + t.rows, 0);
          printLine(
            `Backed up organization ${result.organization.id}${result.organization.name ? ` (${result.organization.name})` : ''}: ${plural(rows, 'row')} in ${plural(result.tables.length, 'table')} → ${result.record.backup_path} (${formatBytes(result.record.backup_size)}).`,
            ctx.output,
          );
        }
      }),
    );

  program
    .command('restore')
    .description('Restore a backup: `restore <tenant> <backup>` or `restore --org <id> <backup>`.')
    .argument('[target-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`) or path to an archive in the store')
    .option('--org <id>', 'restore organization <id>')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .option('--dry-run', 'verify the archive and show what would change, change nothing', false)
    .option('--no-safety-backup', 'tenant restores: skip the safety backup of the current database')
    .addHelpText('after', examples(['tenant-backup restore acme acme_2026-11-21_19-04-00.zip --yes', 'tenant-backup restore --org 42 org_ACME_monday_backup.zip --dry-run']))
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; yes: boolean; dryRun: boolean; safetyBackup: boolean }) => {
        const { targetFrom } = await import('../core/targets.js');
        const { tenant, backup } = splitTargetAndBackup(first, second, options.org);
        const target = targetFrom({ tenant, org: options.org });
        if (target.kind === 'database') {
          const { restoreTenant } = await import('../core/restore-tenant.js');
          const deps = await ctx.deps();
          const result = await withInterrupt((signal) =>
            restoreTenant(deps, {
              tenant: target.tenant,
              backup,
              dryRun: options.dryRun,
              safetyBackup: options.safetyBackup,
              confirm: confirmer(options.yes, 'restore'),
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
        const { restoreOrganization } = await import('../core/restore-organization.js');
        const deps = await ctx.deps();
        const result = await restoreOrganization(deps, {
          organizationId: target.organizationId,
          backup,
          dryRun: options.dryRun,
          confirm: confirmer(options.yes, 'restore'),
        });
        if (ctx.output.json) printJson(result);
        else if (result.action === 'cancelled') printLine(`Cancelled; nothing was changed.`, ctx.output);
        else printLine(await renderRestoreChanges(result), ctx.output);
      }),
    );

  program
    .command('list')
    .description('List recorded backups, newest first (times in the configured time zone).')
    .argument('[tenant]', 'only this tenant')
    .option('--org <id>', 'only this organization')
    .addHelpText('after', examples(['tenant-backup list', 'tenant-backup list acme', "tenant-backup list --org 42 --json | jq '.[0].backup_path'"]))
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string }) => {
        const [{ listBackups }, { targetFrom }] = await Promise.all([import('../core/list.js'), import('../core/targets.js')]);
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

  program
    .command('delete')
    .description('Delete one backup (archive and ledger record) of a tenant or organization.')
    .argument('[tenant-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`) or path to an archive in the store')
    .option('--org <id>', 'the organization the backup belongs to')
    .option('-y, --yes', 'do not ask for confirmation (required when not on a terminal)', false)
    .addHelpText('after', examples(['tenant-backup delete acme acme_2026-11-21_19-04-00.zip', 'tenant-backup delete --org 42 org_ACME_monday_backup.zip --yes']))
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; yes: boolean }) => {
        const [{ deleteBackup }, { targetFrom }] = await Promise.all([import('../core/delete.js'), import('../core/targets.js')]);
        const { tenant, backup } = splitTargetAndBackup(first, second, options.org);
        const target = targetFrom({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await deleteBackup(deps, { target, backup, confirm: confirmer(options.yes, 'delete') });
        if (ctx.output.json) printJson(result);
        else if (result.action === 'cancelled') printLine(`Cancelled; ${result.backup_filename} was kept.`, ctx.output);
        else printLine(`Deleted ${result.backup_filename}${result.file_existed ? '' : ' (file was already gone; record removed)'}.`, ctx.output);
      }),
    );

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
        const { targetFrom } = await import('../core/targets.js');
        if (options.all) {
          if (options.org !== undefined || options.enable || options.disable || options.detach || options.role !== undefined) {
            throw new UsageError('--all runs every organization as cron would: it takes only --user and --concurrency.');
          }
          const concurrency = parsePositiveInteger(options.concurrency, '--concurrency');
          const { autoBackupAll } = await import('../core/auto-all.js');
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
          const { setAutoBackupEnabled } = await import('../core/auto.js');
          const result = await setAutoBackupEnabled(deps, organizationId, Boolean(options.enable));
          if (ctx.output.json) printJson(result);
          else printLine(`Automatic backups ${result.action} for organization ${organizationId}${result.changed ? '' : ' (no change)'}.`, ctx.output);
          return;
        }
        const autoOptions = { organizationId, userId: options.user ?? null, role: options.role, owner: options.owner };
        const { autoBackup, autoSkipReason } = await import('../core/auto.js');
        if (options.detach) {
          const skipped = await autoSkipReason(deps, autoOptions);
          if (skipped) return renderAuto(ctx.output, skipped);
          const { startDetachedAuto } = await import('../core/auto-detach.js');
          const started = await startDetachedAuto(deps, autoOptions);
          if (ctx.output.json) printJson(started);
          else printLine(`Started the backup of organization ${organizationId} in the background (pid ${started.pid}); log: ${started.log_file}`, ctx.output);
          return;
        }
        const result = await withInterrupt((signal) => autoBackup(deps, { ...autoOptions, signal }));
        renderAuto(ctx.output, result);
      }),
    );

  program
    .command('status')
    .description('The weekly backup grid of an organization, or a freshness check for monitoring (--check).')
    .option('--org <id>', 'the organization')
    .option('--check', 'exit 0 only if the newest successful backup is younger than --max-age-hours', false)
    .option('--max-age-hours <hours>', 'limit for --check', '26')
    .addHelpText('after', examples(['tenant-backup status --org 42', 'tenant-backup status --org 42 --json', 'tenant-backup status --org 42 --check --max-age-hours 26']))
    .action(
      action(async (ctx, options: { org?: string; check: boolean; maxAgeHours: string }) => {
        if (options.org === undefined) throw new UsageError('status needs --org <id>.');
        const { targetFrom } = await import('../core/targets.js');
        const target = targetFrom({ org: options.org });
        if (target.kind !== 'organization') throw new UsageError('status works on organizations (--org).');
        const deps = await ctx.deps();
        if (options.check) {
          const hours = Number(options.maxAgeHours);
          if (!Number.isFinite(hours) || hours <= 0) throw new UsageError(`--max-age-hours must be a positive number, not "${options.maxAgeHours}".`);
          const { checkOrganizationFreshness } = await import('../core/status.js');
          const result = await checkOrganizationFreshness(deps, target.organizationId, hours);
          if (ctx.output.json) printJson(result);
          else printLine(`OK: newest successful backup of organization ${target.organizationId} is ${result.age_hours} hours old (limit ${hours}).`, ctx.output);
          return;
        }
        const { organizationStatus } = await import('../core/status.js');
        const status = await organizationStatus(deps, target.organizationId);
        if (ctx.output.json) printJson(status);
        else printLine(await renderStatus(status), ctx.output);
      }),
    );

  program
    .command('prune')
    .description('Apply the retention policy to timestamped tenant backups (config "retention", or --keep-last).')
    .argument('[tenant]', 'only this tenant (default: every configured tenant)')
    .option('--keep-last <n>', 'keep the newest <n> timestamped backups (overrides retention.keepLast)')
    .option('--dry-run', 'show what would be removed, remove nothing', false)
    .addHelpText('after', examples(['tenant-backup prune --dry-run', 'tenant-backup prune acme --keep-last 7']))
    .action(
      action(async (ctx, tenant: string | undefined, options: { keepLast?: string; dryRun: boolean }) => {
        const keepLast = options.keepLast === undefined ? undefined : parsePositiveInteger(options.keepLast, '--keep-last');
        if (tenant !== undefined) {
          const { targetFrom } = await import('../core/targets.js');
          targetFrom({ tenant });
        }
        const { pruneTenantBackups } = await import('../core/prune.js');
        const deps = await ctx.deps();
        const result = await pruneTenantBackups(deps, { tenant, keepLast, dryRun: options.dryRun });
        if (ctx.output.json) return printJson(result);
        const verb = result.dry_run ? 'Would remove' : 'Removed';
        for (const record of result.removed) printLine(`${verb} ${record.backup_filename} (tenant ${record.tenant}, ${record.backup_date}).`, ctx.output);
        for (const skipped of result.skipped) printNote(`note: tenant ${skipped.tenant} skipped: ${skipped.reason}`, ctx.output);
        printLine(`${result.removed.length} ${result.dry_run ? 'to remove' : 'removed'}, ${result.kept.length} kept.`, ctx.output);
      }),
    );

  return program;
}

function plural(count: number, word: string): string {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

function parsePositiveInteger(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`${flag} must be a positive integer, not "${value}".`);
  return number;
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

/** With --org, the single positional is the backup; without, it is `<tenant> <backup>`. */
export function splitTargetAndBackup(first: string | undefined, second: string | undefined, org: string | undefined) {
  if (org !== undefined) {
    if (first === undefined || second !== undefined) throw new UsageError('With --org, give exactly one backup: `--org <id> <backup>`.');
    return { tenant: undefined, backup: first };
  }
  if (first === undefined || second === undefined) throw new UsageError('Give a tenant and a backup: `<tenant> <backup>` (or `--org <id> <backup>`).');
  return { tenant: first, backup: second };
}
