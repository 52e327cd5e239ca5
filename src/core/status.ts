/**
 * `status`: the weekly grid of the reference UI (one slot per weekday, Monday first, today
 * marked), whether automatic backups are enabled (organizations), and the recent history — for an
 * organization (`--org`) or a tenant database. `--check` turns it into a monitoring probe: the
 * newest successful backup must be younger than a limit; the result says so (`ok`), it never
 * throws for a stale backup.
 *
 * Reads the ledger. Only when the ledger knows nothing of an organization is the organizations
 * table asked whether it exists at all: an unknown organization is NotFound, not an empty grid.
 */
import { NotFoundError, UsageError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { WEEKDAYS, localDate, localWeekday, type Weekday } from '../retention/clock.js';
import type { Deps } from './context.js';
import { describeRecords, type ListedBackup } from './listed-record.js';
import { assertKnownTenant, describeTarget, type Target } from './targets.js';

export interface WeekdaySlot {
  weekday: Weekday;
  /** The calendar date of this weekday in the current week (Monday first), configured time zone. */
  date: string;
  is_today: boolean;
  /** The newest successful backup of that weekday (for organizations: the archive kept), or null. */
  backup: ListedBackup | null;
  /** A newer attempt than `backup` that did not succeed (failed / in progress), or null. */
  latest_attempt: ListedBackup | null;
}

export interface BackupStatus {
  kind: 'organization' | 'database';
  organization_id: string | null;
  tenant: string | null;
  /** Organizations: tenant-backup's own switch (the ledger's); null for tenants. */
  auto_backup_enabled: boolean | null;
  today: { date: string; weekday: Weekday; timezone: string };
  week: WeekdaySlot[];
  newest_success: ListedBackup | null;
  history: ListedBackup[];
}

/** The organization form of `BackupStatus` (kept for library callers). */
export type OrganizationStatus = BackupStatus;

export const HISTORY_LENGTH = 30;

type StatusDeps = Pick<Deps, 'config' | 'ledger' | 'clock'>;

export async function backupStatus(deps: StatusDeps, options: { target: Target }): Promise<BackupStatus> {
  const { target } = options;
  await deps.ledger.recoverInterrupted();
  const now = deps.clock.now();
  const records = await deps.ledger.find(
    target.kind === 'organization' ? { kind: 'organization', organization_id: target.organizationId } : { kind: 'database', tenant: target.tenant },
  );
  const settings = target.kind === 'organization' ? await deps.ledger.getOrganizationSettings(target.organizationId) : null;
  if (records.length === 0) {
    if (target.kind === 'database') assertKnownTenant(deps.config, target.tenant);
    else if (settings?.updated_at === null) await assertOrganizationExists(deps, target.organizationId);
  }
  const today = localWeekday(now, deps.config.timezone);
  const todayDate = localDate(now, deps.config.timezone);
  const todayIndex = WEEKDAYS.indexOf(today);
  const slots = WEEKDAYS.map((weekday, index) => {
    const ofDay = records.filter((r) => r.day_of_week === weekday);
    const backup = ofDay.find((r) => r.status === 'success') ?? null;
    const newest = ofDay[0] ?? null;
    return { weekday, date: addDays(todayDate, index - todayIndex), is_today: weekday === today, backup, latest: newest && newest !== backup ? newest : null };
  });
  const newestSuccess = records.find((r) => r.status === 'success') ?? null;
  const history = records.slice(0, HISTORY_LENGTH);
  // Only the records shown are described (their backup type read, their organization named).
  const shown = new Map<number, LedgerRecord>();
  for (const record of [...history, ...slots.flatMap((s) => [s.backup, s.latest]), newestSuccess]) if (record) shown.set(record.id, record);
  const described = new Map((await describeRecords(deps, [...shown.values()])).map((r) => [r.id, r]));
  const listed = (record: LedgerRecord | null) => (record ? described.get(record.id)! : null);
  return {
    kind: target.kind,
    organization_id: target.kind === 'organization' ? target.organizationId : null,
    tenant: target.kind === 'database' ? target.tenant : null,
    auto_backup_enabled: settings ? settings.auto_backup_enabled : null,
    today: { date: todayDate, weekday: today, timezone: deps.config.timezone },
    week: slots.map((slot) => ({ weekday: slot.weekday, date: slot.date, is_today: slot.is_today, backup: listed(slot.backup), latest_attempt: listed(slot.latest) })),
    newest_success: listed(newestSuccess),
    history: history.map((record) => listed(record)!),
  };
}

export async function organizationStatus(deps: StatusDeps, options: { organizationId: string }): Promise<BackupStatus> {
  return backupStatus(deps, { target: { kind: 'organization', organizationId: options.organizationId } });
}

export async function tenantStatus(deps: StatusDeps, options: { tenant: string }): Promise<BackupStatus> {
  return backupStatus(deps, { target: { kind: 'database', tenant: options.tenant } });
}

/** Nothing in the ledger: the organizations table decides whether the organization exists. */
async function assertOrganizationExists(deps: StatusDeps, organizationId: string): Promise<void> {
  const table = deps.config.organizations?.table ?? 'organizations';
  if (!deps.config.organizations) {
    throw new NotFoundError(`Organization ${organizationId} has no records in the ledger, and no "organizations" section is configured to look it up.`, {
      organization_id: organizationId,
    });
  }
  const { lookupOrganization } = await import('./organizations.js');
  if (!(await lookupOrganization(deps, organizationId))) throw NotFoundError.organization(organizationId, table);
}

/** `YYYY-MM-DD` plus `days` (calendar arithmetic, no time zone involved). */
function addDays(date: string, days: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}

export interface FreshnessCheck {
  /** True when the newest successful backup is at most `max_age_hours` old. */
  ok: boolean;
  kind: 'organization' | 'database';
  organization_id: string | null;
  tenant: string | null;
  max_age_hours: number;
  /** Hours since the newest success finished (2 decimals), null without any success. */
  age_hours: number | null;
  newest_success: ListedBackup | null;
  /** One line for people and monitoring logs. */
  message: string;
}

/** Monitoring: `ok: false` when there is no successful backup younger than `maxAgeHours`. */
export async function checkFreshness(deps: StatusDeps, options: { target: Target; maxAgeHours: number }): Promise<FreshnessCheck> {
  const { target, maxAgeHours } = options;
  if (!(maxAgeHours > 0)) throw new UsageError(`maxAgeHours must be a positive number, not ${String(maxAgeHours)}.`);
  const status = await backupStatus(deps, { target });
  const newest = status.newest_success;
  const raw = newest ? (deps.clock.now().getTime() - Date.parse(newest.updated_at)) / 3_600_000 : null;
  const ageHours = raw === null ? null : Math.round(raw * 100) / 100;
  const ok = raw !== null && raw <= maxAgeHours;
  const who = describeTarget(target);
  const message = ok
    ? `OK: the newest successful backup of ${who} is ${ageHours} hours old (limit ${maxAgeHours}).`
    : newest
      ? `STALE: the newest successful backup of ${who} is ${ageHours} hours old (limit ${maxAgeHours}).`
      : `STALE: ${who} has no successful backup.`;
  return {
    ok,
    kind: status.kind,
    organization_id: status.organization_id,
    tenant: status.tenant,
    max_age_hours: maxAgeHours,
    age_hours: ageHours,
    newest_success: newest,
    message,
  };
}

export async function checkOrganizationFreshness(deps: StatusDeps, options: { organizationId: string; maxAgeHours: number }): Promise<FreshnessCheck> {
  return checkFreshness(deps, { target: { kind: 'organization', organizationId: options.organizationId }, maxAgeHours: options.maxAgeHours });
}
