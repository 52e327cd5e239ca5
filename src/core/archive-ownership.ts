/**
 * Organization archives are named by code (`org_<code>_<weekday>_backup.zip`), and codes are not
 * unique in every schema. Before a backup replaces a file, it must be this organization's own:
 * otherwise two organizations sharing a code would overwrite each other's backups.
 */
import { ConfigError } from '../errors.js';
import { ORGANIZATIONS_AREA } from '../retention/naming.js';
import type { Deps } from './context.js';
import { readStoredManifest } from './open-archive.js';

export async function assertArchiveNameIsOurs(deps: Pick<Deps, 'ledger' | 'store' | 'config'>, name: string, organizationId: string): Promise<void> {
  const records = await deps.ledger.find({ kind: 'organization', backup_filename: name });
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
}
