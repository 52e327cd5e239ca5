/**
 * What a backup argument names. `latest` is the newest successful backup of the tenant or
 * organization (safety backups taken before a restore included: they are backups of it too);
 * anything else is a file name or a path, resolved by the store.
 */
import { NotFoundError } from '../errors.js';
import { hostIdentity } from '../ledger/host.js';
import { ORGANIZATIONS_AREA, TENANT_DATABASES_AREA } from '../retention/naming.js';
import type { Deps } from './context.js';
import { describeTarget, type Target } from './targets.js';

export const LATEST = 'latest';

export async function resolveBackupReference(deps: Pick<Deps, 'ledger' | 'store'>, target: Target, reference: string): Promise<string> {
  const filter = target.kind === 'database' ? { kind: 'database' as const, tenant: target.tenant } : { kind: 'organization' as const, organization_id: target.organizationId };
  let name = reference;
  if (reference === LATEST) {
    const [newest] = await deps.ledger.find({ ...filter, status: 'success' });
    if (!newest) throw new NotFoundError(`"latest" names nothing: ${describeTarget(target)} has no successful backup.`, { backup: LATEST });
    name = newest.backup_filename;
  }
  await assertOnThisHost(deps, target, name, filter);
  return name;
}

/**
 * Several servers sharing a database ledger but not a store: a backup recorded on another host,
 * whose file this host does not have, is named with where it is (exit 3) rather than "not found".
 */
async function assertOnThisHost(deps: Pick<Deps, 'ledger' | 'store'>, target: Target, name: string, filter: { kind: 'organization' | 'database' }): Promise<void> {
  if (name.includes('/') || name.includes('\\')) return;
  const area = target.kind === 'database' ? TENANT_DATABASES_AREA : ORGANIZATIONS_AREA;
  if (await deps.store.stat(area, name).catch(() => true)) return;
  const here = hostIdentity();
  const elsewhere = (await deps.ledger.findEntries({ ...filter, backup_filename: name, status: 'success' })).find((entry) => entry.host !== null && entry.host !== here);
  if (!elsewhere) return;
  throw new NotFoundError(
    `${name} of ${describeTarget(target)} is on host "${elsewhere.host}" (${elsewhere.record.backup_path}), not on this host ("${here}"): run the command there, or copy the archive to ${deps.store.location(area, name)}.`,
    { backup: name, host: elsewhere.host, path: elsewhere.record.backup_path },
  );
}
