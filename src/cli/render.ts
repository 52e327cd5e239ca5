/**
 * Output. Results go to stdout (JSON under --json, text otherwise); everything else — spinners,
 * notes, errors — goes to stderr, so `--json | jq` always gets pure JSON. Text tables fit 80
 * columns (columns.ts): long names wrap inside their column, error messages go below the table.
 */
import type { AutoAllItem, AutoAllResult } from '../core/auto-all.js';
import type { ListedBackup } from '../core/listed-record.js';
import type { BackupStatus } from '../core/status.js';
import { formatBytes, wholeSeconds } from '../format.js';
import { zonedParts } from '../retention/clock.js';
import { footnotes, formatColumns, outputWidth, wrap } from './columns.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes to stdout and waits while its buffer is full (a slow reader of a long listing). */
export async function writeOut(text: string): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      process.stdout.off('drain', done);
      process.stdout.off('close', done);
      resolve();
    };
    process.stdout.on('drain', done);
    process.stdout.on('close', done);
  });
}

export function printLine(text: string, options: OutputOptions): void {
  if (!options.quiet) process.stdout.write(`${text}\n`);
}

/** Informational notes: stderr, and only for a person at a terminal. */
export function printNote(text: string, options: OutputOptions): void {
  if (!options.quiet && !options.json && process.stderr.isTTY) process.stderr.write(`${text}\n`);
}

/** Warnings (something partly failed): always on stderr, also for cron and scripts. */
export function printWarning(text: string): void {
  process.stderr.write(`warning: ${text}\n`);
}

/** Warnings of a result: under --json one JSON object per line on stderr (stderr carries only JSON). */
export function printWarnings(warnings: readonly string[], options: OutputOptions): void {
  for (const warning of warnings) {
    if (options.json) process.stderr.write(`${JSON.stringify({ warning })}\n`);
    else printWarning(warning);
  }
}

export { formatBytes } from '../format.js';

/** Who a record is about, as a heading. */
export function ownerHeading(record: ListedBackup): string {
  if (record.kind === 'database') return `Tenant ${record.tenant}`;
  const names = [record.organization_code, record.organization_name].filter((part): part is string => Boolean(part));
  return `Organization ${record.organization_id}${names.length > 0 ? ` · ${names.join(' · ')}` : ''}`;
}

/**
 * Records, grouped by owner (groups in the order of their newest record), newest first. Times are
 * shown in the configured time zone, like the archive names; failures are numbered and their
 * messages printed below the table.
 */
