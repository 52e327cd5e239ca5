/**
 * The library API. Node applications import use cases from here, e.g.
 *   const deps = await createDeps({ configPath: '.backuprc' });
 *   const { records } = await listBackups(deps, { target: { kind: 'organization', organizationId: '42' }, status: 'failed' });
 *
 * Every use case is exported through `core/boundary.ts`, which checks and normalises its input
 * (ids given as numbers become strings; anything malformed is a UsageError) before it runs.
 */
export { createDeps, silentProgress, type Deps, type Progress, type CreateDepsOptions } from './core/context.js';
export {
  autoBackup,
  autoBackupAll,
  autoBackupDetached,
  autoSkipReason,
  backupAllTenants,
  backupOrganization,
  backupStatus,
  backupTenant,
  checkFreshness,
  checkOrganizationFreshness,
  deleteBackup,
  getBackup,
  healthReport,
  listBackups,
  organizationStatus,
  planOrganizationReport,
  pruneTenantBackups,
  resolveOrganizationId,
  restoreOrganization,
  restoreTenant,
  setAutoBackupEnabled,
  targetFrom,
  tenantStatus,
  testNotifications,
  verifyBackups,
} from './core/boundary.js';
export type { PlanReportOptions, OrganizationPlanReport } from './core/plan-report.js';
export type { VerifyOptions, VerifyResult } from './core/verify.js';
export type { GetOptions, GetResult } from './core/get.js';
export type { BackupAllItem, BackupAllOptions, BackupAllResult } from './core/backup-all.js';
export type { HealthReport, TargetHealth, SizeTrend } from './core/status-all.js';
export type { NotifyTestResult } from './core/notify-test.js';
export type { DeliveryReport, NotificationEvent, EventType } from './notify/types.js';
export type { OrganizationBackupOptions, OrganizationBackupResult } from './core/backup-organization.js';
export type { OrganizationRestoreOptions, OrganizationRestoreResult } from './core/restore-organization.js';
export type { AutoOptions, AutoResult, SkipReason, SetAutoBackupOptions, SetAutoBackupResult } from './core/auto.js';
export type { AutoAllResult, AutoAllItem, AutoAllOptions } from './core/auto-all.js';
export type { DetachedStart, DetachedResult } from './core/auto-detach.js';
export type { BackupStatus as BackupStatusReport, OrganizationStatus, FreshnessCheck, WeekdaySlot } from './core/status.js';
export { planOrganizationTables } from './core/plan-organization.js';
export type { TenantBackupOptions, TenantBackupResult } from './core/backup-tenant.js';
export type { TenantRestoreOptions, TenantRestoreResult } from './core/restore-tenant.js';
export type { PruneOptions, PruneResult } from './core/prune.js';
export { selectForRemoval, type RetentionPolicy } from './retention/policy.js';
export { parseSince, type ListOptions, type ListResult } from './core/list.js';
export type { ListedBackup } from './core/listed-record.js';
export type { DeleteOptions, DeleteResult } from './core/delete.js';
export type { Target } from './core/targets.js';
export { loadConfig, resolveConfig, findConfigFile, type ResolvedConfig } from './config/load.js';
export type { OrganizationsConfig, TenantConfig, DatabaseClient, RetentionConfig, RawConfig, NotificationsConfig, MonitorConfig } from './config/schema.js';
export { JsonFileLedger } from './ledger/json-file.js';
export { DatabaseLedger } from './ledger/database/index.js';
export type { Ledger, LedgerRecord, LedgerEntry, LedgerOwner, BackupStatus, BackupKind, OrganizationSettings } from './ledger/types.js';
export { LocalStore } from './store/local.js';
export type { Store, StoredFile } from './store/types.js';
export { systemClock, frozenClock, type Clock, type Weekday } from './retention/clock.js';
export * from './errors.js';
export { TOOL_VERSION } from './version.js';
