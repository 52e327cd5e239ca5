/** The `status [<tenant> | --org <id|code>]` command: the weekly grid, or --check for monitoring. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples } from '../command-kit.js';
import { EXIT_CODES, ResultExit } from '../exit-codes.js';
import { printJson, printLine, renderStatus } from '../render.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('The weekly backup grid of an organization or a tenant, or a freshness check for monitoring (--check).')
    .argument('[tenant]', 'a tenant database (or give --org)')
    .option('--org <id|code>', 'the organization')
    .option('--check', 'print the newest success\'s age; exit 0 if it is younger than --max-age-hours, 11 if not', false)
    .option('--max-age-hours <hours>', 'limit for --check', '26')
    .addHelpText('after', examples(['tenant-backup status --org 42', 'tenant-backup status acme --json', 'tenant-backup status --org 42 --check --max-age-hours 26']))
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string; check: boolean; maxAgeHours: string }) => {
        if (tenant === undefined && options.org === undefined) throw new UsageError('status needs a tenant or --org <id|code>.');
        const target = await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        if (options.check) {
          const hours = Number(options.maxAgeHours);
          if (!Number.isFinite(hours) || hours <= 0) throw new UsageError(`--max-age-hours must be a positive number, not "${options.maxAgeHours}".`);
          const { checkFreshness } = await import('../../core/status.js');
          const result = await checkFreshness(deps, { target, maxAgeHours: hours });
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
