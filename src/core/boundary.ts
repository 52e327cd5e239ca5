/**
 * The library's boundary. Every use case exported from the package is wrapped here: its input is
 * checked — and normalised — before anything runs, so plain JavaScript callers can neither write a
 * malformed record into the ledger (a number where the ledger keeps strings would make every later
 * command fail) nor reach a database with an unchecked id. Numbers (and bigints) given for ids are
 * accepted and become strings; anything else that is not what the option takes is a UsageError
 * (exit code 2 in the CLI) naming the option.
 */
import type { BackupStatus } from '../ledger/types.js';
import * as auto from './auto.js';
import * as autoAll from './auto-all.js';
import * as autoDetach from './auto-detach.js';
import * as backupAll from './backup-all.js';
import * as backupOrg from './backup-organization.js';
import * as backupTen from './backup-tenant.js';
import type { Deps } from './context.js';
import { callback, checkDeps, checkOptions, defined, fail, flag, id, oneOf, positive, signal, string, target, tenant, userId } from './boundary-checks.js';
import * as deleting from './delete.js';
import * as getting from './get.js';
import * as listing from './list.js';
import * as notified from './notified.js';
import * as notifyTest from './notify-test.js';
import * as organizations from './organizations.js';
import * as planning from './plan-report.js';
import * as pruning from './prune.js';
import * as restoreOrg from './restore-organization.js';
import * as restoreTen from './restore-tenant.js';
import * as status from './status.js';
import * as statusAll from './status-all.js';
import * as verifying from './verify.js';
import type { Target } from './targets.js';

// ------------------------------------------------------------------------------------------
// The exported use cases

const AUTO_KEYS = ['organizationId', 'userId', 'role', 'owner', 'signal'] as const;

function autoOptions(fn: string, raw: unknown): auto.AutoOptions {
  const o = checkOptions(fn, raw, AUTO_KEYS);
  return defined({
    organizationId: id(fn, 'organizationId', o.organizationId, true),
    userId: userId(fn, o.userId),
    role: string(fn, 'role', o.role),
    owner: flag(fn, 'owner', o.owner),
    signal: signal(fn, o.signal),
  });
}

// The backups run with their notifications (notified.ts): a library caller's configuration says
// where they go, exactly as for the CLI.
export const autoBackup: typeof auto.autoBackup = async (deps, options) => {
  checkDeps('autoBackup', deps);
  return notified.autoBackupNotified(deps, autoOptions('autoBackup', options));
};

export const autoSkipReason: typeof auto.autoSkipReason = async (deps, options) => {
  checkDeps('autoSkipReason', deps);
  return auto.autoSkipReason(deps, autoOptions('autoSkipReason', options));
};

export const autoBackupDetached: typeof autoDetach.autoBackupDetached = async (deps, options) => {
  checkDeps('autoBackupDetached', deps);
  return autoDetach.autoBackupDetached(deps, autoOptions('autoBackupDetached', options));
};

export const setAutoBackupEnabled: typeof auto.setAutoBackupEnabled = async (deps, options) => {
  const fn = 'setAutoBackupEnabled';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId', 'enabled']);
  const enabled = flag(fn, 'enabled', o.enabled);
  if (enabled === undefined) fail(fn, 'enabled (true or false) is required.');
  return auto.setAutoBackupEnabled(deps, { organizationId: id(fn, 'organizationId', o.organizationId, true), enabled });
};

export const autoBackupAll: typeof autoAll.autoBackupAll = async (deps, options = {}) => {
  const fn = 'autoBackupAll';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['concurrency', 'userId', 'signal', 'onResult', 'onDeliveryFailure']);
  return autoAll.autoBackupAll(
    deps,
    defined({
      concurrency: positive(fn, 'concurrency', o.concurrency, true),
      userId: userId(fn, o.userId),
      signal: signal(fn, o.signal),
      onResult: callback<NonNullable<autoAll.AutoAllOptions['onResult']>>(fn, 'onResult', o.onResult),
      onDeliveryFailure: callback<(message: string) => void>(fn, 'onDeliveryFailure', o.onDeliveryFailure),
    }),
  );
};

export const backupAllTenants: typeof backupAll.backupAllTenants = async (deps, options = {}) => {
  const fn = 'backupAllTenants';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['concurrency', 'userId', 'rotate', 'keepLast', 'signal', 'onResult', 'onDeliveryFailure']);
  return backupAll.backupAllTenants(
    deps,
    defined({
      concurrency: positive(fn, 'concurrency', o.concurrency, true),
      userId: userId(fn, o.userId),
      rotate: oneOf(fn, 'rotate', o.rotate, ['weekday'] as const),
      keepLast: positive(fn, 'keepLast', o.keepLast, true),
      signal: signal(fn, o.signal),
      onResult: callback<NonNullable<backupAll.BackupAllOptions['onResult']>>(fn, 'onResult', o.onResult),
      onDeliveryFailure: callback<(message: string) => void>(fn, 'onDeliveryFailure', o.onDeliveryFailure),
    }),
  );
};

