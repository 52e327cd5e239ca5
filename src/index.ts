/**
 * The library API. Node applications import use cases from here, e.g.
 *   const deps = await createDeps({ configPath: '.backuprc' });
 *   const { records } = await listBackups(deps, { kind: 'organization', organizationId: '42' });
 */
export { createDeps, silentProgress, type Deps, type Progress, type CreateDepsOptions } from './core/context.js';
export { backupOrganization, type OrganizationBackupOptions, type OrganizationBackupResult } from './core/backup-organization.js';
export { restoreOrganization, type OrganizationRestoreOptions, type OrganizationRestoreResult } from './core/restore-organization.js';
export { autoBackup, autoSkipReason, setAutoBackupEnabled, type AutoOptions, type AutoResult, type SkipReason } from './core/auto.js';
export { autoBackupAll, type AutoAllResult } from './core/auto-all.js';
export { organizationStatus, checkOrganizationFreshness, type OrganizationStatus, type FreshnessCheck } from './core/status.js';
export { planOrganizationTables } from './core/plan-organization.js';
export { backupTenant, type TenantBackupOptions, type TenantBackupResult } from './core/backup-tenant.js';
export { restoreTenant, type TenantRestoreOptions, type TenantRestoreResult } from './core/restore-tenant.js';
export { pruneTenantBackups, type PruneOptions, type PruneResult } from './core/prune.js';
export { selectForRemoval, type RetentionPolicy } from './retention/policy.js';
export { listBackups, type ListResult } from './core/list.js';
export { deleteBackup, type DeleteOptions, type DeleteResult } from './core/delete.js';
export { targetFrom, type Target } from './core/targets.js';
export { loadConfig, resolveConfig, findConfigFile, type ResolvedConfig } from './config/load.js';
export type { OrganizationsConfig, TenantConfig, DatabaseClient, RetentionConfig } from './config/schema.js';
export { JsonFileLedger } from './ledger/json-file.js';
export type { Ledger, LedgerRecord, BackupStatus, BackupKind, OrganizationSettings } from './ledger/types.js';
export { LocalStore } from './store/local.js';
export type { Store, StoredFile } from './store/types.js';
export { systemClock, frozenClock, type Clock, type Weekday } from './retention/clock.js';
export * from './errors.js';
export { TOOL_VERSION } from './version.js';
