/**
 * The backup use cases with their notifications (see notified-run.ts): what the CLI, the detached
 * `auto` child and the library's exports run. The use cases themselves know nothing of
 * notifications; these wrappers add them around each call.
 */
import { autoBackup, type AutoInRun, type AutoOptions, type AutoResult } from './auto.js';
import type { OrganizationBackupOptions, OrganizationBackupResult } from './backup-organization.js';
import type { TenantBackupOptions, TenantBackupResult } from './backup-tenant.js';
import type { Deps } from './context.js';
import { retryCommand, runNotified, type NotifiedTarget, type NotifyHooks } from './notified-run.js';
import { assertKnownTenant } from './targets.js';

export type { NotifyHooks } from './notified-run.js';

export async function backupTenantNotified(deps: Deps, options: TenantBackupOptions, hooks: NotifyHooks = {}, inRun?: NotifiedTarget['inRun']): Promise<TenantBackupResult> {
  // A tenant that is not configured is a typo, not a failed backup: refused before any event.
  assertKnownTenant(deps.config, options.tenant);
  const { backupTenant } = await import('./backup-tenant.js');
  const retry = retryCommand(deps, `backup ${options.tenant}${options.rotate ? ` --rotate ${options.rotate}` : ''}`);
  return runNotified(
    deps,
    { subject: { kind: 'database', tenant: options.tenant }, retry, start: true, ...(inRun ? { inRun } : {}) },
    (work) => backupTenant(work, options),
    (result) => result.record,
    { signal: options.signal, ...hooks },
  );
}

export async function backupOrganizationNotified(deps: Deps, options: OrganizationBackupOptions, hooks: NotifyHooks = {}): Promise<OrganizationBackupResult> {
  const { backupOrganization } = await import('./backup-organization.js');
  return runNotified(
    deps,
    { subject: { kind: 'organization', organizationId: options.organizationId }, retry: retryCommand(deps, `backup --org ${options.organizationId}`), start: true },
    (work) => backupOrganization(work, options),
    (result) => result.record,
    { signal: options.signal, ...hooks },
  );
}

/**
 * `auto`: notified only when it made or failed a backup; a skip (the login hook's usual answer)
 * sends nothing and loads nothing. No `start`: most calls end in a skip.
 */
export async function autoBackupNotified(deps: Deps, options: AutoOptions, hooks: NotifyHooks = {}, inRun?: NotifiedTarget['inRun'], run?: AutoInRun): Promise<AutoResult> {
  return runNotified(
    deps,
    {
      subject: { kind: 'organization', organizationId: options.organizationId },
      retry: retryCommand(deps, `auto --org ${options.organizationId}`),
      start: false,
      ...(inRun ? { inRun } : {}),
    },
    (work) => autoBackup(work, options, run),
    (result) => (result.action === 'created' ? result.record : null),
    { signal: options.signal, ...hooks },
  );
}
