/**
 * The ledger's history policy (`ledger.keep`): which records the ledger forgets, so that its size
 * follows what exists rather than everything that ever happened. Pure functions of (records,
 * policy, now, what the store holds); both ledger kinds apply them the same way.
 *
 * Default: the records of archives that still exist, plus failures for 90 days. Never forgotten:
 * a running (`in_progress`) record; a success whose archive cannot be checked from here (made on
 * another host).
 */
/** What the policy looks at in a record (ledger/types.ts's LedgerRecord has these). */
interface HistoryRecord {
  status: 'success' | 'failed' | 'in_progress';
  created_at: string;
}

export interface HistoryPolicy {
  /** Failed records are kept this many days (from `created_at`), then forgotten. */
  failedDays: number;
  /** Keep the success records of archives that no longer exist (deleted by hand, lost). */
  missingArchives: boolean;
}

export const DEFAULT_HISTORY_POLICY: HistoryPolicy = { failedDays: 90, missingArchives: false };

const DAY_MS = 86_400_000;

/** The instant before which failures are forgotten. */
export function failureCutoff(policy: HistoryPolicy, now: Date): Date {
  return new Date(now.getTime() - policy.failedDays * DAY_MS);
}

/** Failures older than the policy's limit: what any write of an owner's records may drop. */
export function isExpiredFailure(record: HistoryRecord, policy: HistoryPolicy, now: Date): boolean {
  return record.status === 'failed' && Date.parse(record.created_at) < failureCutoff(policy, now).getTime();
}

/**
 * What `prune` forgets among `records`: expired failures, and successes whose archive is gone
 * (`archiveExists` false; null means "cannot tell from here" and keeps the record).
 */
export function recordsToForget<R extends HistoryRecord>(records: readonly R[], policy: HistoryPolicy, now: Date, archiveExists: (record: R) => boolean | null): R[] {
  return records.filter((record) => {
    if (record.status === 'in_progress') return false;
    if (record.status === 'failed') return isExpiredFailure(record, policy, now);
    return !policy.missingArchives && archiveExists(record) === false;
  });
}
