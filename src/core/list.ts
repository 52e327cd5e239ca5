/** `list`: the ledger's records, newest first, optionally for one tenant or organization. */
import type { LedgerRecord } from '../ledger/types.js';
import type { Deps } from './context.js';
import type { Target } from './targets.js';

export interface ListResult {
  records: LedgerRecord[];
  /** `in_progress` records whose process had died, marked failed by this call. */
  recovered: LedgerRecord[];
}

export async function listBackups(deps: Pick<Deps, 'ledger'>, target?: Target): Promise<ListResult> {
  const recovered = await deps.ledger.recoverInterrupted();
  const filter =
    target === undefined
      ? {}
      : target.kind === 'database'
        ? { kind: 'database' as const, tenant: target.tenant }
        : { kind: 'organization' as const, organization_id: target.organizationId };
  return { records: await deps.ledger.find(filter), recovered };
}
