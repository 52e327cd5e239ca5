/** Record filters as every ledger kind applies them (the database ledger in SQL, the same rules). */
import type { LedgerRecord, RecordFilter } from './types.js';

export function matchesFilter(record: LedgerRecord, filter: RecordFilter): boolean {
  return (
    (filter.kind === undefined || record.kind === filter.kind) &&
    (filter.organization_id === undefined || record.organization_id === filter.organization_id) &&
    (filter.tenant === undefined || record.tenant === filter.tenant) &&
    (filter.status === undefined || record.status === filter.status) &&
    (filter.backup_filename === undefined || record.backup_filename === filter.backup_filename) &&
    (filter.backup_date === undefined || record.backup_date === filter.backup_date)
  );
}