export const backupOrganization: typeof backupOrg.backupOrganization = async (deps, options) => {
  const fn = 'backupOrganization';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId', 'userId', 'backupType', 'signal', 'honourDisabledColumn']);
  return notified.backupOrganizationNotified(
    deps,
    defined({
      organizationId: id(fn, 'organizationId', o.organizationId, true),
      userId: userId(fn, o.userId),
      backupType: oneOf(fn, 'backupType', o.backupType, ['manual', 'auto_daily'] as const),
      signal: signal(fn, o.signal),
      honourDisabledColumn: flag(fn, 'honourDisabledColumn', o.honourDisabledColumn),
    }),
  );
};

export const restoreOrganization: typeof restoreOrg.restoreOrganization = async (deps, options) => {
  const fn = 'restoreOrganization';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId', 'backup', 'dryRun', 'confirm', 'cwd', 'signal']);
  return restoreOrg.restoreOrganization(
    deps,
    defined({
      organizationId: id(fn, 'organizationId', o.organizationId, true),
      backup: string(fn, 'backup', o.backup, true)!,
      dryRun: flag(fn, 'dryRun', o.dryRun),
      confirm: callback<(question: string) => Promise<boolean>>(fn, 'confirm', o.confirm),
      cwd: string(fn, 'cwd', o.cwd),
      signal: signal(fn, o.signal),
    }),
  );
};

export const backupTenant: typeof backupTen.backupTenant = async (deps, options) => {
  const fn = 'backupTenant';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['tenant', 'userId', 'rotate', 'keepLast', 'backupType', 'signal', 'searchPath']);
  return notified.backupTenantNotified(
    deps,
    defined({
      tenant: tenant(fn, o.tenant)!,
      userId: userId(fn, o.userId),
      rotate: oneOf(fn, 'rotate', o.rotate, ['weekday'] as const),
      keepLast: positive(fn, 'keepLast', o.keepLast, true),
      backupType: oneOf(fn, 'backupType', o.backupType, ['manual', 'auto_daily', 'pre_restore'] as const),
      signal: signal(fn, o.signal),
      searchPath: string(fn, 'searchPath', o.searchPath),
    }),
  );
};

export const restoreTenant: typeof restoreTen.restoreTenant = async (deps, options) => {
  const fn = 'restoreTenant';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['tenant', 'backup', 'dryRun', 'safetyBackup', 'confirm', 'signal', 'userId', 'cwd', 'searchPath']);
  return restoreTen.restoreTenant(
    deps,
    defined({
      tenant: tenant(fn, o.tenant)!,
      backup: string(fn, 'backup', o.backup, true)!,
      dryRun: flag(fn, 'dryRun', o.dryRun),
      safetyBackup: flag(fn, 'safetyBackup', o.safetyBackup),
      confirm: callback<(question: string) => Promise<boolean>>(fn, 'confirm', o.confirm),
      signal: signal(fn, o.signal),
      userId: userId(fn, o.userId),
      cwd: string(fn, 'cwd', o.cwd),
      searchPath: string(fn, 'searchPath', o.searchPath),
    }),
  );
};

export const pruneTenantBackups: typeof pruning.pruneTenantBackups = async (deps, options = {}) => {
  const fn = 'pruneTenantBackups';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['tenant', 'keepLast', 'dryRun']);
  return pruning.pruneTenantBackups(
    deps,
    defined({ tenant: tenant(fn, o.tenant, false), keepLast: positive(fn, 'keepLast', o.keepLast, true), dryRun: flag(fn, 'dryRun', o.dryRun) }),
  );
};

/** `listBackups(deps, { target, status, since, limit })`; a bare target as second argument still works. */
export const listBackups = async (deps: Parameters<typeof listing.listBackups>[0], options: listing.ListOptions | Target = {}): Promise<listing.ListResult> => {
  const fn = 'listBackups';
  checkDeps(fn, deps);
  const raw = options !== null && typeof options === 'object' && 'kind' in options ? { target: options } : options;
  const o = checkOptions(fn, raw, ['target', 'status', 'since', 'limit', 'checkStorage']);
  if (o.since !== undefined && !(o.since instanceof Date) && typeof o.since !== 'string') fail(fn, 'since must be a Date or a string like "7d" or "2026-11-20".');
  return listing.listBackups(
    deps,
    defined({
      target: target(fn, o.target, false),
      status: oneOf<BackupStatus>(fn, 'status', o.status, ['success', 'failed', 'in_progress']),
      since: o.since as Date | string | undefined,
      limit: positive(fn, 'limit', o.limit, true),
      checkStorage: flag(fn, 'checkStorage', o.checkStorage),
    }),
  );
};

export const deleteBackup: typeof deleting.deleteBackup = async (deps, options) => {
  const fn = 'deleteBackup';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['target', 'backup', 'confirm', 'cwd']);
  const confirm = callback<(question: string) => Promise<boolean>>(fn, 'confirm', o.confirm);
  if (!confirm) fail(fn, 'confirm (a function returning a promise of true/false) is required; pass async () => true to delete without asking.');
  return deleting.deleteBackup(deps, defined({ target: target(fn, o.target, true)!, backup: string(fn, 'backup', o.backup, true)!, confirm, cwd: string(fn, 'cwd', o.cwd) }));
};

