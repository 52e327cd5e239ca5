/**
 * `status --org <id>`: the weekly grid of the reference UI (one slot per weekday, Monday first,
 * today marked), whether automatic backups are enabled, and the recent history. `--check` turns
 * it into a monitoring probe: the newest successful backup must be younger than a limit.
 * Reads only the ledger: no database connection.
 */
import { TenantBackupError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { WEEKDAYS, localDate, localWeekday, type Weekday } from '../retention/clock.js';
import type { Deps } from './context.js';

export interface WeekdaySlot {
  weekday: Weekday;
  /** The calendar date of this weekday in the current week (Monday first), configured time zone. */
  date: string;
  is_today: boolean;
  /** The newest successful backup of that weekday (its archive is the one kept), or null. */
  backup: LedgerRecord | null;
  /** A newer attempt than `backup` that did not succeed (failed / in progress), or null. */
  latest_attempt: LedgerRecord | null;
}

export interface OrganizationStatus {
  organization_id: string;
  auto_backup_enabled: boolean;
  today: { date: string; weekday: Weekday; timezone: string };
  week: WeekdaySlot[];
  newest_success: LedgerRecord | null;
  history: LedgerRecord[];
}

export const HISTORY_LENGTH = 30;

export async function organizationStatus(deps: Pick<Deps, 'config' | 'ledger' | 'clock'>, organizationId: string): Promise<OrganizationStatus> {
  await deps.ledger.recoverInterrupted();
  const now = deps.clock.now();
  const records = await deps.ledger.find({ kind: 'organization', organization_id: organizationId });
  const settings = await deps.ledger.getOrganizationSettings(organizationId);
  const today = localWeekday(now, deps.config.timezone);
  const todayDate = localDate(now, deps.config.timezone);
  const todayIndex = WEEKDAYS.indexOf(today);
  const week = WEEKDAYS.map((weekday, index): WeekdaySlot => {
    const ofDay = records.filter((r) => r.day_of_week === weekday);
    const backup = ofDay.find((r) => r.status === 'success') ?? null;
    const newest = ofDay[0] ?? null;
    return {
      weekday,
      date: addDays(todayDate, index - todayIndex),
      is_today: weekday === today,
      backup,
      latest_attempt: newest && newest !== backup ? newest : null,
    };
  });
  return {
    organization_id: organizationId,
    auto_backup_enabled: settings.auto_backup_enabled,
    today: { date: localDate(now, deps.config.timezone), weekday: today, timezone: deps.config.timezone },
    week,
    newest_success: records.find((r) => r.status === 'success') ?? null,
    history: records.slice(0, HISTORY_LENGTH),
  };
}

/** `YYYY-MM-DD` plus `days` (calendar arithmetic, no time zone involved). */
function addDays(date: string, days: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}

export interface FreshnessCheck {
  ok: boolean;
  organization_id: string;
  max_age_hours: number;
  age_hours: number | null;
  newest_success: LedgerRecord | null;
}

/** Monitoring: fails (code STALE) when there is no successful backup younger than `maxAgeHours`. */
export async function checkOrganizationFreshness(
  deps: Pick<Deps, 'config' | 'ledger' | 'clock'>,
  organizationId: string,
  maxAgeHours: number,
): Promise<FreshnessCheck> {
  const status = await organizationStatus(deps, organizationId);
  const newest = status.newest_success;
  const ageHours = newest ? (deps.clock.now().getTime() - Date.parse(newest.updated_at)) / 3_600_000 : null;
  const result = { ok: ageHours !== null && ageHours <= maxAgeHours, organization_id: organizationId, max_age_hours: maxAgeHours, age_hours: ageHours === null ? null : Math.round(ageHours * 100) / 100, newest_success: newest };
  if (!result.ok) {
    throw new TenantBackupError(
      'STALE',
      newest
        ? `The newest successful backup of organization ${organizationId} is ${result.age_hours} hours old (limit ${maxAgeHours}).`
        : `Organization ${organizationId} has no successful backup.`,
      { details: { ...result } },
    );
  }
  return result;
}
