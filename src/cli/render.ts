/**
 * Output. Results go to stdout (JSON under --json, tables otherwise); everything else — spinners,
 * notes, errors — goes to stderr, so `--json | jq` always gets pure JSON.
 */
import type { LedgerRecord } from '../ledger/types.js';
import { formatBytes } from '../format.js';
import { zonedParts } from '../retention/clock.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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

export { formatBytes } from '../format.js';

/** Records as a table; times are shown in the configured time zone, like the archive names. */
export async function renderRecordsTable(records: LedgerRecord[], timeZone: string): Promise<string> {
  if (records.length === 0) return 'No backups recorded.';
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['File', 'Tenant / org', 'Day', 'Date', 'Size', 'Status'], style: { head: [], border: [] } });
  for (const record of records) {
    table.push([
      record.backup_filename,
      record.kind === 'database' ? `tenant ${record.tenant}` : `org ${record.organization_id}`,
      record.day_of_week,
      localTime(record.created_at, timeZone),
      record.status === 'success' ? formatBytes(record.backup_size) : '-',
      record.status === 'failed' && record.error_message ? `failed: ${truncate(record.error_message, 60)}` : record.status,
    ]);
  }
  return table.toString();
}

function localTime(iso: string, timeZone: string): string {
  const p = zonedParts(new Date(iso), timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

export async function renderRestoreChanges(result: {
  action: 'restored' | 'dry-run';
  backup_filename: string;
  organization_id: string;
  created_at: string;
  tables: { table: string; current_rows: number; archive_rows: number }[];
}): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['Table', result.action === 'dry-run' ? 'Would delete' : 'Deleted', result.action === 'dry-run' ? 'Would insert' : 'Inserted'], style: { head: [], border: [] } });
  for (const change of result.tables) table.push([change.table, change.current_rows, change.archive_rows]);
  const heading =
    result.action === 'dry-run'
      ? `Dry run: ${result.backup_filename} (made ${result.created_at}) verified; nothing was changed. A restore of organization ${result.organization_id} would:`
      : `Restored organization ${result.organization_id} from ${result.backup_filename} (made ${result.created_at}):`;
  return `${heading}\n${table.toString()}`;
}

export async function renderStatus(status: import('../core/status.js').OrganizationStatus): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const grid = new Table({
    head: status.week.map((slot) => (slot.is_today ? `*${capitalize(slot.weekday)}*` : capitalize(slot.weekday))),
    style: { head: [], border: [] },
  });
  grid.push(
    status.week.map((slot) => {
      const lines = slot.backup
        ? [slot.date, slot.backup.backup_date === slot.date ? 'this week' : `from ${slot.backup.backup_date}`, formatBytes(slot.backup.backup_size), 'success']
        : [slot.date, 'no backup'];
      if (slot.latest_attempt) lines.push(`latest: ${slot.latest_attempt.status}`, slot.latest_attempt.backup_date);
      return lines.join('\n');
    }),
  );
  const history = status.history.length === 0 ? 'No history.' : await renderRecordsTable(status.history, status.today.timezone);
  return [
    `Organization ${status.organization_id} — automatic backups ${status.auto_backup_enabled ? 'enabled' : 'DISABLED'}; today is ${capitalize(status.today.weekday)} ${status.today.date} (${status.today.timezone}).`,
    grid.toString(),
    `History (last ${status.history.length}):`,
    history,
  ].join('\n');
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export async function renderAutoAll(result: import('../core/auto-all.js').AutoAllResult): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['Organization', 'Result', 'Details'], style: { head: [], border: [] } });
  for (const item of result.results) {
    const details =
      item.action === 'created'
        ? `${item.record.backup_filename} (${formatBytes(item.record.backup_size)})`
        : item.action === 'skipped'
          ? `${item.reason}: ${item.message}`
          : `${item.error.code}: ${item.error.message}`;
    table.push([item.organization_id, item.action, truncate(details, 90)]);
  }
  const { created, skipped, failed } = result.summary;
  return `${table.toString()}\n${created} created, ${skipped} skipped, ${failed} failed.`;
}
