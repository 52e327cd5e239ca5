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
import type { OrganizationDay, OrganizationSettings } from '../ledger/types.js';
import type { ConnectionSource } from './organization-run.js';
import { DailySlotTakenError, LockedError, NotFoundError, describeCause } from '../errors.js';
import { organizationLockKey } from './targets.js';
import { localDate } from '../retention/clock.js';
import type { Deps } from './context.js';
import { autoSkipReason, disabledMessage, judgeToday, type AutoOptions, type AutoResult } from './auto-rules.js';

export { autoSkipReason, disabledMessage, type AutoOptions, type AutoResult, type SkipReason } from './auto-rules.js';

/**
 * What an `auto --all` run shares with each of its organizations: the organization's day from the
 * run's one read of the ledger (the skip rules use it; once the lock is held the day is read
 * again, exactly), and the run's sessions and catalogue.
 */
export interface AutoInRun {
  known?: { date: string; day: OrganizationDay };
  connections: ConnectionSource;
}

export async function autoBackup(deps: Deps, options: AutoOptions, run?: AutoInRun): Promise<AutoResult> {
  const early = await autoSkipReason(deps, options, run?.known);
  if (early) return early;
  const { organizationId } = options;
  const { backupOrganizationLocked, DisabledInDatabase } = await import('./backup-organization.js');
  const lockKey = organizationLockKey(organizationId);
  try {
    return await deps.ledger.withLock(lockKey, async (): Promise<AutoResult> => {
      // Runs that died (killed half-way) give today's slot back before it is judged.
      await deps.ledger.recoverInterrupted();
      const today = localDate(deps.clock.now(), deps.config.timezone);
      const { done, stale } = await judgeToday(deps, (await deps.ledger.dayOfOrganization(organizationId, today)).successes);
      if (done) {
        return {
          action: 'skipped',
          organization_id: organizationId,
          reason: 'already_done',
          message: `Today's backup of organization ${organizationId} exists: ${done.backup_filename}.`,
          record: done,
        };
      }
      // Today's successes whose archive is gone from this store: forgotten (as `prune` would), so
      // that the ledger's once-a-day rule lets today's backup be made again.
      for (const record of stale) await deps.ledger.remove(record.id);
      const result = await backupOrganizationLocked(
        deps,
        // Within `auto --all`, organizations already run `concurrency` at a time on the run's
        // connections: one table at a time each keeps the run at concurrency + 1 connections.
        { organizationId, userId: options.userId ?? null, backupType: 'auto_daily', signal: options.signal, honourDisabledColumn: true, ...(run ? { jobs: 1 } : {}) },
        lockKey,
        run?.connections,
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
