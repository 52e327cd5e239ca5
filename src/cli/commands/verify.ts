/** The `verify [<tenant> | --org <id>] [<backup> | --all]` command: archives read back and checked; exit 5 on any damage. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples } from '../command-kit.js';
import { footnotes, formatColumns, outputWidth } from '../columns.js';
import { EXIT_CODES, ResultExit } from '../exit-codes.js';
import { withInterrupt } from '../interaction.js';
import { formatBytes, printJson, printLine } from '../render.js';
import type { VerifyResult } from '../../core/verify.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('Read archives back from the store (local or S3) and check every entry against its manifest and the file against the ledger.')
    .argument('[tenant-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'one backup (file name, `latest`, or path / s3:// URL in the store); default: the newest successful one')
    .option('--org <id|code>', 'the organization whose backups to verify')
    .option('--all', 'every successful backup, not only the newest of each tenant / organization', false)
    .addHelpText(
      'after',
      examples(['tenant-backup verify', 'tenant-backup verify --all --json', 'tenant-backup verify acme latest', 'tenant-backup verify --org 42 org_acme_monday_backup.zip']),
    )
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; all: boolean }) => {
        const { verifyBackups } = await import('../../core/verify.js');
        const tenant = options.org === undefined ? first : undefined;
        const backup = options.org === undefined ? second : first;
        if (options.org !== undefined && second !== undefined) throw new UsageError('With --org, give at most one backup: `verify --org <id|code> [<backup>]`.');
        if (backup !== undefined && options.all) throw new UsageError('Give a backup or --all, not both.');
        const target = tenant === undefined && options.org === undefined ? undefined : await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await withInterrupt(ctx.output, (signal) => verifyBackups(deps, { target, backup, all: options.all, signal }));
        if (ctx.output.json) printJson(result);
        else printLine(renderVerify(result), ctx.output);
        if (!result.ok) throw new ResultExit(EXIT_CODES.ARCHIVE_INVALID);
      }),
    );
}

function renderVerify(result: VerifyResult): string {
  if (result.checked === 0) return 'No successful backups recorded: nothing to verify.';
  const notes: string[] = [];
  const rows = result.results.map((item) => {
    const owner = item.kind === 'database' ? `tenant ${item.tenant}` : `organization ${item.organization_id}`;
    let state = item.status === 'ok' ? `ok (${item.entries} entries)` : item.status.toUpperCase();
    if (item.error) {
      notes.push(`${item.backup_filename}: ${item.error}`);
      state += ` [${notes.length}]`;
    }
    return [owner, item.backup_filename, item.bytes === null ? '-' : formatBytes(item.bytes), state];
  });
  const table = formatColumns([{ header: 'Owner' }, { header: 'File', flex: true, min: 16 }, { header: 'Size', align: 'right' }, { header: 'Result' }], rows, {
    width: outputWidth(),
  });
  const summary = `${result.checked} checked: ${result.checked - result.damaged - result.missing} ok, ${result.damaged} damaged, ${result.missing} missing.`;
  return [table, notes.length > 0 ? footnotes(notes, outputWidth()) : '', summary].filter((part) => part !== '').join('\n\n');
}
