/** The `plan --org <id|code>` command: what a backup of one organization would take and leave out, without writing anything. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { printJson, printLine, printWarnings } from '../render.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description(
      'Show what a backup of one organization would contain — each table, why it is taken, its rows — and the tables left out that still reach the organization. Reads one snapshot; writes nothing.',
    )
    .option('--org <id|code>', 'the organization (its id, or its code)')
    .addHelpText('after', examples(['tenant-backup plan --org 42', 'tenant-backup plan --org acme --json']))
    .action(
      action(async (ctx, options: { org?: string }) => {
        if (options.org === undefined) throw new UsageError('plan needs --org <id|code>.');
        const target = await ctx.target({ org: options.org });
        if (target.kind !== 'organization') throw new UsageError('plan needs --org <id|code>.');
        const { planOrganizationReport } = await import('../../core/plan-report.js');
        const deps = await ctx.deps();
        const report = await withInterrupt(ctx.output, (signal) => planOrganizationReport(deps, { organizationId: target.organizationId, signal }));
        printWarnings(report.warnings, ctx.output);
        if (ctx.output.json) return printJson(report);
        const { renderPlan } = await import('../render-plan.js');
        printLine(renderPlan(report), ctx.output);
      }),
    );
}
