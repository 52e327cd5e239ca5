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
import type { LedgerRecord } from '../ledger/types.js';
import { LockedError } from '../errors.js';
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
    if (rules.superAdminRoles.includes(options.role)) return skip('super_admin', 'Super admins manage all organizations; no automatic backup on their login.');
    if (!options.owner && !rules.allowedRoles.includes(options.role)) {
      return skip('role_not_allowed', `Role "${options.role}" does not trigger automatic backups (allowed: ${rules.allowedRoles.join(', ')}, or --owner).`);
    }
  }
  if (!(await deps.ledger.getOrganizationSettings(organizationId)).auto_backup_enabled) {
    return skip('disabled', `Automatic backups are disabled for organization ${organizationId} (tenant-backup auto --org ${organizationId} --enable).`);
  }
  const done = await doneToday(deps, organizationId);
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
      const done = await doneToday(deps, organizationId);
      if (done) {
        return { action: 'skipped', organization_id: organizationId, reason: 'already_done', message: `Today's backup of organization ${organizationId} exists: ${done.backup_filename}.`, record: done };
      }
      const result = await backupOrganizationLocked(
        deps,
        { organizationId, userId: options.userId ?? null, backupType: 'auto_daily', signal: options.signal, honourDisabledColumn: true },
        lockKey,
      );
      return { action: 'created', organization_id: organizationId, record: result.record };
    });
  } catch (error) {
    if (error instanceof LockedError) {
      return { action: 'skipped', organization_id: organizationId, reason: 'in_progress', message: `Another process is backing up organization ${organizationId} right now.` };
    }
    if (error instanceof DisabledInDatabase) return { action: 'skipped', organization_id: organizationId, reason: 'disabled', message: error.message };
    throw error;
  }
}

/** Today's successful record whose archive is still in the store (removed by hand: not done). */
async function doneToday(deps: Pick<Deps, 'config' | 'ledger' | 'clock' | 'store'>, organizationId: string): Promise<LedgerRecord | undefined> {
  const today = localDate(deps.clock.now(), deps.config.timezone);
  const records = await deps.ledger.find({ kind: 'organization', organization_id: organizationId, status: 'success', backup_date: today });
  for (const record of records) {
    if ((await deps.store.stat(ORGANIZATIONS_AREA, record.backup_filename).catch(() => null))?.bytes === record.backup_size) return record;
  }
  return undefined;
}

export async function setAutoBackupEnabled(deps: Pick<Deps, 'ledger'>, organizationId: string, enabled: boolean) {
  const settings = await deps.ledger.getOrganizationSettings(organizationId);
  const updated = await deps.ledger.setOrganizationSettings(organizationId, { auto_backup_enabled: enabled });
  return { action: enabled ? 'enabled' : 'disabled', organization_id: organizationId, changed: settings.auto_backup_enabled !== enabled, settings: updated } as const;
}
