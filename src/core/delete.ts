/**
 * `delete`: removes one archive and its ledger records, only after proving it belongs to the
 * requested tenant/organization (ledger record, else exact file-name rules, else the archive's
 * own manifest). Nothing is removed when ownership cannot be proven.
 */
import { ArchiveError, ForbiddenTargetError, NotFoundError, UsageError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { parseOrganizationArchiveName, parseTenantArchiveName, organizationToken } from '../retention/naming.js';
import type { Deps } from './context.js';
import { areaOf, describeTarget, ownerOfRecord, recordBelongsTo, type Target } from './targets.js';
import { resolveBackupReference } from './backup-reference.js';

export interface DeleteOptions {
  target: Target;
  /** A name from `list`, or a path to an archive in the store. */
  backup: string;
  /** Asked once ownership is proven; returning false cancels without changes. */
  confirm: (question: string) => Promise<boolean>;
  cwd?: string;
}

export type DeleteResult =
  | { action: 'deleted'; backup_filename: string; backup_path: string; removed_records: LedgerRecord[]; file_existed: boolean }
  | { action: 'cancelled'; backup_filename: string };

export async function deleteBackup(deps: Pick<Deps, 'store' | 'ledger'>, options: DeleteOptions): Promise<DeleteResult> {
  const { target } = options;
  const area = areaOf(target);
  const name = await deps.store.resolveReference(area, await resolveBackupReference(deps, options.target, options.backup), options.cwd);
  const kind = target.kind;
  const records = await deps.ledger.find({ kind, backup_filename: name });
  const file = await deps.store.stat(area, name);
  if (!file && records.length === 0) throw NotFoundError.backup(name);

  const foreign = records.find((record) => !recordBelongsTo(record, target));
  if (foreign) throw ForbiddenTargetError.otherOwner(name, describeTarget(target) + ` (it is ${ownerOfRecord(foreign)}'s)`);
  if (records.length === 0) await assertFileBelongs(deps, target, name);
  if (records.some((record) => record.status === 'in_progress')) {
    throw new UsageError(`Backup "${name}" is being written right now (ledger says in_progress); try again when it has finished.`);
  }

  if (!(await options.confirm(`Delete backup ${name} of ${describeTarget(target)}? This cannot be undone.`))) {
    return { action: 'cancelled', backup_filename: name };
  }
  if (file) await deps.store.remove(area, name);
  for (const record of records) await deps.ledger.remove(record.id);
  return {
    action: 'deleted',
    backup_filename: name,
    backup_path: deps.store.localPath(area, name),
    removed_records: records,
    file_existed: file !== null,
  };
}

/** Ownership of a file the ledger does not know (ledger lost or file copied in). */
async function assertFileBelongs(deps: Pick<Deps, 'store'>, target: Target, name: string): Promise<void> {
  if (target.kind === 'database') {
    if (parseTenantArchiveName(name)?.tenant !== target.tenant) throw ForbiddenTargetError.otherOwner(name, describeTarget(target));
    // The name matches; a readable manifest naming another tenant still wins (a renamed file).
    const manifest = await readManifest(deps, target, name).catch(() => null);
    if (manifest && manifest.tenant !== target.tenant) throw ForbiddenTargetError.otherOwner(name, describeTarget(target));
    return;
  }
  const parsed = parseOrganizationArchiveName(name);
  if (!parsed) throw ForbiddenTargetError.otherOwner(name, describeTarget(target));
  let organizationId: string | undefined;
  try {
    organizationId = (await readManifest(deps, target, name)).organization?.id;
  } catch (error) {
    // An unreadable archive named after this organization's id (no code) is still provably its own.
    if (error instanceof ArchiveError && parsed.token === organizationToken({ id: target.organizationId })) return;
    throw new ForbiddenTargetError(
      `Cannot prove that "${name}" belongs to ${describeTarget(target)}: the ledger has no record of it and its manifest is unreadable (${(error as Error).message}). Remove it by hand if you are sure.`,
    );
  }
  if (organizationId !== target.organizationId) throw ForbiddenTargetError.otherOwner(name, describeTarget(target));
}

async function readManifest(deps: Pick<Deps, 'store'>, target: Target, name: string) {
  const { readManifest: read } = await import('./verified-archive.js');
  return read(deps.store.localPath(areaOf(target), name));
}
