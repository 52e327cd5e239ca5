/**
 * `list`: the ledger's records, newest first, optionally for one tenant or organization, filtered
 * by status, age (`since`) and count (`limit`). Records come in the stable `ListedBackup` format.
 * Reads only the ledger (and archives' manifests for organization names): no database connection.
 */
import { UsageError } from '../errors.js';
import { garbageCollector } from '../memory.js';
import type { BackupStatus, LedgerEntry, LedgerOwner, LedgerRecord, RecordFilter } from '../ledger/types.js';
import { localMidnight } from '../retention/clock.js';
import type { StoredFile } from '../store/types.js';
import type { Deps } from './context.js';
import { ownerFilter, storageReconciler, type CheckedBackup, type StorageReconciler } from './list-storage.js';
import { recordDescriber } from './listed-record.js';
import { assertKnownTenant, type Target } from './targets.js';

export type { CheckedBackup, StorageCheck } from './list-storage.js';

export interface ListOptions {
  /** Only this tenant's or organization's records. */
  target?: Target;
  status?: BackupStatus;
  /** Only records created at or after this instant: a Date, or text as `parseSince` takes it. */
  since?: Date | string;
  /** At most this many records (the newest). */
  limit?: number;
  /** Reconcile with the store: mark each successful record whose archive is missing or has another size. */
  checkStorage?: boolean;
}

export interface ListResult {
  /** With `checkStorage`, each record also has `storage_check`. */
  records: CheckedBackup[];
  /** With `checkStorage`: archives in the store that no record names (of the listed targets). */
  untracked?: StoredFile[];
  /** `in_progress` records whose process had died, marked failed by this call. */
  recovered: LedgerRecord[];
}

/** What `list` reads: the ledger; with `checkStorage`, the store too. */
export type ListDeps = Pick<Deps, 'ledger' | 'config' | 'clock'> & Partial<Pick<Deps, 'store'>>;

export const BACKUP_STATUSES: readonly BackupStatus[] = ['success', 'failed', 'in_progress'];

/** The records of `list`, newest first: collected (see `streamBackups` for any number of them). */
export async function listBackups(deps: ListDeps, options: ListOptions = {}): Promise<ListResult> {
  const { recovered, records, untracked } = await streamBackups(deps, options);
  const collected: CheckedBackup[] = [];
  for await (const record of records) collected.push(record);
  return { records: collected, ...(options.checkStorage ? { untracked: await untracked() } : {}), recovered };
}

export interface ListStream {
  /** `in_progress` records whose process had died, marked failed by this call. */
  recovered: LedgerRecord[];
  /** Newest first, one at a time: memory does not grow with the number of records. */
  records: AsyncIterable<CheckedBackup>;
  /** With `checkStorage`: the archives no record names (another walk over the ledger); else none. */
  untracked(): Promise<StoredFile[]>;
}

export async function streamBackups(deps: ListDeps, options: ListOptions = {}): Promise<ListStream> {
  const { filter, since } = await prepare(deps, options);
  const recovered = await deps.ledger.recoverInterrupted();
  await assertListedTenant(deps, options.target, filter);
  const reconciler = await reconcilerFor(deps, options);
  const describe = describerWith(deps, reconciler);
  const limit = options.limit;
  async function* records(): AsyncGenerator<CheckedBackup> {
    if (limit === 0) return;
    let count = 0;
    for await (const entry of deps.ledger.scan(filter)) {
      // Newest first: the first record older than `since` ends the listing.
      if (since !== undefined && Date.parse(entry.record.created_at) < since.getTime()) return;
      yield await describe(entry);
      count += 1;
      if (limit !== undefined && count >= limit) return;
    }
  }
  return { recovered, records: records(), untracked: untrackedOf(deps, reconciler) };
}

export interface ListGroups {
  recovered: LedgerRecord[];
  /** How many records the groups hold. */
  total: number;
  /** One group per tenant / organization (its records newest first), the group of the newest record first. */
  groups: AsyncIterable<CheckedBackup[]>;
  /** As ListStream's. */
  untracked(): Promise<StoredFile[]>;
}

/**
 * `list`'s records grouped by owner, as the table shows them, one owner in memory at a time:
 * each owner's records are read twice (once to order the groups, once to show them).
 * With `limit`, the newest records overall are taken first (`limit` of them in memory).
 */
