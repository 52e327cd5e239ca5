/**
 * One owner's file of the JSON ledger (format 2): a tenant's or an organization's records, newest
 * first, one record per line, and beside them what `auto_backup_logs` has no column for — the
 * backup type and the run of an `in_progress` record (`meta`), and an organization's settings.
 *
 *   {"format":"tenant-backup-ledger-owner","version":2,"kind":"organization","owner":"42",
 *   "settings":{"auto_backup_enabled":false,"updated_at":"2026-11-23T08:00:00.000Z"},
 *   "records":[
 *   {"id":12,"kind":"organization","organization_id":"42",…,"updated_at":"…"},
 *   {"id":5,…}
 *   ],
 *   "meta":{
 *   "12":{"backup_type":"auto_daily"},
 *   "5":{"backup_type":"manual"}
 *   }}
 *
 * Reading validates every record (exactly the columns, each of its type); a file that does not
 * pass is reported with its name and where (never its contents) and never overwritten.
 */
import { LedgerCorruptError, describeJsonError } from '../../errors.js';
import { WEEKDAYS } from '../../retention/clock.js';
import { LEDGER_RECORD_FIELDS, type LedgerBackupType, type LedgerOwner, type LedgerRecord, type OrganizationSettings } from '../types.js';

export const OWNER_FORMAT = 'tenant-backup-ledger-owner';

export interface RunInfo {
  pid: number;
  host: string;
  /** The operation lock the run held (`org-42`), or null. */
  lock: string | null;
  started_at: string;
}

export interface RecordMeta {
  backup_type?: LedgerBackupType;
  /** Present while the record is `in_progress`. */
  run?: RunInfo;
}

export interface OwnerDoc {
  owner: LedgerOwner;
  settings: OrganizationSettings | null;
  /** Newest first (created_at, then id). */
  records: LedgerRecord[];
  meta: Record<string, RecordMeta>;
}

const KINDS: readonly string[] = ['organization', 'database'];
const STATUSES: readonly string[] = ['success', 'failed', 'in_progress'];
export const BACKUP_TYPES: readonly string[] = ['manual', 'auto_daily', 'pre_restore'];
const DAYS: readonly string[] = WEEKDAYS;

