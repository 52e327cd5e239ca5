/**
 * `list`: the ledger's records, newest first, optionally for one tenant or organization, filtered
 * by status, age (`since`) and count (`limit`). Records come in the stable `ListedBackup` format.
 * Reads only the ledger (and archives' manifests for organization names): no database connection.
 */
import { UsageError } from '../errors.js';
import type { BackupStatus, LedgerRecord } from '../ledger/types.js';
import { zonedParts } from '../retention/clock.js';
import type { Deps } from './context.js';
import { describeRecords, type ListedBackup } from './listed-record.js';
import { areaOf, assertKnownTenant, type Target } from './targets.js';
import type { StoredFile } from '../store/types.js';
import { ORGANIZATIONS_AREA, TENANT_DATABASES_AREA } from '../retention/naming.js';

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

/** `list --check-storage`: a successful record's archive as the store has it now. */
export interface StorageCheck {
  /** `ok`: there with the recorded size; `missing`; `size_differs`; `not_checked` (not a success). */
  state: 'ok' | 'missing' | 'size_differs' | 'not_checked';
  stored_bytes: number | null;
}

export interface ListResult {
  /** With `checkStorage`, each record also has `storage_check`. */
  records: Array<ListedBackup & { storage_check?: StorageCheck }>;
  /** With `checkStorage`: archives in the store that no record names (of the listed targets). */
  untracked?: StoredFile[];
  /** `in_progress` records whose process had died, marked failed by this call. */
  recovered: LedgerRecord[];
}

export const BACKUP_STATUSES: readonly BackupStatus[] = ['success', 'failed', 'in_progress'];

export async function listBackups(deps: Pick<Deps, 'ledger' | 'config' | 'clock'> & Partial<Pick<Deps, 'store'>>, options: ListOptions = {}): Promise<ListResult> {
  const { target } = options;
  const since = options.since === undefined ? undefined : options.since instanceof Date ? options.since : parseSince(options.since, deps.clock.now(), deps.config.timezone);
  const recovered = await deps.ledger.recoverInterrupted();
  const filter =
    target === undefined
      ? {}
      : target.kind === 'database'
        ? { kind: 'database' as const, tenant: target.tenant }
        : { kind: 'organization' as const, organization_id: target.organizationId };
  const all = await deps.ledger.find({ ...filter, ...(options.status ? { status: options.status } : {}) });
  // A tenant that is neither configured nor recorded is most likely a typo: say so (exit 2).
  if (target?.kind === 'database' && all.length === 0) assertKnownTenant(deps.config, target.tenant);
  const recent = since === undefined ? all : all.filter((record) => Date.parse(record.created_at) >= since.getTime());
  const limited = options.limit === undefined ? recent : recent.slice(0, options.limit);
  const records = await describeRecords(deps, limited);
  if (!options.checkStorage) return { records, recovered };
  if (!deps.store) throw new UsageError('checkStorage needs Deps with a store (createDeps makes them).');
  return { ...(await checkStorage({ store: deps.store }, records, all, target)), recovered };
}

/**
 * One listing of each area (not one request per record), then each successful record is matched
 * by name; archives no record of the listed target(s) names are `untracked`.
 */
async function checkStorage(deps: Pick<Deps, 'store'>, records: ListedBackup[], all: LedgerRecord[], target: Target | undefined): Promise<Pick<ListResult, 'records' | 'untracked'>> {
  const areas = target ? [areaOf(target)] : [ORGANIZATIONS_AREA, TENANT_DATABASES_AREA];
  const stored = new Map<string, StoredFile>();
  for (const area of areas) for (const file of await deps.store.list(area)) stored.set(`${area}/${file.name}`, file);
  const checked = records.map((record) => {
    const file = stored.get(`${record.kind === 'database' ? TENANT_DATABASES_AREA : ORGANIZATIONS_AREA}/${record.backup_filename}`);
    const storage_check: StorageCheck =
      record.status !== 'success'
        ? { state: 'not_checked', stored_bytes: file?.bytes ?? null }
        : { state: !file ? 'missing' : file.bytes === record.backup_size ? 'ok' : 'size_differs', stored_bytes: file?.bytes ?? null };
    return { ...record, storage_check };
  });
  const named = new Set(all.map((record) => `${record.kind === 'database' ? TENANT_DATABASES_AREA : ORGANIZATIONS_AREA}/${record.backup_filename}`));
  const untracked = [...stored.entries()].filter(([key, file]) => !named.has(key) && (target === undefined || belongsByName(file, target))).map(([, file]) => file);
  return { records: checked, untracked };
}

/** For one target's listing: an untracked archive counts when its name is the target's. */
function belongsByName(file: StoredFile, target: Target): boolean {
  return target.kind === 'database' ? file.name.startsWith(`${target.tenant}_`) : file.name.startsWith('org_');
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

/** The instant of midnight starting `year-month-day` in `timeZone` (null for an impossible date). */
function localMidnight(year: number, month: number, day: number, timeZone: string): Date | null {
  const naive = Date.UTC(year, month - 1, day);
  const check = new Date(naive);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  // Twice: the second pass corrects for an offset that differs at the first guess (DST change).
  let guess = naive;
  for (let i = 0; i < 2; i += 1) {
    const p = zonedParts(new Date(guess), timeZone);
    const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
    guess -= wall - naive;
  }
  return new Date(guess);
}
