/**
 * The `list [<tenant> | --org <id|code>]` command: the ledger, newest first, with filters. Output
 * is streamed (a ledger of a million records lists in bounded memory): `--json` writes the array
 * element by element, exactly as JSON.stringify(records, null, 2) would; the table is drawn one
 * tenant / organization at a time when there are many records. `--check-storage` marks each
 * record as it streams past and prints the store's findings below the table.
 */
import type { Command } from 'commander';
import type { CheckedBackup } from '../../core/list.js';
import type { BackupStatus } from '../../ledger/types.js';
import type { StoredFile } from '../../store/types.js';
import { UsageError } from '../../errors.js';
import { garbageCollector } from '../../memory.js';
import { action, examples, parsePositiveInteger } from '../command-kit.js';
import { printLine, printNote, renderRecordsTable, writeOut, type OutputOptions } from '../render.js';

const STATUSES = ['success', 'failed', 'in_progress'];

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List recorded backups, newest first (grouped by tenant / organization; times in the configured time zone).')
    .argument('[tenant]', 'only this tenant')
    .option('--org <id|code>', 'only this organization')
    .option('--status <status>', `only records with this status (${STATUSES.join(', ')})`)
    .option('--since <when>', 'only records made since: a duration (30m, 12h, 7d, 2w), a date (2026-11-20) or an ISO time')
    .option('--limit <n>', 'at most <n> records (the newest)')
    .option('--check-storage', 'reconcile with the store (local folder or bucket): mark records whose archive is missing or has another size', false)
    .addHelpText(
      'after',
      examples([
        'tenant-backup list',
        'tenant-backup list acme --since 7d',
        'tenant-backup list --status failed --limit 10',
        'tenant-backup list --check-storage',
        'tenant-backup list --org 42 --json | jq -r \'.[] | "\\(.created_at | fromdate) \\(.backup_filename)"\'',
      ]),
    )
    .action(
      action(async (ctx, tenant: string | undefined, options: { org?: string; status?: string; since?: string; limit?: string; checkStorage: boolean }) => {
        const { streamBackups, streamBackupGroups } = await import('../../core/list.js');
        if (options.status !== undefined && !STATUSES.includes(options.status)) {
          throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, not "${options.status}".`);
        }
        const limit = options.limit === undefined ? undefined : parsePositiveInteger(options.limit, '--limit');
        const target = tenant === undefined && options.org === undefined ? undefined : await ctx.target({ tenant, org: options.org });
        const deps = await ctx.deps();
        const listOptions = { target, status: options.status as BackupStatus | undefined, since: options.since, limit, checkStorage: options.checkStorage };
        const noteRecovered = (recovered: Array<{ backup_filename: string; id: number }>) => {
          for (const record of recovered) printNote(`note: backup ${record.backup_filename} (record ${record.id}) was interrupted; marked failed.`, ctx.output);
        };
        if (ctx.output.json) {
          const { recovered, records } = await streamBackups(deps, listOptions);
          noteRecovered(recovered);
          return writeJsonArray(records);
        }
        const { recovered, total, groups, untracked } = await streamBackupGroups(deps, listOptions);
        noteRecovered(recovered);
        if (ctx.output.quiet) return;
        const tally = options.checkStorage ? new StorageTally() : null;
        await writeTable(tally ? tallied(groups, tally) : groups, total, deps.config.timezone, ctx.output);
        if (tally) printLine(renderStorageCheck(tally, await untracked()), ctx.output);
      }),
    );
}

/** Exactly `JSON.stringify(array, null, 2)` and a newline, written as the elements come. */
async function writeJsonArray(records: AsyncIterable<unknown>): Promise<void> {
  let buffer = '[';
  let first = true;
  const tidy = garbageCollector(20_000);
  for await (const record of records) {
    tidy();
    buffer += `${first ? '\n' : ',\n'}  ${JSON.stringify(record, null, 2).replaceAll('\n', '\n  ')}`;
    first = false;
    if (buffer.length > 64 * 1024) {
      await writeOut(buffer);
      buffer = '';
    }
  }
  await writeOut(`${buffer}${first ? ']' : '\n]'}\n`);
}

/** Up to this many records, the table is drawn at once (footnotes of failures at its end). */
const WHOLE_TABLE_RECORDS = 20_000;

async function writeTable(groups: AsyncIterable<CheckedBackup[]>, total: number, timeZone: string, output: OutputOptions): Promise<void> {
  if (output.quiet) return;
  if (total <= WHOLE_TABLE_RECORDS) {
    const records: CheckedBackup[] = [];
    for await (const group of groups) records.push(...group);
    return writeOut(`${renderRecordsTable(records, timeZone)}\n`);
  }
  // Many records: one block per tenant / organization, each with the footnotes of its failures.
  let first = true;
  const tidy = garbageCollector(25);
  for await (const group of groups) {
    tidy();
    await writeOut(`${first ? '' : '\n'}${renderRecordsTable(group, timeZone)}\n`);
    first = false;
  }
}

/** Counts what `--check-storage` found while the table is drawn. */
class StorageTally {
  checked = 0;
  ok = 0;
  /** Records whose archive is missing or has another size (few, normally). */
  readonly problems: CheckedBackup[] = [];

  count(record: CheckedBackup): void {
    const state = record.storage_check?.state;
    if (state === undefined || state === 'not_checked') return;
    this.checked += 1;
    if (state === 'ok') this.ok += 1;
    else this.problems.push(record);
  }
}

async function* tallied(groups: AsyncIterable<CheckedBackup[]>, tally: StorageTally): AsyncGenerator<CheckedBackup[]> {
  for await (const group of groups) {
    for (const record of group) tally.count(record);
    yield group;
  }
}

/** Below the table: what the store has that the ledger does not say, or lacks. */
function renderStorageCheck(tally: StorageTally, untracked: readonly StoredFile[]): string {
  const lines = [`Storage check: ${tally.ok} of ${tally.checked} successful backups present with their recorded size.`];
  for (const record of tally.problems) {
    const check = record.storage_check!;
    lines.push(
      check.state === 'missing'
        ? `  MISSING       ${record.backup_filename}`
        : `  SIZE DIFFERS  ${record.backup_filename}: ${check.stored_bytes} bytes stored, ${record.backup_size} recorded`,
    );
  }
  for (const file of untracked) lines.push(`  NO RECORD     ${file.name} (${file.path})`);
  return lines.join('\n');
}