export function renderRecordsTable(records: ListedBackup[], timeZone: string, options: { headings?: boolean } = {}): string {
  if (records.length === 0) return 'No backups recorded.';
  const width = outputWidth();
  const groups = new Map<string, ListedBackup[]>();
  for (const record of records) {
    const key = record.kind === 'database' ? `t:${record.tenant}` : `o:${record.organization_id}`;
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  const notes: string[] = [];
  const columns = [{ header: 'File', flex: true, min: 16 }, { header: 'Type' }, { header: 'Made' }, { header: 'Size / status', align: 'right' as const }];
  const blocks = [...groups.values()].map((group) => {
    const rows = group.map((record) => [record.backup_filename, record.backup_type ?? '-', localTime(record.created_at, timeZone), outcome(record, notes)]);
    const headed = options.headings ?? true;
    const table = formatColumns(columns, rows, { width, indent: headed ? '  ' : '' });
    return headed ? `${wrap(ownerHeading(group[0]!), width).join('\n')}\n${table}` : table;
  });
  const failures = notes.length > 0 ? `\n\n${footnotes(notes, width)}` : '';
  return `${blocks.join('\n\n')}${failures}`;
}

/**
 * Size of a success; otherwise the status, failures with the number of their note. A success
 * with a note (a notification about it that could not be delivered) gets its number too.
 */
function outcome(record: ListedBackup, notes: string[]): string {
  if (record.status === 'success') {
    if (!record.error_message) return formatBytes(record.backup_size);
    notes.push(`${record.backup_filename} (${record.created_at}): ${record.error_message}`);
    return `${formatBytes(record.backup_size)} [${notes.length}]`;
  }
  if (record.status === 'in_progress') return 'in progress';
  notes.push(`${record.backup_filename} (${record.created_at}): ${record.error_message ?? 'no message recorded'}`);
  return `failed [${notes.length}]`;
}

/** `YYYY-MM-DD HH:MM` in the configured time zone. */
function localTime(iso: string, timeZone: string): string {
  const p = zonedParts(new Date(iso), timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

export function renderRestoreChanges(result: {
  action: 'restored' | 'dry-run';
  backup_filename: string;
  organization_id: string;
  created_at: string;
  tables: { table: string; current_rows: number; archive_rows: number; in_archive: boolean }[];
  accepted_drift: { table: string; column: string; change: string }[];
  removed_tables: { table: string; rows: number }[];
}): string {
  const dry = result.action === 'dry-run';
  const width = outputWidth();
  const count = (n: number) => n.toLocaleString('en-US');
  const lines: string[] = [];
  for (const removed of result.removed_tables) {
    lines.push(
      ...wrap(
        `warning: table ${removed.table} is not in the archive (created after the backup?): ${count(removed.rows)} rows of organization ${result.organization_id} ${dry ? 'would be' : 'were'} removed and not put back${dry ? ' (a restore needs --allow-removing-new-tables)' : ''}.`,
        width,
      ),
    );
  }
  lines.push(
    ...wrap(
      dry
        ? `Dry run: ${result.backup_filename} (made ${result.created_at}) verified and restored inside a transaction that was rolled back; every check passed, nothing was changed. A restore of organization ${result.organization_id} would:`
        : `Restored organization ${result.organization_id} from ${result.backup_filename} (made ${result.created_at}):`,
      width,
    ),
  );
  // Tables with nothing to delete and nothing to insert are folded into one line.
  const changed = result.tables.filter((change) => change.current_rows > 0 || change.archive_rows > 0);
  const untouched = result.tables.filter((change) => change.current_rows === 0 && change.archive_rows === 0).map((change) => change.table);
  const columns = [
    { header: 'Table', flex: true, min: 12 },
    { header: dry ? 'Would delete' : 'Deleted', align: 'right' as const },
    { header: dry ? 'Would insert' : 'Inserted', align: 'right' as const },
  ];
  const rows = changed.map((change) => [change.in_archive ? change.table : `${change.table} (not in archive)`, count(change.current_rows), count(change.archive_rows)]);
  if (rows.length > 0) lines.push(formatColumns(columns, rows, { width }));
  if (untouched.length > 0)
    lines.push(...wrap(`${untouched.length} more table${untouched.length > 1 ? 's' : ''} without rows of the organization, before or after: ${untouched.join(', ')}.`, width));
  if (result.accepted_drift.length > 0) {
    lines.push(`Schema changes since the backup, accepted (every value stays exact):`);
    for (const drift of result.accepted_drift) lines.push(...wrap(`  ${drift.table}.${drift.column}: ${drift.change}`, width));
  }
  return lines.join('\n');
}

/**
 * The weekly grid: seven columns of at most 10 characters, one space apart (76 columns). A cell
 * shows the kept backup's size and whether it is this week's (else the date it was made), and a
 * newer attempt that did not succeed.
 */
export function renderStatus(status: BackupStatus): string {
  const header = status.week.map((slot) => `${capitalize(slot.weekday).slice(0, 3)} ${slot.date.slice(5)}${slot.is_today ? '*' : ''}`);
  const cells = status.week.map((slot) => {
    const lines = slot.backup
      ? [formatBytes(slot.backup.backup_size), slot.backup.backup_date === slot.date ? 'this week' : `from ${slot.backup.backup_date.slice(5)}`]
      : ['no backup'];
    if (slot.latest_attempt) lines.push('latest:', slot.latest_attempt.status === 'in_progress' ? 'running' : slot.latest_attempt.status);
    return lines;
  });
  const height = Math.max(...cells.map((lines) => lines.length));
  const rows = Array.from({ length: height }, (_, line) => cells.map((lines) => lines[line] ?? ''));
  const grid = formatColumns(
    header.map((h) => ({ header: h })),
    rows,
    { gap: ' ' },
  );
  const who = status.kind === 'organization' ? `Organization ${status.organization_id}${organizationNames(status)}` : `Tenant ${status.tenant}`;
  const auto = status.auto_backup_enabled === null ? '' : ` — automatic backups ${status.auto_backup_enabled ? 'enabled' : 'DISABLED'} (tenant-backup's switch)`;
  const history = status.history.length === 0 ? 'No history.' : renderRecordsTable(status.history, status.today.timezone, { headings: false });
  const width = outputWidth();
  return [
    wrap(`${who}${auto}.`, width).join('\n'),
    wrap(`Today is ${capitalize(status.today.weekday)} ${status.today.date} (${status.today.timezone}); * marks today.`, width).join('\n'),
    '',
    grid,
    '',
    `History (last ${status.history.length}):`,
    history,
  ].join('\n');
}

function organizationNames(status: BackupStatus): string {
  const record = status.history[0];
  const names = record ? [record.organization_code, record.organization_name].filter(Boolean) : [];
  return names.length > 0 ? ` · ${names.join(' · ')}` : '';
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** `auto --all` on a terminal: one row per organization, failures' messages below. */
export function renderAutoAll(result: AutoAllResult): string {
  const notes: string[] = [];
  const rows = result.results.map((item) => [item.organization_id, item.action, autoAllDetails(item, notes)]);
  const table = formatColumns([{ header: 'Organization', flex: true, min: 12 }, { header: 'Result' }, { header: 'Details', flex: true, min: 20 }], rows, { width: outputWidth() });
  const { created, skipped, failed } = result.summary;
  const width = outputWidth();
  return `${table}${notes.length > 0 ? `\n\n${footnotes(notes, width)}` : ''}\n\n${created} created, ${skipped} skipped, ${failed} failed.`;
}

function autoAllDetails(item: AutoAllItem, notes: string[]): string {
  if (item.action === 'created') return `${item.record.backup_filename} (${formatBytes(item.record.backup_size)})`;
  if (item.action === 'skipped') return item.reason;
  notes.push(`organization ${item.organization_id}: ${item.error.code}: ${item.error.message}`);
  return `${item.error.code} [${notes.length}]`;
}

/**
 * `auto --all` for cron and logs: one line per organization, with a whole-second UTC time, and
 * failures named in full (a multi-line message folded onto its line).
 */
export function autoAllLine(item: AutoAllItem, now = new Date()): string {
  const details =
    item.action === 'created'
      ? `${item.record.backup_filename} (${formatBytes(item.record.backup_size)}) ${item.record.backup_path}`
      : item.action === 'skipped'
        ? `${item.reason}: ${item.message}`
        : `${item.error.code}: ${item.error.message}`;
  return runLine(`organization ${item.organization_id}`, item.action, details, now);
}

/** One line of a `--all` run for cron and logs: `<time> <who> <action> <details>`, newlines folded. */
export function runLine(who: string, action: string, details: string, now = new Date()): string {
  return `${wholeSeconds(now.toISOString())} ${who} ${action} ${details.replace(/\s*\n\s*/g, ' | ')}`;
}
