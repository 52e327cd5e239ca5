/**
 * `delete`: removes one archive and its ledger records, only after proving it belongs to the
 * requested tenant/organization (ledger record, else exact file-name rules, else the archive's
 * own manifest). Nothing is removed when ownership cannot be proven.
 *
 * The removal runs under the target's operation lock — the one backup and restore hold — so a
 * delete never races a backup writing or a restore reading the same target: while one runs,
 * delete is refused (LockedError, exit 7), nothing removed. (A restore reads its archive through
 * the descriptor it verified, so even a file removed by other means cannot break it.) The checks
 * are repeated under the lock, and an archive that an interrupted tenant restore still needs to
 * repair the database (restore-tenant-recovery.ts) is never removed.
 */
import { ArchiveError, ForbiddenTargetError, LockedError, NotFoundError, UsageError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { parseOrganizationArchiveName, parseTenantArchiveName, organizationToken } from '../retention/naming.js';
import type { Deps } from './context.js';
import { resolveBackupReference } from './backup-reference.js';
import { readRestoreMarker, restoreMarkerPath } from './restore-tenant-recovery.js';
import { areaOf, describeTarget, organizationLockKey, ownerOfRecord, recordBelongsTo, tenantLockKey, type Target } from './targets.js';

export interface DeleteOptions {
  target: Target;
  /** A name from `list`, or a path to an archive in the store. */
  backup: string;
  /** Asked once ownership is proven; returning false cancels without changes. */
  confirm: (question: string) => Promise<boolean>;
  cwd?: string;
}

export type DeleteResult =
  { action: 'deleted'; backup_filename: string; backup_path: string; removed_records: LedgerRecord[]; file_existed: boolean } | { action: 'cancelled'; backup_filename: string };

export async function deleteBackup(deps: Pick<Deps, 'store' | 'ledger' | 'config'>, options: DeleteOptions): Promise<DeleteResult> {
  const { target } = options;
  const area = areaOf(target);
  const name = await deps.store.resolveReference(area, await resolveBackupReference(deps, options.target, options.backup), options.cwd);
  await checkDeletable(deps, target, name);
  if (!(await options.confirm(`Delete backup ${name} of ${describeTarget(target)}? This cannot be undone.`))) {
    return { action: 'cancelled', backup_filename: name };
  }
  const lockKey = target.kind === 'database' ? tenantLockKey(target.tenant) : organizationLockKey(target.organizationId);
  let locked = false;
  try {
    return await deps.ledger.withLock(lockKey, async () => {
      locked = true;
      // Again under the lock: a backup may have started or finished since the question.
      const { records, file } = await checkDeletable(deps, target, name);
      if (file) await deps.store.remove(area, name);
      for (const record of records) await deps.ledger.remove(record.id);
      return {
        action: 'deleted',
        backup_filename: name,
        backup_path: deps.store.location(area, name),
        removed_records: records,
        file_existed: file !== null,
      };
    });
  } catch (error) {
    if (error instanceof LockedError && !locked) {
      throw new LockedError(`A backup or restore of ${describeTarget(target)} is running right now; ${name} was not deleted. Try again once it has finished.`, error.details);
    }
    throw error;
  }
}

/** Everything that must hold for `name` to be deleted; returns its records and file. */
async function checkDeletable(deps: Pick<Deps, 'store' | 'ledger' | 'config'>, target: Target, name: string) {
  const area = areaOf(target);
  const records = await deps.ledger.find({ kind: target.kind, backup_filename: name });
  const file = await deps.store.stat(area, name);
  if (!file && records.length === 0) throw NotFoundError.backup(name);

  const foreign = records.find((record) => !recordBelongsTo(record, target));
  if (foreign) throw ForbiddenTargetError.otherOwner(name, describeTarget(target) + ` (it is ${ownerOfRecord(foreign)}'s)`);
  if (records.length === 0) await assertFileBelongs(deps, target, name);
  if (records.some((record) => record.status === 'in_progress')) {
    throw new UsageError(`Backup "${name}" is being written right now (ledger says in_progress); try again when it has finished.`);
  }
  if (target.kind === 'database') {
    const marker = await readRestoreMarker(deps, target.tenant);
    if (marker && (marker.reload === name || marker.archive === name)) {
      throw new UsageError(
        `A restore of tenant "${target.tenant}" was interrupted and ${name} is needed to make its database whole again; ` +
          `the next backup or restore of the tenant does that (${restoreMarkerPath(deps, target.tenant)}). Delete it afterwards.`,
      );
    }
  }
  return { records, file };
}

/** Ownership of a file the ledger does not know (ledger lost or file copied in). */
async function assertFileBelongs(deps: Pick<Deps, 'store' | 'config'>, target: Target, name: string): Promise<void> {
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

async function readManifest(deps: Pick<Deps, 'store' | 'config'>, target: Target, name: string) {
  const { readStoredManifest } = await import('./open-archive.js');
  return readStoredManifest(deps, areaOf(target), name, target.kind === 'database' ? target.tenant : undefined);
}
