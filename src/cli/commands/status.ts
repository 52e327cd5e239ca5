/** The `status --org <id>` command: the weekly grid, or --check for monitoring. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples } from '../command-kit.js';
import { printJson, printLine, renderStatus } from '../render.js';

export function registerStatus(program: Command): void {
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
        const { targetFrom } = await import('../../core/targets.js');
        const target = targetFrom({ org: options.org });
        if (target.kind !== 'organization') throw new UsageError('status works on organizations (--org).');
        const deps = await ctx.deps();
        if (options.check) {
          const hours = Number(options.maxAgeHours);
          if (!Number.isFinite(hours) || hours <= 0) throw new UsageError(`--max-age-hours must be a positive number, not "${options.maxAgeHours}".`);
          const { checkOrganizationFreshness } = await import('../../core/status.js');
          const result = await checkOrganizationFreshness(deps, target.organizationId, hours);
          if (ctx.output.json) printJson(result);
          else printLine(`OK: newest successful backup of organization ${target.organizationId} is ${result.age_hours} hours old (limit ${hours}).`, ctx.output);
          return;
        }
        const { organizationStatus } = await import('../../core/status.js');
        const status = await organizationStatus(deps, target.organizationId);
        if (ctx.output.json) printJson(status);
        else printLine(await renderStatus(status), ctx.output);
      }),
    );
}
