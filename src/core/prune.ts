/**
 * `prune [<tenant>] [--keep-last N] [--dry-run]`: applies the retention policy to the timestamped
 * backups of one tenant, or of every configured tenant (also run after each successful backup),
 * then the ledger's history policy (`ledger.keep`, retention/history.ts) to that tenant's records,
 * or to every record of the ledger.
 *
 * Policy: `retention` at the top level of the configuration, overridden key by key by
 * `tenants.<name>.retention`, with `keepLast` overridden by the `--keep-last` option. Without any
 * rule nothing is removed. Candidates come from the ledger (see `isRetentionCandidate`):
 * weekday-rotated archives, pre-restore safety backups, failed and running records are never
 * pruned, and files the ledger does not know are left alone.
 *
 * Each removal deletes the file, then its record, under the tenant's operation lock, so a prune
 * never races a backup or restore of the same tenant.
 */
import type { ResolvedConfig } from '../config/load.js';
import { LockedError } from '../errors.js';
import { hostIdentity } from '../ledger/host.js';
import type { HistoryPruneResult, LedgerEntry, LedgerRecord } from '../ledger/types.js';
import { ORGANIZATIONS_AREA, TENANT_DATABASES_AREA, type StoreArea } from '../retention/naming.js';
import { hasRetentionRules, isRetentionCandidate, selectForRemoval, type RetentionPolicy } from '../retention/policy.js';
import { historyPolicyOf, type Deps } from './context.js';
import { assertKnownTenant, tenantLockKey } from './targets.js';

export interface PruneOptions {
  /** One tenant; all configured tenants when absent. */
  tenant?: string;
  /** Overrides the configured keepLast. */
  keepLast?: number;
  /** Report what would be removed; remove nothing. */
  dryRun?: boolean;
}

export interface PruneResult {
  dry_run: boolean;
  /** Removed (or, with dryRun, to be removed) — files and records. */
  removed: LedgerRecord[];
  /** Candidates the policy keeps. */
  kept: LedgerRecord[];
  /** Tenants not pruned this time (busy: another operation holds the lock). */
  skipped: Array<{ tenant: string; reason: string }>;
  /** Records the ledger forgot (with dryRun: would forget) under its history policy. */
  history: HistoryPruneResult;
}

/** The effective policy of a tenant, or null when no rule applies. */
export function retentionPolicyFor(config: ResolvedConfig, tenant: string, keepLast?: number): RetentionPolicy | null {
  const { retention, tenants } = config;
  const policy: RetentionPolicy = { ...retention, ...tenants[tenant]?.retention };
  if (keepLast !== undefined) policy.keepLast = keepLast;
  return hasRetentionRules(policy) ? policy : null;
}

export async function pruneTenantBackups(deps: Deps, options: PruneOptions = {}): Promise<PruneResult> {
  if (options.tenant !== undefined) assertKnownTenant(deps.config, options.tenant);
  const tenants = options.tenant !== undefined ? [options.tenant] : Object.keys(deps.config.tenants).sort();
  const result: PruneResult = { dry_run: options.dryRun === true, removed: [], kept: [], skipped: [], history: { failures: 0, missing_archives: 0 } };
  for (const tenant of tenants) {
    const run = () => pruneTenantLocked(deps, tenant, options);
    try {
      const outcome = options.dryRun ? await run() : await deps.ledger.withLock(tenantLockKey(tenant), run);
      result.removed.push(...outcome.removed);
      result.kept.push(...outcome.kept);
    } catch (error) {
      // One busy tenant must not stop `prune` of all tenants; a named tenant reports it.
      if (!(error instanceof LockedError) || options.tenant !== undefined) throw error;
      result.skipped.push({ tenant, reason: error.message });
    }
  }
  result.history = await pruneLedgerHistory(deps, { tenant: options.tenant, dryRun: options.dryRun });
  return result;
}

/**
 * The history policy (`ledger.keep`) over one tenant's records or the whole ledger. A success's
 * archive is looked for in this store; on a local store, one made on another host and not found
 * here is kept (that host's disk may have it). A bucket is the same from every host: it is listed
 * once per area (not one request per record), and what it lacks is gone. Unknown (the store
 * could not be asked) keeps the record.
 */
export async function pruneLedgerHistory(deps: Pick<Deps, 'config' | 'ledger' | 'store'>, options: { tenant?: string; dryRun?: boolean } = {}): Promise<HistoryPruneResult> {
  const here = hostIdentity();
  const listings = new Map<StoreArea, Promise<Set<string>>>();
  const listed = (area: StoreArea) => {
    let names = listings.get(area);
    if (!names) {
      names = deps.store.list(area).then((files) => new Set(files.map((file) => file.name)));
      listings.set(area, names);
    }
    return names;
  };
  const archiveExists = async ({ record, host }: LedgerEntry): Promise<boolean | null> => {
    const area = record.kind === 'organization' ? ORGANIZATIONS_AREA : TENANT_DATABASES_AREA;
    if (deps.store.kind !== 'local') {
      return listed(area).then(
        (names) => names.has(record.backup_filename),
        () => null,
      );
    }
    const found = await deps.store.stat(area, record.backup_filename).then(
      (file) => file !== null,
      () => null,
    );
    return found === false && host !== null && host !== here ? null : found;
  };
  return deps.ledger.pruneHistory({
    policy: historyPolicyOf(deps.config),
    ...(options.tenant !== undefined ? { owner: { kind: 'database' as const, tenant: options.tenant } } : {}),
    dryRun: options.dryRun === true,
    archiveExists,
  });
}

/** Prunes one tenant; the caller holds `tenant-<name>` (or runs a dry-run). */
export async function pruneTenantLocked(
  deps: Pick<Deps, 'config' | 'ledger' | 'store' | 'progress'>,
  tenant: string,
  options: { keepLast?: number; dryRun?: boolean } = {},
): Promise<{ removed: LedgerRecord[]; kept: LedgerRecord[] }> {
  const policy = retentionPolicyFor(deps.config, tenant, options.keepLast);
  // One read of the tenant's records, their backup types with them (not one read per record).
  const entries = await deps.ledger.findEntries({ kind: 'database', tenant, status: 'success' });
  const candidates: LedgerRecord[] = [];
  for (const { record, backup_type } of entries) {
    if (isRetentionCandidate(record, backup_type, tenant)) candidates.push(record);
  }
  if (!policy) return { removed: [], kept: candidates };
  const doomed = new Set(selectForRemoval(candidates, policy, deps.config.timezone));
  const removed = candidates.filter((record) => doomed.has(record.id));
  const kept = candidates.filter((record) => !doomed.has(record.id));
  if (!options.dryRun) {
    for (const record of removed) {
      deps.progress.update(`Pruning ${record.backup_filename}…`);
      await deps.store.remove(TENANT_DATABASES_AREA, record.backup_filename);
      await deps.ledger.remove(record.id);
    }
  }
  return { removed, kept };
}
