/** The `notify test` command: a test event through every configured notification channel. */
import type { Command } from 'commander';
import { action, examples } from '../command-kit.js';
import { EXIT_CODES, ResultExit } from '../exit-codes.js';
import { withInterrupt } from '../interaction.js';
import { printJson, printLine } from '../render.js';

export function registerNotify(program: Command): void {
  const notify = program.command('notify').description('Notifications (webhook, ping, e-mail; see "notifications" in the configuration).');
  notify
    .command('test')
    .description('Send a test event through every configured channel (pings to <url>/log) and report each result; exit 1 if any failed.')
    .addHelpText('after', examples(['tenant-backup notify test', 'tenant-backup notify test --json']))
    .action(
      action(async (ctx) => {
        const { testNotifications } = await import('../../core/notify-test.js');
        const { renderNotifyTest } = await import('../render-monitor.js');
        const deps = await ctx.deps();
        const result = await withInterrupt(ctx.output, (signal) => testNotifications(deps, { signal }));
        if (ctx.output.json) printJson(result);
        else printLine(renderNotifyTest(result), ctx.output);
        if (!result.ok) throw new ResultExit(EXIT_CODES.OPERATION_FAILED);
      }),
    );
}
