/** The `status [<tenant> | --org <id|code> | --all]` command: the weekly grid, the health of every target, or --check for monitoring. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples, type CommandContext } from '../command-kit.js';
import { EXIT_CODES, ResultExit } from '../exit-codes.js';
import { printJson, printLine, printWarning, renderStatus } from '../render.js';
import { warnDeliveryFailure } from '../run-output.js';

interface StatusCommandOptions {
  org?: string;
  all: boolean;
  check: boolean;
  maxAgeHours?: string;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('The weekly backup grid of an organization or a tenant, the health of every target (--all), or a freshness check for monitoring (--check).')
    .argument('[tenant]', 'a tenant database (or give --org, or --all)')
    .option('--org <id|code>', 'the organization')
    .option('--all', 'every configured tenant and every organization with automatic backups on: newest success, age, last failure, size trend, storage', false)
    .option('--check', 'exit 11 unless every target shown has a success younger than its limit (and, with --all, none shrank by more than half)', false)
    .option('--max-age-hours <hours>', 'the age limit for --check (default: monitor.maxAgeHours, else 26; per-target overrides in "monitor" apply with --all)')
    .addHelpText(
      'after',
      examples([
        'tenant-backup status --org 42',
        'tenant-backup status acme --json',
        'tenant-backup status --org 42 --check --max-age-hours 26',
        'tenant-backup status --all --check',
      ]),
    )
    .action(
      action(async (ctx, tenant: string | undefined, options: StatusCommandOptions) => {
        const hours = options.maxAgeHours === undefined ? undefined : Number(options.maxAgeHours);
        if (hours !== undefined && (!Number.isFinite(hours) || hours <= 0)) throw new UsageError(`--max-age-hours must be a positive number, not "${options.maxAgeHours}".`);
        if (options.all) return statusAll(ctx, tenant, options, hours);
        if (tenant === undefined && options.org === undefined) throw new UsageError('status needs a tenant, --org <id|code> or --all.');
        const target = await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        if (options.check) {
          const { checkFreshness } = await import('../../core/status.js');
          const { maxAgeHoursFor } = await import('../../core/status-all.js');
          const result = await checkFreshness(deps, { target, maxAgeHours: hours ?? maxAgeHoursFor(deps.config, target) });
          // The result is printed either way (monitoring wants the age); the exit code says stale.
          if (ctx.output.json) printJson(result);
          else printLine(result.message, ctx.output);
          if (!result.ok) throw new ResultExit(EXIT_CODES.STALE);
          return;
        }
        const { backupStatus } = await import('../../core/status.js');
        const status = await backupStatus(deps, { target });
        if (ctx.output.json) printJson(status);
        else printLine(renderStatus(status), ctx.output);
      }),
    );
}

/**
 * `status --all`: the full report on stdout (JSON with --json), whatever the verdict. With
 * --check, a target stale or shrunk sends one `stale` notification and exits 11.
 */
async function statusAll(ctx: CommandContext, tenant: string | undefined, options: StatusCommandOptions, hours: number | undefined): Promise<void> {
  if (tenant !== undefined || options.org !== undefined) throw new UsageError('--all shows every target: give no tenant and no --org.');
  const { healthReport, notifyStale } = await import('../../core/status-all.js');
  const { renderHealth } = await import('../render-monitor.js');
  const deps = await ctx.deps();
  const report = await healthReport(deps, hours === undefined ? {} : { maxAgeHours: hours });
  if (ctx.output.json) printJson(report);
  else printLine(renderHealth(report), ctx.output);
  if (ctx.output.json) for (const warning of report.warnings) printWarning(warning);
  if (!options.check || report.ok) return;
  await notifyStale(deps, report, { onDeliveryFailure: warnDeliveryFailure });
  throw new ResultExit(EXIT_CODES.STALE);
}
