/** `list`: the ledger's records, newest first, optionally for one tenant or organization. */
import type { LedgerRecord } from '../ledger/types.js';
import type { Deps } from './context.js';
import { assertKnownTenant, type Target } from './targets.js';

export interface ListResult {
  records: LedgerRecord[];
  /** `in_progress` records whose process had died, marked failed by this call. */
  recovered: LedgerRecord[];
}

export async function listBackups(deps: Pick<Deps, 'ledger' | 'config'>, target?: Target): Promise<ListResult> {
  const recovered = await deps.ledger.recoverInterrupted();
  const filter =
    target === undefined
      ? {}
      : target.kind === 'database'
        ? { kind: 'database' as const, tenant: target.tenant }
        : { kind: 'organization' as const, organization_id: target.organizationId };
  const records = await deps.ledger.find(filter);
  // A tenant that is neither configured nor recorded is most likely a typo: say so (exit 2).
  if (target?.kind === 'database' && records.length === 0) assertKnownTenant(deps.config, target.tenant);
  return { records, recovered };
}
