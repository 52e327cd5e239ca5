/**
 * `auto`'s rules that need neither a database nor a lock (the skip path): roles, the ledger's
 * switch, today's backup. Kept apart from the backup itself (auto.ts) so that the launcher's
 * shortcut (core/auto-fast.ts) loads nothing of the backup machinery.
 */
import { hostIdentity } from '../ledger/host.js';
import type { LedgerEntry, LedgerRecord, OrganizationDay } from '../ledger/types.js';
import { localDate } from '../retention/clock.js';
import { ORGANIZATIONS_AREA } from '../retention/naming.js';
import type { Deps } from './context.js';

export type SkipReason = 'super_admin' | 'role_not_allowed' | 'disabled' | 'already_done' | 'in_progress';

export interface AutoOptions {
  organizationId: string;
  userId?: string | null;
  /** The caller's role; absent means an operator or cron call, which always proceeds. */
  role?: string;
  owner?: boolean;
  signal?: AbortSignal;
}

export type AutoResult =
  { action: 'skipped'; organization_id: string; reason: SkipReason; message: string; record?: LedgerRecord } | { action: 'created'; organization_id: string; record: LedgerRecord };

/**
 * The rules that need neither a database nor the lock. `null` means a backup is due. `known`: the
 * organization's day as a run has read it already (auto --all's one read of the ledger), used
 * when it is of today.
 */
export async function autoSkipReason(
  deps: Pick<Deps, 'config' | 'ledger' | 'clock' | 'store'>,
  options: AutoOptions,
  known?: { date: string; day: OrganizationDay },
): Promise<Extract<AutoResult, { action: 'skipped' }> | null> {
  const { organizationId } = options;
  const skip = (reason: SkipReason, message: string, record?: LedgerRecord) =>
    ({ action: 'skipped', organization_id: organizationId, reason, message, ...(record ? { record } : {}) }) as const;
  const rules = deps.config.auto;
  if (options.role !== undefined) {
    // Roles compare case-insensitively: `Admin` from one application is `admin` in the configuration.
    const role = options.role.toLowerCase();
    const among = (roles: readonly string[]) => roles.some((r) => r.toLowerCase() === role);
    if (among(rules.superAdminRoles)) return skip('super_admin', 'Super admins manage all organizations; no automatic backup on their login.');
    if (!options.owner && !among(rules.allowedRoles)) {
      return skip('role_not_allowed', `Role "${options.role}" does not trigger automatic backups (allowed: ${rules.allowedRoles.join(', ')}, or --owner).`);
    }
  }
  const today = localDate(deps.clock.now(), deps.config.timezone);
  const { settings, successes } = known?.date === today ? known.day : await deps.ledger.dayOfOrganization(organizationId, today);
  if (!settings.auto_backup_enabled) return skip('disabled', disabledMessage(organizationId, 'ledger', deps.config.organizations?.table));
  const { done } = await judgeToday(deps, successes);
  if (done) return skip('already_done', `Today's backup of organization ${organizationId} exists: ${done.backup_filename}.`, done);
  return null;
}

/**
 * Of today's successes: the one whose archive is still in the store (`done`), and those whose
 * archive is gone from it (`stale`: removed by hand). A record made on another host whose archive
 * is not in this store counts as done: servers sharing a database ledger trust its word (and
 * `restore` says where the archive is).
 */
export async function judgeToday(deps: Pick<Deps, 'store'>, successes: readonly LedgerEntry[]): Promise<{ done?: LedgerRecord; stale: LedgerRecord[] }> {
  const stale: LedgerRecord[] = [];
  for (const { record, host } of successes) {
    const file = await deps.store.stat(ORGANIZATIONS_AREA, record.backup_filename).catch(() => null);
    if (file?.bytes === record.backup_size) return { done: record, stale };
    if (file === null && host !== null && host !== hostIdentity()) return { done: record, stale };
    stale.push(record);
  }
  return { stale };
}

/**
 * Which of the two switches stops automatic backups, and what to change. The ledger's switch is
 * this tool's (`auto --enable/--disable`); the organizations table's `auto_backup_enabled`
 * column is the application's. Either one being off is enough to skip.
 */
export function disabledMessage(organizationId: string, by: 'ledger' | 'column', table = 'organizations'): string {
  return by === 'ledger'
    ? `Automatic backups are disabled for organization ${organizationId} by tenant-backup's own switch (in the ledger); \`tenant-backup auto --org ${organizationId} --enable\` turns it back on.`
    : `Automatic backups are disabled for organization ${organizationId} by the auto_backup_enabled column of table "${table}" (false there); ` +
        `tenant-backup's own switch cannot override it: set that column to true in the application.`;
}
