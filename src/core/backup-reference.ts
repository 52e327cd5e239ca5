/**
 * What a backup argument names. `latest` is the newest successful backup of the tenant or
 * organization (safety backups taken before a restore included: they are backups of it too);
 * anything else is a file name or a path, resolved by the store.
 */
import { NotFoundError } from '../errors.js';
import type { Deps } from './context.js';
import { describeTarget, type Target } from './targets.js';

export const LATEST = 'latest';

export async function resolveBackupReference(deps: Pick<Deps, 'ledger'>, target: Target, reference: string): Promise<string> {
  if (reference !== LATEST) return reference;
  const [newest] = await deps.ledger.find(
    target.kind === 'database'
      ? { kind: 'database', tenant: target.tenant, status: 'success' }
      : { kind: 'organization', organization_id: target.organizationId, status: 'success' },
  );
  if (!newest) throw new NotFoundError(`"latest" names nothing: ${describeTarget(target)} has no successful backup.`, { backup: LATEST });
  return newest.backup_filename;
}
