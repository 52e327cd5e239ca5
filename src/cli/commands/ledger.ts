/** The `ledger` command: `ledger init [--sql]` and `ledger migrate --from json` (the database ledger). */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples } from '../command-kit.js';
import { printJson, printLine } from '../render.js';

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('Set up the database ledger ("ledger": { "type": "database" }): its tables, and a copy of the JSON ledger.');
  ledger
    .command('init')
    .description("Create the ledger's tables (auto_backup_logs, auto_backup_settings) if they do not exist; --sql prints the SQL instead.")
    .option('--sql', 'print the SQL for an administrator; run nothing', false)
    .addHelpText('after', examples(['tenant-backup ledger init', 'tenant-backup ledger init --sql > ledger.sql']))
    .action(
      action(async (ctx, options: { sql: boolean }) => {
        const admin = await import('../../core/ledger-admin.js');
        const deps = await ctx.deps();
        if (options.sql) {
          const sql = await admin.ledgerInitSql(deps);
          if (ctx.output.json) printJson({ sql });
          else process.stdout.write(sql);
          return;
        }
        const result = await admin.initLedger(deps);
        if (ctx.output.json) return printJson(result);
        printLine(`${result.created ? 'Created' : 'Already there:'} tables ${result.tables.logs} and ${result.tables.settings}.`, ctx.output);
      }),
    );
  ledger
    .command('migrate')
    .description('Copy the JSON ledger of the store into the database ledger, once (ids kept; a second run copies nothing more).')
    .requiredOption('--from <kind>', 'the ledger to copy from: json')
    .addHelpText('after', examples(['tenant-backup ledger migrate --from json']))
    .action(
      action(async (ctx, options: { from: string }) => {
        if (options.from !== 'json') throw new UsageError(`ledger migrate --from takes "json", not "${options.from}".`);
        const { migrateLedgerFromJson } = await import('../../core/ledger-admin.js');
        const result = await migrateLedgerFromJson(await ctx.deps());
        if (ctx.output.json) return printJson(result);
        printLine(
          result.found
            ? `Copied ${result.copied} record(s) from ${result.source}${result.skipped ? ` (${result.skipped} were already there)` : ''}; ${result.settings} organization setting(s).`
            : `No JSON ledger at ${result.source}: nothing to copy.`,
          ctx.output,
        );
      }),
    );
}
