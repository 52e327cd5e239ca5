/**
 * Output of the monitoring commands: `status --all` (a table that fits 80 columns, problems
 * below it), `backup --all` (cron lines or a table, like `auto --all`), `notify test`.
 */
import type { BackupAllItem, BackupAllResult } from '../core/backup-all.js';
import type { NotifyTestResult } from '../core/notify-test.js';
import type { HealthReport, TargetHealth } from '../core/status-all.js';
import { formatBytes } from '../format.js';
import { footnotes, formatColumns, outputWidth } from './columns.js';
import { runLine } from './render.js';

export function renderHealth(report: HealthReport): string {
  const warnings = report.warnings.map((w) => `warning: ${w}`);
  if (report.targets.length === 0) {
    return ['Nothing to monitor: no tenants are configured and no organization has automatic backups on.', ...warnings].join('\n');
  }
  const width = outputWidth();
  const notes: string[] = [];
  const now = Date.parse(report.checked_at);
  const rows = report.targets.map((t) => [
    t.target,
    t.newest_success ? `${hours(t.age_hours!)} ago` : 'never',
    lastFailure(t, now),
    sizeTrend(t),
    formatBytes(t.storage_bytes),
    state(t, notes),
  ]);
  const table = formatColumns(
    [
      { header: 'Target', flex: true, min: 16 },
      { header: 'Last success' },
      { header: 'Last failure' },
      { header: 'Size · trend' },
      { header: 'Storage', align: 'right' },
      { header: 'State' },
    ],
    rows,
    { width },
  );
  const s = report.summary;
  const summary = `${s.targets} target${s.targets === 1 ? '' : 's'}: ${s.ok} ok, ${s.stale} stale, ${s.shrunk} shrunk, ${s.failing} failing; ${formatBytes(s.storage_bytes)} stored.`;
  return [table, ...(notes.length > 0 ? ['', footnotes(notes, width)] : []), '', summary, ...warnings].join('\n');
}

function state(target: TargetHealth, notes: string[]): string {
  if (target.ok) return target.failing ? 'ok, failing' : 'ok';
  const words = [target.stale ? 'STALE' : '', target.shrunk ? 'SHRUNK' : ''].filter(Boolean).join(', ');
  const marks = target.problems.map((problem) => {
    notes.push(problem);
    return `[${notes.length}]`;
  });
  return `${words} ${marks.join('')}`;
}

function lastFailure(target: TargetHealth, now: number): string {
  if (!target.last_failure) return '-';
  return `${hours((now - Date.parse(target.last_failure.updated_at)) / 3_600_000)} ago`;
}

function sizeTrend(target: TargetHealth): string {
  const { last, ratio } = target.size_trend;
  if (last === null) return '-';
  return ratio === null ? formatBytes(last) : `${formatBytes(last)} ×${ratio < 0.01 ? '<0.01' : ratio}`;
}

/** `5.2 h`, or days beyond two of them. */
function hours(value: number): string {
  const positive = Math.max(0, value);
  return positive < 48 ? `${positive.toFixed(1)} h` : `${(positive / 24).toFixed(1)} d`;
}

/** `backup --all` for cron and logs: one line per tenant. */
export function backupAllLine(item: BackupAllItem, now = new Date()): string {
  const details =
    item.action === 'created'
      ? `${item.record.backup_filename} (${formatBytes(item.record.backup_size)}) ${item.record.backup_path}${item.prune_error ? ` | ${item.prune_error}` : ''}`
      : `${item.error.code}: ${item.error.message}`;
  return runLine(`tenant ${item.tenant}`, item.action, details, now);
}

/** `backup --all` on a terminal: one row per tenant, failures' messages below. */
export function renderBackupAll(result: BackupAllResult): string {
  const notes: string[] = [];
  const rows = result.results.map((item) => {
    if (item.action === 'created') return [item.tenant, item.action, `${item.record.backup_filename} (${formatBytes(item.record.backup_size)})`];
    notes.push(`tenant ${item.tenant}: ${item.error.code}: ${item.error.message}`);
    return [item.tenant, item.action, `${item.error.code} [${notes.length}]`];
  });
  const width = outputWidth();
  const table = formatColumns([{ header: 'Tenant', flex: true, min: 12 }, { header: 'Result' }, { header: 'Details', flex: true, min: 20 }], rows, { width });
  return `${table}${notes.length > 0 ? `\n\n${footnotes(notes, width)}` : ''}\n\n${result.summary.created} created, ${result.summary.failed} failed.`;
}

/** `notify test`: one line per channel. */
export function renderNotifyTest(result: NotifyTestResult): string {
  return result.results
    .map((r) => `${r.ok ? 'ok    ' : 'FAILED'}  ${r.channel} (${r.attempts === 1 ? '1 attempt' : `${r.attempts} attempts`})${r.ok ? '' : `: ${r.error}`}`)
    .join('\n');
}
