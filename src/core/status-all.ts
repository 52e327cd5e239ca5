/**
 * `status --all`: one health view over every configured tenant and every organization with
 * automatic backups on — newest success and its age, last failure, size trend, storage used — and
 * `--check`'s verdict: a target is not ok when it is stale (no success younger than its limit) or
 * flagged (its newest archive is less than half the median of the ones before it: an export that
 * "succeeds" empty is a classic silent failure).
 *
 * Organizations monitored: those of the organizations table whose `auto_backup_enabled` column is
 * not false, plus those the ledger knows, minus those whose tenant-backup switch is off. When the
 * table cannot be read, the ledger's organizations are shown and a warning says why.
 *
 * Limits (`maxAgeHours`): `monitor.tenants.<name>` / `monitor.organizations.<id>` override the
 * default, which is `--max-age-hours`, else `monitor.maxAgeHours`, else 26.
 */
import type { ResolvedConfig } from '../config/load.js';
import { DEFAULT_MAX_AGE_HOURS } from '../config/define.js';
import { describeCause } from '../errors.js';
import { formatBytes } from '../format.js';
import type { LedgerRecord } from '../ledger/types.js';
import type { Deps } from './context.js';
import { describeRecords, type ListedBackup } from './listed-record.js';
import type { NotifyHooks } from './notified-run.js';
import { describeTarget, type Target } from './targets.js';

/** How many earlier successes the newest one is compared with. */
export const TREND_SAMPLES = 7;

export interface SizeTrend {
  /** The newest success's size in bytes. */
  last: number | null;
  /** The median size of the (up to 7) successes before it. */
  median: number | null;
  /** last / median, 2 decimals. */
  ratio: number | null;
  /** How many earlier successes the median is of. */
  samples: number;
}

export interface TargetHealth {
  kind: 'organization' | 'database';
  organization_id: string | null;
  tenant: string | null;
  /** `tenant "acme"`, `organization 42`. */
  target: string;
  ok: boolean;
  stale: boolean;
  /** The newest archive is less than half the median of the ones before it. */
  shrunk: boolean;
  max_age_hours: number;
  /** Hours since the newest success finished (2 decimals), null without one. */
  age_hours: number | null;
  newest_success: ListedBackup | null;
  last_failure: ListedBackup | null;
  /** The newest attempt failed (it is newer than the newest success). */
  failing: boolean;
  size_trend: SizeTrend;
  /** Bytes of the target's successful archives. */
  storage_bytes: number;
  /** Why it is not ok, one line each (empty when ok). */
  problems: string[];
}

export interface HealthReport {
  ok: boolean;
  checked_at: string;
  targets: TargetHealth[];
  summary: { targets: number; ok: number; stale: number; shrunk: number; failing: number; storage_bytes: number };
  /**
   * Something that limited the view (the organizations table could not be read). A view that
   * could not see every target is not healthy: `ok` is false whenever there is a warning, so that
   * `--check` (cron's probe) fails instead of reporting a monitor that looked at nothing.
   */
  warnings: string[];
}

/** The age limit of a target: its own override, else `fallback` (`--max-age-hours`), else `monitor.maxAgeHours`, else 26. */
export function maxAgeHoursFor(config: Pick<ResolvedConfig, 'monitor'>, target: Target, fallback?: number): number {
  const monitor = config.monitor;
  const own = target.kind === 'database' ? monitor?.tenants : monitor?.organizations;
  const key = target.kind === 'database' ? target.tenant : target.organizationId;
  if (own && Object.hasOwn(own, key)) return own[key]!.maxAgeHours;
  return fallback ?? monitor?.maxAgeHours ?? DEFAULT_MAX_AGE_HOURS;
}

/** The verdict on one target from its records (newest first) — pure. */
export function assessRecords(records: readonly LedgerRecord[], now: Date, maxAgeHours: number, who: string) {
  const successes = records.filter((r) => r.status === 'success');
  const newest = successes[0] ?? null;
  const lastFailure = records.find((r) => r.status === 'failed') ?? null;
  const raw = newest ? (now.getTime() - Date.parse(newest.updated_at)) / 3_600_000 : null;
  const ageHours = raw === null ? null : Math.round(raw * 100) / 100;
  const stale = raw === null || raw > maxAgeHours;
  const earlier = successes.slice(1, 1 + TREND_SAMPLES).map((r) => r.backup_size);
  const median = earlier.length > 0 ? medianOf(earlier) : null;
  const last = newest?.backup_size ?? null;
  const shrunk = last !== null && median !== null && median > 0 && last < median / 2;
  const problems: string[] = [];
  if (!newest) problems.push(`${who}: no successful backup`);
  else if (stale) problems.push(`${who}: the newest successful backup is ${ageHours} hours old (limit ${maxAgeHours})`);
  if (shrunk) {
    problems.push(`${who}: the newest backup is ${formatBytes(last)}, less than half the median ${formatBytes(median)} of the ${earlier.length} before it`);
  }
  return {
    newest,
    lastFailure,
    ageHours,
    stale,
    shrunk,
    failing: records[0]?.status === 'failed',
    sizeTrend: { last, median, ratio: last !== null && median ? Math.round((last / median) * 100) / 100 : null, samples: earlier.length },
    storageBytes: successes.reduce((sum, r) => sum + r.backup_size, 0),
    problems,
  };
}

