/**
 * `list --check-storage`: the ledger reconciled with the store (local folder or bucket). One
 * listing of each area (not one request per record); each successful record is then matched by
 * name as it streams past, and the archives that no record of the listed target(s) names are
 * found by one more walk over the ledger's names, one owner at a time (memory follows the number
 * of archives, not of records).
 */
import type { Ledger, LedgerOwner, LedgerRecord, RecordFilter } from '../ledger/types.js';
import { ORGANIZATIONS_AREA, TENANT_DATABASES_AREA } from '../retention/naming.js';
import type { Store, StoredFile } from '../store/types.js';
import type { ListedBackup } from './listed-record.js';
import { areaOf, type Target } from './targets.js';

/** `list --check-storage`: a successful record's archive as the store has it now. */
export interface StorageCheck {
  /** `ok`: there with the recorded size; `missing`; `size_differs`; `not_checked` (not a success). */
  state: 'ok' | 'missing' | 'size_differs' | 'not_checked';
  stored_bytes: number | null;
}

/** A listed record; with `checkStorage`, also its `storage_check`. */
export type CheckedBackup = ListedBackup & { storage_check?: StorageCheck };

export interface StorageReconciler {
  /** The record with its `storage_check`. */
  mark(record: ListedBackup): CheckedBackup;
  /** Archives of the listed target(s) that no record names (whatever its status). */
  untracked(ledger: Pick<Ledger, 'findEntries' | 'owners'>): Promise<StoredFile[]>;
}

export async function storageReconciler(store: Pick<Store, 'list'>, target: Target | undefined): Promise<StorageReconciler> {
  const areas = target ? [areaOf(target)] : [ORGANIZATIONS_AREA, TENANT_DATABASES_AREA];
  const stored = new Map<string, StoredFile>();
  for (const area of areas) for (const file of await store.list(area)) stored.set(`${area}/${file.name}`, file);
  return {
    mark(record) {
      const file = stored.get(keyOf(record));
      const storage_check: StorageCheck =
        record.status !== 'success'
          ? { state: 'not_checked', stored_bytes: file?.bytes ?? null }
          : { state: !file ? 'missing' : file.bytes === record.backup_size ? 'ok' : 'size_differs', stored_bytes: file?.bytes ?? null };
      return { ...record, storage_check };
    },
    async untracked(ledger) {
      const unnamed = new Map(stored);
      const owners: LedgerOwner[] = target
        ? [target.kind === 'database' ? { kind: 'database', tenant: target.tenant } : { kind: 'organization', organization_id: target.organizationId }]
        : await ledger.owners();
      for (const owner of owners) {
        if (unnamed.size === 0) break;
        for (const entry of await ledger.findEntries(ownerFilter(owner))) unnamed.delete(keyOf(entry.record));
      }
      const candidates = [...unnamed.values()].filter((file) => target === undefined || belongsByName(file, target));
      if (target?.kind !== 'organization') return candidates;
      // Organization archives are named by code, not id: a file another organization's record
      // names is that organization's, not an untracked one of this target.
      const untracked: StoredFile[] = [];
      for (const file of candidates) {
        if ((await ledger.findEntries({ kind: 'organization', backup_filename: file.name })).length === 0) untracked.push(file);
      }
      return untracked;
    },
  };
}

export function ownerFilter(owner: LedgerOwner): RecordFilter {
  return owner.kind === 'organization' ? { kind: 'organization', organization_id: owner.organization_id } : { kind: 'database', tenant: owner.tenant };
}

function keyOf(record: Pick<LedgerRecord, 'kind' | 'backup_filename'>): string {
  return `${record.kind === 'database' ? TENANT_DATABASES_AREA : ORGANIZATIONS_AREA}/${record.backup_filename}`;
}

/** For one target's listing: an untracked archive counts when its name is the target's. */
function belongsByName(file: StoredFile, target: Target): boolean {
  return target.kind === 'database' ? file.name.startsWith(`${target.tenant}_`) : file.name.startsWith('org_');
}
