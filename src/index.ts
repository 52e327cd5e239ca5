/**
 * The library API. Node applications import use cases from here, e.g.
 *   const deps = await createDeps({ configPath: '.backuprc' });
 *   const { records } = await listBackups(deps, { kind: 'organization', organizationId: '42' });
 */
export { createDeps, silentProgress, type Deps, type Progress, type CreateDepsOptions } from './core/context.js';
export { listBackups, type ListResult } from './core/list.js';
export { deleteBackup, type DeleteOptions, type DeleteResult } from './core/delete.js';
export { targetFrom, type Target } from './core/targets.js';
export { loadConfig, resolveConfig, findConfigFile, type ResolvedConfig } from './config/load.js';
export type { OrganizationsConfig, TenantConfig, DatabaseClient } from './config/schema.js';
export { JsonFileLedger } from './ledger/json-file.js';
export type { Ledger, LedgerRecord, BackupStatus, BackupKind, OrganizationSettings } from './ledger/types.js';
export { LocalStore } from './store/local.js';
export type { Store, StoredFile } from './store/types.js';
export { systemClock, frozenClock, type Clock, type Weekday } from './retention/clock.js';
export * from './errors.js';
export { TOOL_VERSION } from './version.js';