export async function healthReport(deps: Pick<Deps, 'config' | 'ledger' | 'clock'>, options: { maxAgeHours?: number } = {}): Promise<HealthReport> {
  await deps.ledger.recoverInterrupted();
  const now = deps.clock.now();
  const { organizations, warnings } = await monitoredOrganizations(deps);
  const targets: Target[] = [
    ...Object.keys(deps.config.tenants).map((tenant) => ({ kind: 'database' as const, tenant })),
    ...organizations.map((organizationId) => ({ kind: 'organization' as const, organizationId })),
  ];
  // One target's records at a time: memory follows the largest history, not the whole ledger.
  const assessed: Array<{ target: Target; maxAge: number; verdict: ReturnType<typeof assessRecords> }> = [];
  for (const target of targets) {
    const own = await deps.ledger.find(target.kind === 'database' ? { kind: 'database', tenant: target.tenant } : { kind: 'organization', organization_id: target.organizationId });
    const maxAge = maxAgeHoursFor(deps.config, target, options.maxAgeHours);
    assessed.push({ target, maxAge, verdict: assessRecords(own, now, maxAge, describeTarget(target)) });
  }
  const shown = assessed.flatMap(({ verdict }) => [verdict.newest, verdict.lastFailure]).filter((r): r is LedgerRecord => r !== null);
  const described = new Map((await describeRecords(deps, shown)).map((r) => [r.id, r]));
  const listed = (record: LedgerRecord | null) => (record ? described.get(record.id)! : null);
  const health: TargetHealth[] = assessed.map(({ target, maxAge, verdict }) => ({
    kind: target.kind,
    organization_id: target.kind === 'organization' ? target.organizationId : null,
    tenant: target.kind === 'database' ? target.tenant : null,
    target: describeTarget(target),
    ok: !verdict.stale && !verdict.shrunk,
    stale: verdict.stale,
    shrunk: verdict.shrunk,
    max_age_hours: maxAge,
    age_hours: verdict.ageHours,
    newest_success: listed(verdict.newest),
    last_failure: listed(verdict.lastFailure),
    failing: verdict.failing,
    size_trend: verdict.sizeTrend,
    storage_bytes: verdict.storageBytes,
    problems: verdict.problems,
  }));
  const count = (test: (t: TargetHealth) => boolean) => health.filter(test).length;
  return {
    ok: health.every((t) => t.ok) && warnings.length === 0,
    checked_at: now.toISOString().slice(0, 19) + 'Z',
    targets: health,
    summary: {
      targets: health.length,
      ok: count((t) => t.ok),
      stale: count((t) => t.stale),
      shrunk: count((t) => t.shrunk),
      failing: count((t) => t.failing),
      storage_bytes: health.reduce((sum, t) => sum + t.storage_bytes, 0),
    },
    warnings,
  };
}

/** Sends one `stale` event listing every problem (webhook / e-mail with "stale" in `on`). */
export async function notifyStale(deps: Pick<Deps, 'config' | 'clock'>, report: HealthReport, hooks: NotifyHooks = {}): Promise<void> {
  const notifications = deps.config.notifications;
  if (report.ok || !notifications) return;
  const notify = await import('../notify/index.js');
  const problems = [...report.targets.flatMap((t) => t.problems), ...report.warnings];
  const reports = await notify.notify(
    notifications,
    notify.staleEvent(problems, { host: notify.hostName(), now: deps.clock.now() }),
    { broadcast: true, ping: null },
    { signal: hooks.signal },
  );
  for (const failed of reports.filter((r) => !r.ok)) hooks.onDeliveryFailure?.(notify.deliveryFailureText(failed), failed);
}

async function monitoredOrganizations(deps: Pick<Deps, 'config' | 'ledger'>): Promise<{ organizations: string[]; warnings: string[] }> {
  const ids = new Set((await deps.ledger.owners()).flatMap((owner) => (owner.kind === 'organization' ? [owner.organization_id] : [])));
  const off = new Set<string>();
  const warnings: string[] = [];
  if (deps.config.organizations) {
    try {
      const { withOrganizationsSession } = await import('./organizations.js');
      await withOrganizationsSession(deps, async (session, config) => {
        for (const id of await session.listOrganizationIds(config)) {
          ids.add(id);
          const row = (await session.findOrganizations(config, id)).find((r) => r.id === id);
          if (row?.autoBackupEnabled === false) off.add(id);
        }
      });
    } catch (error) {
      warnings.push(`The organizations table could not be read (${describeCause(error)}); showing the organizations the ledger knows.`);
    }
  }
  const organizations: string[] = [];
  for (const id of [...ids].sort(compareIds)) {
    if (off.has(id)) continue;
    if ((await deps.ledger.getOrganizationSettings(id)).auto_backup_enabled) organizations.push(id);
  }
  return { organizations, warnings };
}

/** Numeric ids in numeric order, then the rest alphabetically. */
function compareIds(a: string, b: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) return a.length - b.length || a.localeCompare(b);
  return numeric.test(a) ? -1 : numeric.test(b) ? 1 : a.localeCompare(b);
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
