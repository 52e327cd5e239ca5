/**
 * Pure retention for timestamped tenant backups (restic `forget` / spatie cleanup semantics).
 *
 * Rules, each counted over the candidates sorted newest first:
 * - keepLast N    — the N newest backups.
 * - keepDaily N   — the newest backup of each of the last N calendar days THAT HAVE backups.
 * - keepWeekly N  — the same per ISO week (Monday–Sunday).
 * - keepMonthly N — the same per calendar month.
 * Days, weeks and months are those of the configured time zone. A backup kept by any rule is
 * kept; the newest backup is always kept; with no rule at all nothing is removed.
 *
 * Which records are candidates (success, timestamped name, not a pre-restore safety backup) is
 * decided by `isRetentionCandidate`; `selectForRemoval` trusts its input.
 */
import type { BackupStatus } from '../ledger/types.js';
import { zonedParts } from './clock.js';
import { parseTenantArchiveName } from './naming.js';

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface RetentionCandidate {
  id: number;
  /** ISO-8601 instant of the backup. */
  created_at: string;
}

const RULES = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const;

/** True when at least one rule keeps a positive number of backups. */
export function hasRetentionRules(policy: RetentionPolicy | null | undefined): policy is RetentionPolicy {
  return policy != null && RULES.some((rule) => (policy[rule] ?? 0) > 0);
}

/** Records a policy may remove: successful, timestamped backups of `tenant` that are not safety backups. */
export function isRetentionCandidate(record: { status: BackupStatus; backup_filename: string; tenant: string | null }, backupType: string | null, tenant: string): boolean {
  if (record.status !== 'success' || record.tenant !== tenant || backupType === 'pre_restore') return false;
  const parsed = parseTenantArchiveName(record.backup_filename);
  return parsed !== null && parsed.tenant === tenant && parsed.stamp !== undefined;
}

/** Ids of the candidates the policy does not keep. */
export function selectForRemoval(records: readonly RetentionCandidate[], policy: RetentionPolicy, timeZone: string): number[] {
  if (!hasRetentionRules(policy) || records.length === 0) return [];
  const sorted = [...records].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id);
  const keep = new Set<number>([sorted[0]!.id]);

  const buckets: Record<(typeof RULES)[number], (record: RetentionCandidate) => string> = {
    keepLast: (record) => String(record.id),
    keepDaily: (record) => dayOf(record, timeZone),
    keepWeekly: (record) => isoWeekOf(dayOf(record, timeZone)),
    keepMonthly: (record) => dayOf(record, timeZone).slice(0, 7),
  };
  for (const rule of RULES) {
    let remaining = Math.max(0, Math.floor(policy[rule] ?? 0));
    let last: string | undefined;
    for (const record of sorted) {
      if (remaining === 0) break;
      const bucket = buckets[rule](record);
      if (bucket === last) continue;
      keep.add(record.id);
      last = bucket;
      remaining -= 1;
    }
  }
  return sorted.filter((record) => !keep.has(record.id)).map((record) => record.id);
}

function dayOf(record: RetentionCandidate, timeZone: string): string {
  const p = zonedParts(new Date(record.created_at), timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

/** `YYYY-MM-DD` → ISO week `YYYY-Www` (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekOf(day: string): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  const instant = new Date(Date.UTC(year, month - 1, date));
  const weekday = (instant.getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  instant.setUTCDate(instant.getUTCDate() - weekday + 3); // the Thursday of this week
  const weekYear = instant.getUTCFullYear();
  const dayOfYear = (instant.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000;
  return `${weekYear}-W${String(Math.floor(dayOfYear / 7) + 1).padStart(2, '0')}`;
}
