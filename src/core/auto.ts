/**
 * `auto --org <id>`: what a login hook or cron calls. Makes today's backup of the organization
 * only if none exists yet — once, even when many processes race — and is cheap when there is
 * nothing to do: the skip rules read only the configuration and the ledger (no driver is
 * loaded, no connection opened).
 *
 * Rules, in order: super admin → skip; role not allowed (unless owner) → skip; disabled in the
 * ledger's settings → skip; a success for today (configured time zone) → skip; otherwise back
 * up under the organization's lock. Losing the race for the lock is a skip ("in progress"),
 * and the rule "done today" is checked again once the lock is held.
 */
import type { LedgerRecord, OrganizationSettings } from '../ledger/types.js';
import { DailySlotTakenError, LockedError, NotFoundError, describeCause } from '../errors.js';
import { hostIdentity } from '../ledger/host.js';
import { organizationLockKey } from './targets.js';
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
  | { action: 'skipped'; organization_id: string; reason: SkipReason; message: string; record?: LedgerRecord }
  | { action: 'created'; organization_id: string; record: LedgerRecord };

/** The rules that need neither a database nor the lock. `null` means a backup is due. */
export async function autoSkipReason(
  deps: Pick<Deps, 'config' | 'ledger' | 'clock' | 'store'>,
  options: AutoOptions,
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
  if (!(await deps.ledger.getOrganizationSettings(organizationId)).auto_backup_enabled) {
    return skip('disabled', disabledMessage(organizationId, 'ledger', deps.config.organizations?.table));
  }
  const { done } = await todaysBackup(deps, organizationId);
  if (done) return skip('already_done', `Today's backup of organization ${organizationId} exists: ${done.backup_filename}.`, done);
  return null;
}

export async function autoBackup(deps: Deps, options: AutoOptions): Promise<AutoResult> {
  const early = await autoSkipReason(deps, options);
  if (early) return early;
  const { organizationId } = options;
  const { backupOrganizationLocked, DisabledInDatabase } = await import('./backup-organization.js');
  const lockKey = organizationLockKey(organizationId);
  try {
    return await deps.ledger.withLock(lockKey, async (): Promise<AutoResult> => {
      // Runs that died (killed half-way) give today's slot back before it is judged.
      await deps.ledger.recoverInterrupted();
      const { done, stale } = await todaysBackup(deps, organizationId);
      if (done) {
        return { action: 'skipped', organization_id: organizationId, reason: 'already_done', message: `Today's backup of organization ${organizationId} exists: ${done.backup_filename}.`, record: done };
      }
      // Today's successes whose archive is gone from this store: forgotten (as `prune` would), so
      // that the ledger's once-a-day rule lets today's backup be made again.
      for (const record of stale) await deps.ledger.remove(record.id);
      const result = await backupOrganizationLocked(
        deps,
        { organizationId, userId: options.userId ?? null, backupType: 'auto_daily', signal: options.signal, honourDisabledColumn: true },
        lockKey,
      );
      return { action: 'created', organization_id: organizationId, record: result.record };
    });
  } catch (error) {
    if (error instanceof DailySlotTakenError) {
      const reason = error.existing.status === 'success' ? 'already_done' : 'in_progress';
      return { action: 'skipped', organization_id: organizationId, reason, message: error.message };
    }
    if (error instanceof LockedError) {
      return { action: 'skipped', organization_id: organizationId, reason: 'in_progress', message: `Another process is backing up organization ${organizationId} right now.` };
    }
    if (error instanceof DisabledInDatabase) {
      return { action: 'skipped', organization_id: organizationId, reason: 'disabled', message: disabledMessage(organizationId, 'column', deps.config.organizations?.table) };
    }
    throw error;
  }
}

/**
 * Today's successful record whose archive is still in the store (`done`), and today's successes
 * whose archive is gone from it (`stale`: removed by hand). A record made on another host whose
 * archive is not in this store counts as done: servers sharing a database ledger trust its word
 * (and `restore` says where the archive is).
 */
async function todaysBackup(
  deps: Pick<Deps, 'config' | 'ledger' | 'clock' | 'store'>,
  organizationId: string,
): Promise<{ done?: LedgerRecord; stale: LedgerRecord[] }> {
  const today = localDate(deps.clock.now(), deps.config.timezone);
  const entries = await deps.ledger.findEntries({ kind: 'organization', organization_id: organizationId, status: 'success', backup_date: today });
  const stale: LedgerRecord[] = [];
  for (const { record, host } of entries) {
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

export interface SetAutoBackupOptions {
  organizationId: string;
  enabled: boolean;
}

export interface SetAutoBackupResult {
  action: 'enabled' | 'disabled';
  organization_id: string;
  /** Whether the ledger's switch changed. */
  changed: boolean;
  settings: OrganizationSettings;
  /** The organizations table's `auto_backup_enabled` value; null without such a column (or when it could not be read). */
  database_column: boolean | null;
  /** Whether automatic backups of the organization will run: both switches on. */
  effective: boolean;
  /** What decides, in words (also printed by the CLI). */
  message: string;
  /** Why the column could not be read (database unreachable), if so. */
  column_error?: string;
}

/**
 * Sets the ledger's switch and reports the organizations table's column too, so that "enabled"
 * never hides a column that keeps backups off. An organization the table does not have is
 * refused (NotFoundError) before anything changes.
 */
export async function setAutoBackupEnabled(deps: Pick<Deps, 'ledger' | 'config'>, options: SetAutoBackupOptions): Promise<SetAutoBackupResult> {
  const { organizationId, enabled } = options;
  let column: boolean | null = null;
  let columnError: string | undefined;
  if (deps.config.organizations) {
    const { lookupOrganization } = await import('./organizations.js');
    try {
      const row = await lookupOrganization(deps, organizationId);
      if (!row) throw NotFoundError.organization(organizationId, deps.config.organizations.table);
      column = row.autoBackupEnabled;
    } catch (error) {
      if (error instanceof NotFoundError) throw error;
      columnError = describeCause(error);
    }
  }
  const before = await deps.ledger.getOrganizationSettings(organizationId);
  const settings = await deps.ledger.setOrganizationSettings(organizationId, { auto_backup_enabled: enabled });
  const changed = before.auto_backup_enabled !== enabled;
  const effective = enabled && column !== false;
  const table = deps.config.organizations?.table ?? 'organizations';
  const noChange = changed ? '' : ' (no change)';
  const message = !enabled
    ? `Automatic backups disabled for organization ${organizationId}${noChange} (tenant-backup's own switch, in the ledger).`
    : column === false
      ? `tenant-backup's own switch is on for organization ${organizationId}${noChange}, but automatic backups stay OFF: ${disabledMessage(organizationId, 'column', table)}`
      : `Automatic backups enabled for organization ${organizationId}${noChange}.` +
        (columnError ? ` The auto_backup_enabled column of table "${table}" could not be checked (${columnError}); if it is false, backups stay off.` : '');
  return {
    action: enabled ? 'enabled' : 'disabled',
    organization_id: organizationId,
    changed,
    settings,
    database_column: column,
    effective,
    message,
    ...(columnError ? { column_error: columnError } : {}),
  };
}
