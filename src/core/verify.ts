/**
 * `verify [<tenant> | --org <id>] [<backup> | --all]`: reads archives back from the store — the
 * local folder, or downloads from S3 — and checks each as a restore would (openVerifiedArchive:
 * the manifest names the right owner, every entry's size and sha256 match the manifest; an
 * encrypted archive is decrypted with its owner's keys), plus the whole file as stored (encrypted
 * or not) against the sha256 the ledger recorded when it was made. Like `restic check
 * --read-data`: nothing is trusted that was not read.
 *
 * Which archives: one named backup (`latest` included); a target's newest successful backup, or
 * with `all` every one of its successful backups; without a target, the same for every tenant and
 * organization the ledger knows. A damaged or missing archive is a result (`ok: false`), not a
 * thrown error, so one bad archive does not hide the others; the CLI exits 5 when any is not ok.
 * Errors that stop every check (store unreachable, no credentials) are thrown.
 */
import { createHash } from 'node:crypto';
import { ArchiveError, TenantBackupError } from '../errors.js';
import type { LedgerOwner, LedgerRecord } from '../ledger/types.js';
import type { Deps } from './context.js';
import { resolveBackupReference } from './backup-reference.js';
import { areaOf, type Target } from './targets.js';
import { openVerifiedArchive } from './open-archive.js';
import type { ArchiveReader } from '../archive/zip-reader.js';

export interface VerifyOptions {
  /** One tenant or organization; every one the ledger knows when absent. */
  target?: Target;
  /** One backup of `target` (a name, a path/URL in the store, or `latest`). */
  backup?: string;
  /** Every successful backup instead of the newest one. */
  all?: boolean;
  signal?: AbortSignal;
}

export interface VerifiedItem {
  kind: Target['kind'];
  tenant: string | null;
  organization_id: string | null;
  backup_filename: string;
  /** Where it was read: a path or an s3:// URL. */
  location: string;
  /** `ok`; `damaged` (an entry, the manifest or the file differs); `missing` (not in the store). */
  status: 'ok' | 'damaged' | 'missing';
  bytes: number | null;
  /** The archive file's sha256 as read now. */
  sha256: string | null;
  /** Payload entries checked against the manifest. */
  entries: number;
  error: string | null;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  damaged: number;
  missing: number;
  results: VerifiedItem[];
}

export async function verifyBackups(deps: Pick<Deps, 'store' | 'ledger' | 'progress' | 'config'>, options: VerifyOptions = {}): Promise<VerifyResult> {
  const results: VerifiedItem[] = [];
  if (options.backup !== undefined) {
    if (!options.target) throw new TenantBackupError('USAGE', 'Name the tenant or --org <id> of the backup to verify.');
    const name = await resolveBackupReference(deps, options.target, options.backup);
    const [record] = await deps.ledger.find({ ...filterOf(options.target), backup_filename: await deps.store.resolveReference(areaOf(options.target), name) });
    // One named archive: a refusal (not found, another owner's) is the command's error.
    results.push(await verifyOne(deps, options.target, name, record, options.signal, true));
  } else {
    for (const [target, records] of await successesByTarget(deps, options.target, options.all === true)) {
      for (const record of records) {
        options.signal?.throwIfAborted();
        results.push(await verifyOne(deps, target, record.backup_filename, record, options.signal, false));
      }
    }
  }
  const damaged = results.filter((item) => item.status === 'damaged').length;
  const missing = results.filter((item) => item.status === 'missing').length;
  return { ok: damaged + missing === 0, checked: results.length, damaged, missing, results };
}

function filterOf(target: Target) {
  return target.kind === 'database' ? { kind: 'database' as const, tenant: target.tenant } : { kind: 'organization' as const, organization_id: target.organizationId };
}

/**
 * Successful records, newest first, grouped by target, the target of the newest record first (as
 * the ledger lists them). One owner's records at a time: without `all`, only each target's newest
 * is kept, so a ledger of a million records is never held whole.
 */
async function successesByTarget(deps: Pick<Deps, 'ledger'>, only: Target | undefined, all: boolean): Promise<Map<Target, LedgerRecord[]>> {
  const owners: LedgerOwner[] = only
    ? [only.kind === 'database' ? { kind: 'database', tenant: only.tenant } : { kind: 'organization', organization_id: only.organizationId }]
    : await deps.ledger.owners();
  const groups: Array<{ target: Target; records: LedgerRecord[] }> = [];
  for (const owner of owners) {
    const target: Target = owner.kind === 'database' ? { kind: 'database', tenant: owner.tenant } : { kind: 'organization', organizationId: owner.organization_id };
    const records = await deps.ledger.find({ ...filterOf(target), status: 'success' });
    if (records.length > 0) groups.push({ target, records: all ? records : records.slice(0, 1) });
  }
  groups.sort((a, b) => b.records[0]!.created_at.localeCompare(a.records[0]!.created_at) || b.records[0]!.id - a.records[0]!.id);
  return new Map(groups.map((group) => [group.target, group.records]));
}

async function verifyOne(
  deps: Pick<Deps, 'store' | 'progress' | 'config'>,
  target: Target,
  name: string,
  record: LedgerRecord | undefined,
  signal: AbortSignal | undefined,
  single: boolean,
): Promise<VerifiedItem> {
  const area = areaOf(target);
  const item: VerifiedItem = {
    kind: target.kind,
    tenant: target.kind === 'database' ? target.tenant : null,
    organization_id: target.kind === 'organization' ? target.organizationId : null,
    backup_filename: name,
    location: deps.store.location(area, name),
    status: 'ok',
    bytes: null,
    sha256: null,
    entries: 0,
    error: null,
  };
  const expected = target.kind === 'database' ? { kind: 'database' as const, tenant: target.tenant } : { kind: 'organization' as const, organizationId: target.organizationId };
  let reader: ArchiveReader;
  try {
    ({ reader } = await openVerifiedArchive(deps, { area, reference: name, expected, signal }));
  } catch (error) {
    if (single || !(error instanceof TenantBackupError) || !['ARCHIVE_INVALID', 'NOT_FOUND', 'FORBIDDEN_TARGET'].includes(error.code)) throw error;
    return { ...item, status: error.code === 'NOT_FOUND' ? 'missing' : 'damaged', error: error.message };
  }
  try {
    const { bytes, sha256 } = await hashFile(reader);
    Object.assign(item, { bytes, sha256, entries: reader.manifest.entries.length });
    if (record?.sha256 && record.sha256 !== sha256) {
      const mismatch = new ArchiveError(
        `${name} reads as ${bytes} bytes with sha256 ${sha256}, but the ledger recorded sha256 ${record.sha256} when it was made: the file changed since.`,
      );
      if (single) throw mismatch;
      return { ...item, status: 'damaged', error: mismatch.message };
    }
    return item;
  } finally {
    await reader.close();
  }
}

/** The archive file's size and sha256 as stored (encrypted, if it is), read through the reader's verified descriptor. */
export async function hashFile(reader: ArchiveReader): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of reader.openFile()) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
