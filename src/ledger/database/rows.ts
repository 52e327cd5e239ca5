/**
 * Records ↔ rows of `auto_backup_logs`, and record filters as SQL: the same rules as
 * records.ts's matchesFilter, in WHERE clauses that the table's indexes serve.
 */
import type { LedgerEntry, LedgerOwner, LedgerRecord, RecordFilter } from '../types.js';
import type { Dialect } from './dialect.js';
import type { Row } from './session.js';

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function entryOfRow(row: Row): LedgerEntry {
  const record: LedgerRecord = {
    id: Number(row.id),
    kind: String(row.kind) as LedgerRecord['kind'],
    organization_id: text(row.organization_id),
    tenant: text(row.tenant),
    user_id: text(row.user_id),
    day_of_week: String(row.day_of_week) as LedgerRecord['day_of_week'],
    backup_filename: String(row.backup_filename),
    backup_path: String(row.backup_path),
    backup_size: Number(row.backup_size),
    sha256: text(row.sha256),
    status: String(row.status) as LedgerRecord['status'],
    error_message: text(row.error_message),
    backup_date: String(row.backup_date),
    created_at: String(row.created_at),
    updated_at: String(row.updated_at),
  };
  return { record, backup_type: text(row.backup_type) as LedgerEntry['backup_type'], host: text(row.host) };
}

/**
 * `AND`-joined conditions of a filter on table alias `a` (an empty filter: `1 = 1`). With an owner
 * or a file name in the filter, SQLite is kept off the status index (`+status`): without
 * statistics it would pick it, and `success` is nearly every row.
 */
export function whereOf(filter: RecordFilter, a = 'l', dialect?: Dialect): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const narrow = filter.organization_id !== undefined || filter.tenant !== undefined || filter.backup_filename !== undefined;
  for (const key of ['kind', 'organization_id', 'tenant', 'status', 'backup_filename', 'backup_date'] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    parts.push(`${key === 'status' && narrow && dialect?.name === 'sqlite' ? '+' : ''}${a}.${key} = ?`);
    params.push(value);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1 = 1', params };
}

export function ownerFilter(owner: LedgerOwner): RecordFilter {
  return owner.kind === 'organization' ? { kind: 'organization', organization_id: owner.organization_id } : { kind: 'database', tenant: owner.tenant };
}

/** The owner column of a record: organization_id for organizations, tenant for tenants. */
export function ownerColumn(record: Pick<LedgerRecord, 'kind'>): 'organization_id' | 'tenant' {
  return record.kind === 'organization' ? 'organization_id' : 'tenant';
}

export function selectRecords(dialect: Dialect, logs: string, where: string, tail = ''): string {
  return `SELECT ${dialect.selectList('l')} FROM ${dialect.quote(logs)} l WHERE ${where} ORDER BY l.created_at DESC, l.id DESC${tail}`;
}
