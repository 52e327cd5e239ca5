/**
 * Organization archives are named by code (`org_<code>_<weekday>_backup.zip`), and codes are not
 * unique in every schema. Before a backup replaces a file, it must be this organization's own:
 * otherwise two organizations sharing a code would overwrite each other's backups.
 */
import { ConfigError } from '../errors.js';
import { hostIdentity } from '../ledger/host.js';
import type { LedgerEntry } from '../ledger/types.js';
import { ORGANIZATIONS_AREA, type StoreArea } from '../retention/naming.js';
import type { Deps } from './context.js';
import { readStoredManifest } from './open-archive.js';

export async function assertArchiveNameIsOurs(deps: Pick<Deps, 'ledger' | 'store' | 'config'>, name: string, organizationId: string): Promise<void> {
  const entries = await deps.ledger.findEntries({ kind: 'organization', backup_filename: name });
  const records = entries.map((entry) => entry.record);
  const other = records.find((record) => record.organization_id !== organizationId && record.status !== 'failed');
  let otherId = other?.organization_id ?? null;
  if (otherId === null && !records.some((record) => record.status === 'success')) {
    // No successful record: ask the file itself, if there is one.
    const file = await deps.store.stat(ORGANIZATIONS_AREA, name);
    if (file) {
      const manifest = await readStoredManifest(deps, ORGANIZATIONS_AREA, name).catch(() => null);
      const id = manifest?.organization?.id ?? null;
      if (id !== null && id !== organizationId) otherId = id;
    }
  }
  if (otherId !== null) {
    const codeColumn = deps.config.organizations?.codeColumn ?? 'code';
    throw new ConfigError(
      `Organizations ${organizationId} and ${otherId} share the code that names ${name}; backing up ${organizationId} would overwrite ${otherId}'s archive. ` +
        `Make the "${codeColumn}" values unique, or point organizations.codeColumn at a unique column (e.g. "id"). Nothing was written.`,
      { backup: name, organization_id: organizationId, other_organization_id: otherId },
    );
  }
  await assertSameStore(deps, ORGANIZATIONS_AREA, name, entries);
}

/**
 * Several servers sharing one database ledger must share where archives live. The file a backup is
 * about to replace was written on another host: if this host's store does not have it, the servers
 * write to different disks, and this backup would leave two different files of one name under one
 * ledger. Refused (exit 2) before anything is written.
 */
export async function assertSameStore(deps: Pick<Deps, 'store'>, area: StoreArea, name: string, entries: readonly LedgerEntry[]): Promise<void> {
  const here = hostIdentity();
  const elsewhere = entries.find((entry) => entry.record.status === 'success' && entry.host !== null && entry.host !== here);
  if (!elsewhere || (await deps.store.stat(area, name))) return;
  throw new ConfigError(
    `${name} was written on host "${elsewhere.host}" (${elsewhere.record.backup_path}), and this host ("${here}") does not have it in its store (${deps.store.location(area, name)}). ` +
      'Servers that share a database ledger must share where archives live: one folder mounted on every server, or an S3 store (README, "Several servers"). Nothing was written.',
    { backup: name, host: elsewhere.host, this_host: here },
  );
}
