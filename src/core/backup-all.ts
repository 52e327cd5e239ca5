/**
 * `backup --all`: a backup of every configured tenant database (cron's one line for the
 * database-per-tenant model), `concurrency` at a time. One tenant's failure does not stop the
 * others; every failure is in the ledger — also one that could not even start (an unreachable
 * server, a missing dump tool), which is recorded here when the backup itself left no record.
 * Notifications as for `auto --all`: each tenant pings its own URL (start, success, fail); the run
 * pings `ping.backupAll` and sends its one summary to webhook and e-mail.
 */
import { ConfigError, TenantBackupError } from '../errors.js';
import type { LedgerRecord, RecordId } from '../ledger/types.js';
import { localDate, localWeekday } from '../retention/clock.js';
import { TENANT_DATABASES_AREA, tenantArchiveName } from '../retention/naming.js';
import { cipherSuffixOf } from '../cipher/settings.js';
import { failureOf } from './auto-all.js';
import type { Deps } from './context.js';
import { isFailedAttempt, recordFailedStart } from './verified-archive.js';
import { backupTenantNotified } from './notified.js';
import { retryCommand, runNotifiedAll, type NotifyHooks } from './notified-run.js';
import { runPool } from './pool.js';

export type BackupAllItem =
  | { action: 'created'; tenant: string; record: LedgerRecord; prune_error?: string }
  /** `record`: the failed attempt's ledger record (null only if even recording it failed). */
  | { action: 'failed'; tenant: string; error: { code: string; message: string }; record: LedgerRecord | null };

export interface BackupAllResult {
  results: BackupAllItem[];
  summary: { created: number; failed: number };
}

export interface BackupAllOptions {
  concurrency?: number;
  userId?: string | null;
  rotate?: 'weekday';
  keepLast?: number;
  signal?: AbortSignal;
  /** Called as each tenant finishes (in completion order). */
  onResult?: (item: BackupAllItem) => void;
  /** A notification that could not be delivered, in one printable line (also noted in the ledger). */
  onDeliveryFailure?: (message: string) => void;
}

export async function backupAllTenants(deps: Deps, options: BackupAllOptions = {}): Promise<BackupAllResult> {
  const tenants = Object.keys(deps.config.tenants);
  if (tenants.length === 0) throw new ConfigError('backup --all: no tenants are configured (the "tenants" section is empty).');
  const hooks: NotifyHooks = { signal: options.signal, ...(options.onDeliveryFailure ? { onDeliveryFailure: options.onDeliveryFailure } : {}) };
  return runNotifiedAll(
    deps,
    { name: 'backup --all', retry: retryCommand(deps, 'backup --all') },
    async (onRecord) => {
      const results = await runPool(tenants, options.concurrency ?? 1, (tenant) => backupOne(deps, tenant, options, hooks, onRecord), options.signal);
      options.signal?.throwIfAborted();
      const done = results.filter((item): item is BackupAllItem => item !== undefined);
      return {
        results: done,
        summary: { created: done.filter((r) => r.action === 'created').length, failed: done.filter((r) => r.action === 'failed').length },
      };
    },
    (result) => ({
      summary: { ...result.summary, skipped: 0 },
      problems: result.results.flatMap((item) => (item.action === 'failed' ? [`tenant "${item.tenant}": ${item.error.code}: ${item.error.message}`] : [])),
    }),
    hooks,
  );
}

async function backupOne(deps: Deps, tenant: string, options: BackupAllOptions, hooks: NotifyHooks, onRecord: (id: RecordId) => void): Promise<BackupAllItem> {
  const begun: RecordId[] = [];
  const track = (id: RecordId) => {
    begun.push(id);
    onRecord(id);
  };
  let item: BackupAllItem;
  try {
    const result = await backupTenantNotified(deps, { tenant, userId: options.userId ?? null, rotate: options.rotate, keepLast: options.keepLast, signal: options.signal }, hooks, {
      onRecord: track,
    });
    item = { action: 'created', tenant, record: result.record, ...(result.prune_error ? { prune_error: result.prune_error } : {}) };
  } catch (error) {
    const failure = failureOf(error);
    let record = begun.length > 0 ? ((await deps.ledger.find({ kind: 'database', tenant })).find((r) => r.id === Math.max(...begun)) ?? null) : null;
    if (!record && error instanceof TenantBackupError && isFailedAttempt(error)) {
      record = await recordUnstarted(deps, tenant, options, error);
      if (record) onRecord(record.id);
    }
    item = { action: 'failed', tenant, error: failure, record };
  }
  options.onResult?.(item);
  return item;
}

/** A backup that failed before it began a record: recorded under the name it would have had. */
async function recordUnstarted(deps: Deps, tenant: string, options: BackupAllOptions, error: TenantBackupError): Promise<LedgerRecord | null> {
  const now = deps.clock.now();
  const weekday = localWeekday(now, deps.config.timezone);
  const name = tenantArchiveName(tenant, options.rotate, now, deps.config.timezone, cipherSuffixOf(deps.config, tenant));
  return recordFailedStart(
    deps,
    {
      area: TENANT_DATABASES_AREA,
      name,
      record: { kind: 'database', organization_id: null, tenant, user_id: options.userId ?? null, day_of_week: weekday, backup_date: localDate(now, deps.config.timezone) },
      backupType: 'manual',
    },
    error,
  );
}
