/**
 * A backup that could not even start (database unreachable, password refused, dump tool missing)
 * is still a failed backup: it is recorded, so `status`, `list` and monitoring see that the
 * night's cron run failed, not merely that nothing happened. Bad input (unknown tenant or
 * organization, invalid configuration) is not recorded: nothing was attempted.
 */
import type { TenantBackupError } from '../errors.js';
import type { LedgerBackupType, LedgerRecord, NewRecord } from '../ledger/types.js';
import type { Deps } from './context.js';

/** Error codes that mean "the attempt failed", as opposed to "the request was wrong". */
const ATTEMPT_FAILURES = new Set(['CONNECTION', 'TOOL_MISSING', 'OPERATION_FAILED']);

export function isFailedAttempt(error: TenantBackupError): boolean {
  return ATTEMPT_FAILURES.has(error.code);
}

/** Records a `failed` attempt; never throws (the original error is what the caller reports). */
export async function recordFailedAttempt(
  deps: Pick<Deps, 'ledger'>,
  record: NewRecord,
  backupType: LedgerBackupType,
  error: TenantBackupError,
): Promise<LedgerRecord | null> {
  try {
    const started = await deps.ledger.begin(record, { backupType });
    return await deps.ledger.finish(started.id, { status: 'failed', error_message: error.message });
  } catch {
    return null;
  }
}
