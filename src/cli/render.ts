/**
 * Output. Results go to stdout (JSON under --json, tables otherwise); everything else — spinners,
 * notes, errors — goes to stderr, so `--json | jq` always gets pure JSON.
 */
import type { LedgerRecord } from '../ledger/types.js';

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

export function printNote(text: string, options: OutputOptions): void {
  if (!options.quiet) process.stderr.write(`${text}\n`);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

export async function renderRecordsTable(records: LedgerRecord[]): Promise<string> {
  if (records.length === 0) return 'No backups recorded.';
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: ['File', 'Tenant / org', 'Day', 'Date', 'Size', 'Status'], style: { head: [], border: [] } });
  for (const record of records) {
    table.push([
      record.backup_filename,
      record.kind === 'database' ? `tenant ${record.tenant}` : `org ${record.organization_id}`,
      record.day_of_week,
      `${record.backup_date} ${record.created_at.slice(11, 19)}Z`,
      record.status === 'success' ? formatBytes(record.backup_size) : '-',
      record.status === 'failed' && record.error_message ? `failed: ${truncate(record.error_message, 60)}` : record.status,
    ]);
  }
  return table.toString();
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
