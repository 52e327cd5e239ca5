/** The `get (<tenant> | --org <id>) <backup|latest> [-o <file> | -o -]` command: a verified archive copied out. */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { action, examples, splitTargetAndBackup } from '../command-kit.js';
import { withInterrupt } from '../interaction.js';
import { formatBytes, printJson, printLine } from '../render.js';

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('Download (S3) or copy (local) one archive, verified first, to a file or to stdout.')
    .argument('[tenant-or-backup]', 'tenant name, or the backup when --org is given')
    .argument('[backup]', 'backup file name (from `list`), `latest`, or path / s3:// URL in the store')
    .option('--org <id|code>', 'the organization the backup belongs to')
    .option('-o, --output <file>', "where to write it (never over an existing file); `-` for stdout. Default: the archive's name in this folder")
    .addHelpText(
      'after',
      examples([
        'tenant-backup get acme latest',
        'tenant-backup get --org 42 org_acme_monday_backup.zip -o /tmp/acme.zip',
        'tenant-backup get acme latest -o - | unzip -l /dev/stdin',
      ]),
    )
    .action(
      action(async (ctx, first: string | undefined, second: string | undefined, options: { org?: string; output?: string }) => {
        const { getBackup } = await import('../../core/get.js');
        const { tenant, backup } = splitTargetAndBackup(first, second, options.org);
        const toStdout = options.output === '-';
        if (toStdout && ctx.output.json) throw new UsageError('-o - writes the archive to stdout, which --json needs for its result: use one or the other.');
        const target = await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        const result = await withInterrupt(ctx.output, (signal) => getBackup(deps, { target, backup, output: toStdout ? process.stdout : options.output, signal }));
        if (ctx.output.json) printJson(result);
        else if (!toStdout) printLine(`Wrote ${result.path} (${formatBytes(result.bytes)}, sha256 ${result.sha256}), verified, from ${result.source}.`, ctx.output);
      }),
    );
}