export async function streamBackupGroups(deps: ListDeps, options: ListOptions = {}): Promise<ListGroups> {
  if (options.limit !== undefined || options.target !== undefined) {
    const { recovered, records, untracked } = await streamBackups(deps, options);
    const byOwner = new Map<string, CheckedBackup[]>();
    let total = 0;
    for await (const record of records) {
      const key = record.kind === 'database' ? `t:${record.tenant}` : `o:${record.organization_id}`;
      byOwner.set(key, [...(byOwner.get(key) ?? []), record]);
      total += 1;
    }
    return {
      recovered,
      total,
      groups: (async function* () {
        yield* byOwner.values();
      })(),
      untracked,
    };
  }
  const { filter, since } = await prepare(deps, options);
  const recovered = await deps.ledger.recoverInterrupted();
  const kept = (entries: LedgerEntry[]) => (since === undefined ? entries : entries.filter((e) => Date.parse(e.record.created_at) >= since.getTime()));
  const order: Array<{ owner: LedgerOwner; newest: LedgerRecord }> = [];
  let total = 0;
  const tidy = garbageCollector(25);
  for (const owner of await deps.ledger.owners()) {
    tidy();
    if (filter.kind !== undefined && owner.kind !== filter.kind) continue;
    const entries = kept(await deps.ledger.findEntries({ ...filter, ...ownerFilter(owner) }));
    if (entries.length === 0) continue;
    total += entries.length;
    order.push({ owner, newest: entries[0]!.record });
  }
  order.sort((a, b) => b.newest.created_at.localeCompare(a.newest.created_at) || b.newest.id - a.newest.id);
  const reconciler = await reconcilerFor(deps, options);
  const describe = describerWith(deps, reconciler);
  async function* groups(): AsyncGenerator<CheckedBackup[]> {
    for (const { owner } of order) {
      const entries = kept(await deps.ledger.findEntries({ ...filter, ...ownerFilter(owner) }));
      if (entries.length > 0) yield await Promise.all(entries.map(describe));
    }
  }
  return { recovered, total, groups: groups(), untracked: untrackedOf(deps, reconciler) };
}

/** With `checkStorage`: the store's archives, listed once before the records stream. */
async function reconcilerFor(deps: ListDeps, options: ListOptions): Promise<StorageReconciler | null> {
  if (!options.checkStorage) return null;
  if (!deps.store) throw new UsageError('checkStorage needs Deps with a store (createDeps makes them).');
  return storageReconciler(deps.store, options.target);
}

function describerWith(deps: ListDeps, reconciler: StorageReconciler | null): (entry: LedgerEntry) => Promise<CheckedBackup> {
  const describe = recordDescriber(deps);
  return reconciler ? async (entry) => reconciler.mark(await describe(entry)) : describe;
}

function untrackedOf(deps: ListDeps, reconciler: StorageReconciler | null): () => Promise<StoredFile[]> {
  return reconciler ? () => reconciler.untracked(deps.ledger) : async () => [];
}

async function prepare(deps: Pick<Deps, 'config' | 'clock'>, options: ListOptions): Promise<{ filter: RecordFilter; since: Date | undefined }> {
  const { target } = options;
  const since = options.since === undefined ? undefined : options.since instanceof Date ? options.since : parseSince(options.since, deps.clock.now(), deps.config.timezone);
  const owner: RecordFilter =
    target === undefined ? {} : target.kind === 'database' ? { kind: 'database', tenant: target.tenant } : { kind: 'organization', organization_id: target.organizationId };
  return { filter: { ...owner, ...(options.status ? { status: options.status } : {}) }, since };
}

/** A tenant that is neither configured nor recorded is most likely a typo: say so (exit 2). */
async function assertListedTenant(deps: Pick<Deps, 'ledger' | 'config'>, target: Target | undefined, filter: RecordFilter): Promise<void> {
  if (target?.kind !== 'database' || Object.hasOwn(deps.config.tenants, target.tenant)) return;
  if ((await deps.ledger.find(filter)).length === 0) assertKnownTenant(deps.config, target.tenant);
}

const DURATION_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/**
 * `--since`: a duration back from now (`30m`, `12h`, `7d`, `2w`), a date (`2026-11-20`: from that
 * day's midnight in the configured time zone) or an ISO 8601 instant with a zone
 * (`2026-11-20T08:00:00Z`, `…+01:00`).
 */
export function parseSince(text: string, now: Date, timeZone: string): Date {
  const value = text.trim();
  const duration = /^(\d{1,6})([mhdw])$/.exec(value);
  if (duration) return new Date(now.getTime() - Number(duration[1]) * DURATION_UNITS[duration[2]!]!);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (date) {
    const midnight = localMidnight(Number(date[1]), Number(date[2]), Number(date[3]), timeZone);
    if (midnight) return midnight;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(value);
  throw new UsageError(`Invalid --since "${text}": expected a duration (30m, 12h, 7d, 2w), a date (2026-11-20) or an ISO time with a zone (2026-11-20T08:00:00Z).`);
}