export const backupStatus: typeof status.backupStatus = async (deps, options) => {
  checkDeps('backupStatus', deps);
  const o = checkOptions('backupStatus', options, ['target']);
  return status.backupStatus(deps, { target: target('backupStatus', o.target, true)! });
};

export const organizationStatus: typeof status.organizationStatus = async (deps, options) => {
  const fn = 'organizationStatus';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId']);
  return status.organizationStatus(deps, { organizationId: id(fn, 'organizationId', o.organizationId, true) });
};

export const tenantStatus: typeof status.tenantStatus = async (deps, options) => {
  checkDeps('tenantStatus', deps);
  const o = checkOptions('tenantStatus', options, ['tenant']);
  return status.tenantStatus(deps, { tenant: tenant('tenantStatus', o.tenant)! });
};

export const healthReport: typeof statusAll.healthReport = async (deps, options = {}) => {
  const fn = 'healthReport';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['maxAgeHours']);
  return statusAll.healthReport(deps, defined({ maxAgeHours: positive(fn, 'maxAgeHours', o.maxAgeHours, false) }));
};

export const testNotifications: typeof notifyTest.testNotifications = async (deps, options = {}) => {
  const fn = 'testNotifications';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['signal']);
  return notifyTest.testNotifications(deps, defined({ signal: signal(fn, o.signal) }));
};

function maxAge(fn: string, value: unknown): number {
  const hours = positive(fn, 'maxAgeHours', value, false);
  if (hours === undefined) fail(fn, 'maxAgeHours (a positive number) is required.');
  return hours;
}

export const checkFreshness: typeof status.checkFreshness = async (deps, options) => {
  const fn = 'checkFreshness';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['target', 'maxAgeHours']);
  return status.checkFreshness(deps, { target: target(fn, o.target, true)!, maxAgeHours: maxAge(fn, o.maxAgeHours) });
};

export const checkOrganizationFreshness: typeof status.checkOrganizationFreshness = async (deps, options) => {
  const fn = 'checkOrganizationFreshness';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId', 'maxAgeHours']);
  return status.checkOrganizationFreshness(deps, { organizationId: id(fn, 'organizationId', o.organizationId, true), maxAgeHours: maxAge(fn, o.maxAgeHours) });
};

export const resolveOrganizationId = async (deps: Pick<Deps, 'config'>, reference: unknown, options: organizations.ResolveOptions = {}): Promise<string> => {
  const fn = 'resolveOrganizationId';
  if (typeof deps !== 'object' || deps === null || !deps.config) fail(fn, 'the first argument must be the object that createDeps() returns.');
  return organizations.resolveOrganizationId(deps, id(fn, 'reference', reference, true), options);
};

export const targetFrom = (options: { tenant?: unknown; org?: unknown }): Target => {
  const fn = 'targetFrom';
  const o = checkOptions(fn, options, ['tenant', 'org']);
  if (o.tenant !== undefined && o.org !== undefined) fail(fn, 'give either a tenant or an organization (org), not both.');
  if (o.org !== undefined) return { kind: 'organization', organizationId: id(fn, 'org', o.org, true) };
  if (o.tenant !== undefined) return { kind: 'database', tenant: tenant(fn, o.tenant)! };
  fail(fn, 'say whose backups: tenant or org.');
};

export const planOrganizationReport: typeof planning.planOrganizationReport = async (deps, options) => {
  const fn = 'planOrganizationReport';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['organizationId', 'signal']);
  return planning.planOrganizationReport(deps, defined({ organizationId: id(fn, 'organizationId', o.organizationId, true), signal: signal(fn, o.signal) }));
};

export const verifyBackups: typeof verifying.verifyBackups = async (deps, options = {}) => {
  const fn = 'verifyBackups';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['target', 'backup', 'all', 'signal']);
  return verifying.verifyBackups(
    deps,
    defined({ target: target(fn, o.target, false), backup: string(fn, 'backup', o.backup), all: flag(fn, 'all', o.all), signal: signal(fn, o.signal) }),
  );
};

export const getBackup: typeof getting.getBackup = async (deps, options) => {
  const fn = 'getBackup';
  checkDeps(fn, deps);
  const o = checkOptions(fn, options, ['target', 'backup', 'output', 'cwd', 'signal']);
  const output = o.output;
  if (output !== undefined && typeof output !== 'string' && !(output && typeof (output as { write?: unknown }).write === 'function')) {
    fail(fn, 'output must be a file path or a writable stream.');
  }
  return getting.getBackup(
    deps,
    defined({
      target: target(fn, o.target, true)!,
      backup: string(fn, 'backup', o.backup, true)!,
      output: output as getting.GetOptions['output'],
      cwd: string(fn, 'cwd', o.cwd),
      signal: signal(fn, o.signal),
    }),
  );
};
