/**
 * The record format of `list --json` (and of the records inside `status --json`): a stable
 * interface for scripts, documented field by field in the README. It is the ledger record (the
 * `auto_backup_logs` columns) plus the backup type and, for organizations, their code and name —
 * and with timestamps in whole seconds (`2026-11-27T08:00:00Z`), which jq's `fromdate` parses.
 * The ledger file itself keeps its own format; this conversion happens only on the way out.
 */
import { ArchiveReader } from '../archive/zip-reader.js';
import { readKeysOf } from '../cipher/settings.js';
import { wholeSeconds } from '../format.js';
import type { LedgerBackupType, LedgerEntry, LedgerRecord } from '../ledger/types.js';
import { parseOrganizationArchiveName } from '../retention/naming.js';
import type { Deps } from './context.js';

export interface ListedBackup extends LedgerRecord {
  /** `manual`, `auto_daily` or `pre_restore`; null for records made before types were kept. */
  backup_type: LedgerBackupType | null;
  /** Organizations: the code and name recorded in the organization's newest archive; else null. */
  organization_code: string | null;
  organization_name: string | null;
}

/** Adds type, code and name to records, in their order. Reads each organization's newest archive once. */
export async function describeRecords(deps: Pick<Deps, 'ledger' | 'config'>, records: readonly LedgerRecord[]): Promise<ListedBackup[]> {
  const describe = recordDescriber(deps);
  // One at a time: thousands of records (status --all) must not read thousands of files at once.
  const described: ListedBackup[] = [];
  for (const record of records) described.push(await describe({ record, backup_type: await deps.ledger.backupTypeOf(record.id), host: null }));
  return described;
}

/**
 * Turns ledger entries into listed records one at a time (a stream of any length), reading each
 * organization's newest archive once (its code and name are cached per organization).
 */
export function recordDescriber(deps: Pick<Deps, 'ledger' | 'config'>): (entry: LedgerEntry) => Promise<ListedBackup> {
  const organizations = new Map<string, Promise<{ code: string | null; name: string | null }>>();
  const organizationOf = (record: LedgerRecord) => {
    const id = record.organization_id;
    if (record.kind !== 'organization' || id === null) return Promise.resolve({ code: null, name: null });
    let found = organizations.get(id);
    if (!found) {
      found = deps.ledger.find({ kind: 'organization', organization_id: id, status: 'success' }).then((successes) => organizationFromArchive(deps, successes[0]));
      organizations.set(id, found);
    }
    return found;
  };
  return async ({ record, backup_type }) => {
    const organization = await organizationOf(record);
    return {
      ...record,
      created_at: wholeSeconds(record.created_at),
      updated_at: wholeSeconds(record.updated_at),
      backup_type,
      organization_code: organization.code,
      organization_name: organization.name,
    };
  };
}

/** An encrypted archive is read when the configuration has its key; else code and name are null. */
async function organizationFromArchive(deps: Pick<Deps, 'config'>, record: LedgerRecord | undefined): Promise<{ code: string | null; name: string | null }> {
  if (!record) return { code: null, name: null };
  // An archive in a bucket is not downloaded for a listing: its name carries the code (no name).
  if (record.backup_path.startsWith('s3://')) return { code: codeFromName(record.backup_filename, record.organization_id), name: null };
  const reader = await ArchiveReader.open(record.backup_path, { keys: readKeysOf(deps.config) }).catch(() => null);
  if (!reader) return { code: null, name: null };
  try {
    const organization = reader.manifest.organization;
    return { code: organization?.code || null, name: organization?.name ?? null };
  } finally {
    await reader.close().catch(() => undefined);
  }
}

/** `org_<code>_<weekday>_backup.zip` → the code (percent-decoded); null when the name holds the id. */
function codeFromName(file: string, organizationId: string | null): string | null {
  const token = parseOrganizationArchiveName(file)?.token;
  if (token === undefined || token === organizationId) return null;
  try {
    return decodeURIComponent(token);
  } catch {
    return null;
  }
}
