/** Record filters as every ledger kind applies them (the database ledger in SQL, the same rules). */
import { UsageError } from '../errors.js';
import type { LedgerRecord, Outcome, RecordFilter } from './types.js';

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

/** An outcome the record can hold (a size that is not a whole number would make the file invalid). */
export function assertOutcome(outcome: Outcome): void {
  if (outcome.status === 'success' && !(Number.isSafeInteger(outcome.backup_size) && outcome.backup_size >= 0 && typeof outcome.sha256 === 'string')) {
    throw new UsageError(`A success needs a whole, non-negative backup_size and a sha256 (got ${String(outcome.backup_size)}).`);
  }
  if (outcome.status === 'failed' && typeof outcome.error_message !== 'string') throw new UsageError('A failure needs its error_message.');
}