type Plain = Record<string, unknown>;
const isObject = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (v: unknown, min: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const str = (v: unknown) => typeof v === 'string';
const strOrNull = (v: unknown) => v === null || typeof v === 'string';

const FIELD_CHECKS: Record<(typeof LEDGER_RECORD_FIELDS)[number], (v: unknown) => boolean> = {
  id: (v) => int(v, 1),
  kind: (v) => KINDS.includes(v as string),
  organization_id: strOrNull,
  tenant: strOrNull,
  user_id: strOrNull,
  day_of_week: (v) => DAYS.includes(v as string),
  backup_filename: str,
  backup_path: str,
  backup_size: (v) => int(v, 0),
  sha256: strOrNull,
  status: (v) => STATUSES.includes(v as string),
  error_message: strOrNull,
  backup_date: str,
  created_at: str,
  updated_at: str,
};

/**
 * A ledger record checked field by field and copied with its keys in column order; or the reason
 * it is not one (`status: invalid value`, `unknown key "x"`). Shared with the format-1 migration.
 */
export function checkRecord(value: unknown): LedgerRecord | string {
  if (!isObject(value)) return 'not an object';
  for (const key of Object.keys(value)) if (!(key in FIELD_CHECKS)) return `unknown key ${JSON.stringify(key.slice(0, 40))}`;
  const copy: Plain = {};
  for (const key of LEDGER_RECORD_FIELDS) {
    if (!(key in value)) return `${key}: missing`;
    if (!FIELD_CHECKS[key](value[key])) return `${key}: invalid value`;
    copy[key] = value[key];
  }
  return copy as unknown as LedgerRecord;
}

export function checkRun(value: unknown): RunInfo | undefined {
  return isObject(value) && int(value.pid, Number.MIN_SAFE_INTEGER) && str(value.host) && strOrNull(value.lock) && str(value.started_at)
    ? { pid: value.pid as number, host: value.host as string, lock: value.lock as string | null, started_at: value.started_at as string }
    : undefined;
}

export function checkSettings(value: unknown): OrganizationSettings | undefined {
  return isObject(value) && typeof value.auto_backup_enabled === 'boolean' && strOrNull(value.updated_at)
    ? { auto_backup_enabled: value.auto_backup_enabled, updated_at: value.updated_at as string | null }
    : undefined;
}

/** Who owns a record: its organization, or its tenant (null: a record no owner file can hold). */
export function ownerOfRecord(record: Pick<LedgerRecord, 'kind' | 'organization_id' | 'tenant'>): LedgerOwner | null {
  if (record.kind === 'organization') return record.organization_id === null ? null : { kind: 'organization', organization_id: record.organization_id };
  return record.tenant === null ? null : { kind: 'database', tenant: record.tenant };
}

export function ownerName(owner: LedgerOwner): string {
  return owner.kind === 'organization' ? owner.organization_id : owner.tenant;
}

export function newestFirst(a: LedgerRecord, b: LedgerRecord): number {
  return b.created_at < a.created_at ? -1 : b.created_at > a.created_at ? 1 : b.id - a.id;
}

export function emptyOwnerDoc(owner: LedgerOwner): OwnerDoc {
  return { owner, settings: null, records: [], meta: {} };
}

/** Parses and checks an owner file; `expected` is the owner its path names. */
export function parseOwnerDoc(text: string, file: string, expected: LedgerOwner | null): OwnerDoc {
  const fail = (where: string): never => {
    throw new LedgerCorruptError(file, new Error(where));
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(describeJsonError(error, text));
  }
  if (!isObject(value) || value.format !== OWNER_FORMAT || value.version !== 2) return fail('top level: not a tenant-backup ledger owner file of format 2');
  const kind = value.kind;
  if ((kind !== 'organization' && kind !== 'database') || typeof value.owner !== 'string') return fail('kind/owner: invalid');
  const owner: LedgerOwner = kind === 'organization' ? { kind, organization_id: value.owner } : { kind, tenant: value.owner };
  if (expected && (expected.kind !== owner.kind || ownerName(expected) !== ownerName(owner))) return fail('owner: not the owner this file is named after');
  const settings = value.settings === null || value.settings === undefined ? null : (checkSettings(value.settings) ?? fail('settings: invalid'));
  if (!Array.isArray(value.records)) return fail('records: not an array');
  const records: LedgerRecord[] = [];
  for (const [index, item] of (value.records as unknown[]).entries()) {
    const record = checkRecord(item);
    if (typeof record === 'string') return fail(`records[${index}].${record}`);
    const recordOwner = ownerOfRecord(record);
    if (!recordOwner || recordOwner.kind !== owner.kind || ownerName(recordOwner) !== ownerName(owner)) return fail(`records[${index}]: another owner's record`);
    records.push(record);
  }
  const meta: Record<string, RecordMeta> = {};
  if (value.meta !== undefined) {
    if (!isObject(value.meta)) return fail('meta: not an object');
    for (const [id, item] of Object.entries(value.meta)) {
      if (!/^[1-9]\d*$/.test(id) || !isObject(item)) return fail(`meta.${id.slice(0, 20)}: invalid`);
      const entry: RecordMeta = {};
      if (item.backup_type !== undefined) {
        if (!BACKUP_TYPES.includes(item.backup_type as string)) return fail(`meta.${id}.backup_type: invalid`);
        entry.backup_type = item.backup_type as LedgerBackupType;
      }
      if (item.run !== undefined) entry.run = checkRun(item.run) ?? fail(`meta.${id}.run: invalid`);
      meta[id] = entry;
    }
  }
  records.sort(newestFirst);
  return { owner, settings, records, meta };
}

/** The file's text: one record (and one meta entry) per line, so that it reads and diffs well. */
export function serializeOwnerDoc(doc: OwnerDoc): string {
  const head = {
    format: OWNER_FORMAT,
    version: 2,
    kind: doc.owner.kind,
    owner: ownerName(doc.owner),
    settings: doc.settings,
  };
  const records = doc.records.map((record) => JSON.stringify(record)).join(',\n');
  const meta = Object.entries(doc.meta)
    .filter(([, entry]) => entry.backup_type !== undefined || entry.run !== undefined)
    .map(([id, entry]) => `${JSON.stringify(id)}:${JSON.stringify(entry)}`)
    .join(',\n');
  return `${JSON.stringify(head).slice(0, -1)},\n"records":[\n${records}${records ? '\n' : ''}],\n"meta":{\n${meta}${meta ? '\n' : ''}}}\n`;
}
