/**
 * Kill-safety of tenant restores on engines whose load is not atomic (MySQL/MariaDB: DDL commits
 * implicitly). PostgreSQL loads in one transaction and SQLite copies pages in one transaction, so a
 * kill there leaves the database as it was by itself; they get no marker.
 *
 * Contract: after a kill at ANY moment of a restore, the tenant's database is whole — as before
 * the restore, or as restored — at the latest once the next `backup` or `restore` of that tenant
 * has run, before that command does anything else.
 * 1. Under the tenant's operation lock, after the safety backup is committed and BEFORE the
 *    database is touched, the restore writes a marker `tenant-databases/.restore-in-progress.
 *    <tenant>.json` (0600, exclusive creation, never through a symlink, fsynced with its folder)
 *    naming the archive to load if the restore does not finish: the safety backup, or — with
 *    `--no-safety-backup` — the archive being restored itself (then "as restored" is the only
 *    whole state there is).
 * 2. The marker is removed only once the database is whole again: the load succeeded, or a failed
 *    load was rolled back by loading the safety backup in the same process. A failed load without
 *    safety backup removes it too (that outcome, "partly restored", is reported at once and is
 *    what --no-safety-backup accepts; re-running a load that just failed would not repair it).
 * 3. `repairInterruptedRestore`, called under the same lock first thing by `backup` and `restore`:
 *    a marker left behind means the restoring process died. The marker's archive is verified and
 *    loaded (the engine first ends the dead load's server session, see dump-mysql), then the
 *    marker is removed. If that fails, the command fails before doing anything else and the marker
 *    stays, so every later command tries again; nothing ever backs up a half-loaded database.
 * `delete` refuses to remove the archive a marker names (see delete.ts).
 */
import { constants as fsConstants } from 'node:fs';
import { link, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { OperationError, describeCause, redactSecrets } from '../errors.js';
import { hostIdentity } from '../host.js';
import { assertArchiveFileName, TENANT_DATABASES_AREA } from '../retention/naming.js';
import { fsyncPath, tempFileName } from '../store/local.js';
import type { DatabaseEngine, DatabaseTarget } from '../engines/types.js';
import type { Deps } from './context.js';
import { openVerifiedArchive } from './open-archive.js';
import { connectionSecrets } from '../engines/connection.js';

const MARKER_FORMAT = 'tenant-backup-restore-marker';
/** A marker is a few hundred bytes; anything larger is not one of ours. */
const MAX_MARKER_BYTES = 64 * 1024;

export interface RestoreMarker {
  format: typeof MARKER_FORMAT;
  version: 1;
  tenant: string;
  started_at: string;
  pid: number;
  host: string;
  /** The archive being restored (a bare name in tenant-databases/). */
  archive: string;
  /** What an interrupted restore is repaired with: `safety_backup` (→ as before) or `archive` (→ as restored). */
  reload_kind: 'safety_backup' | 'archive';
  /** The archive loaded by the repair (a bare name in tenant-databases/). */
  reload: string;
}

export interface RepairOutcome {
  interrupted_restore_started_at: string;
  interrupted_restore_of: string;
  reloaded: string;
  /** `before`: the safety backup was loaded back; `restored`: the interrupted restore was completed. */
  state: 'before' | 'restored';
}

export function restoreMarkerPath(deps: Pick<Deps, 'config'>, tenant: string): string {
  return path.join(deps.config.storage.dir, TENANT_DATABASES_AREA, `.restore-in-progress.${tenant}.json`);
}

export async function writeRestoreMarker(
  deps: Pick<Deps, 'config' | 'store' | 'clock'>,
  fields: Pick<RestoreMarker, 'tenant' | 'archive' | 'reload_kind' | 'reload'>,
): Promise<void> {
  const marker: RestoreMarker = {
    format: MARKER_FORMAT,
    version: 1,
    ...fields,
    started_at: deps.clock.now().toISOString(),
    pid: process.pid,
    host: hostIdentity(),
  };
  await deps.store.ensureArea(TENANT_DATABASES_AREA);
  const file = restoreMarkerPath(deps, fields.tenant);
  // Written whole to a temp file first, then linked to its name: a kill at any moment leaves either
  // no marker or a complete one (never an empty file). link() refuses an existing marker, as O_EXCL
  // did; a killed run's temp file is removed like any other of this host (store/local.ts).
  const temp = path.join(path.dirname(file), tempFileName(path.basename(file)));
  try {
    const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(marker, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temp, file);
  } catch (error) {
    throw new OperationError(`Cannot record the restore of tenant "${fields.tenant}" as in progress (${file}): ${describeCause(error)}. Nothing was changed.`);
  } finally {
    await rm(temp, { force: true });
  }
  await fsyncPath(path.dirname(file));
}

export async function removeRestoreMarker(deps: Pick<Deps, 'config'>, tenant: string): Promise<void> {
  const file = restoreMarkerPath(deps, tenant);
  await rm(file, { force: true });
  await fsyncPath(path.dirname(file)).catch(() => undefined);
}

/** The marker of an unfinished restore of `tenant`, or null. A marker that is not valid is an error (never ignored). */
export async function readRestoreMarker(deps: Pick<Deps, 'config'>, tenant: string): Promise<RestoreMarker | null> {
  const file = restoreMarkerPath(deps, tenant);
  let text: string;
  try {
    const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > MAX_MARKER_BYTES) throw new Error('not a regular file of a marker’s size');
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw invalidMarker(file, describeCause(error));
  }
  let value: Partial<RestoreMarker>;
  try {
    value = JSON.parse(text) as Partial<RestoreMarker>;
  } catch {
    throw invalidMarker(file, 'it is not JSON');
  }
  const names = [value.archive, value.reload];
  if (
    value.format !== MARKER_FORMAT ||
    value.version !== 1 ||
    value.tenant !== tenant ||
    (value.reload_kind !== 'safety_backup' && value.reload_kind !== 'archive') ||
    typeof value.started_at !== 'string' ||
    !names.every((name) => typeof name === 'string' && isArchiveName(name))
  ) {
    throw invalidMarker(file, 'its fields are not those of a restore marker');
  }
  return value as RestoreMarker;
}

function isArchiveName(name: string): boolean {
  try {
    assertArchiveFileName(name);
    return true;
  } catch {
    return false;
  }
}

function invalidMarker(file: string, why: string): OperationError {
  return new OperationError(
    `The record of an interrupted tenant restore, ${file}, cannot be used (${why}). The tenant's database may be half-restored: check it, load a backup with --no-safety-backup if needed, then remove that file.`,
  );
}

/**
 * Repairs the tenant's database if a restore of it was interrupted (see the header); returns what
 * was done, or null when there was nothing to repair. The caller holds the tenant's operation lock.
 */
export async function repairInterruptedRestore(
  deps: Deps,
  /** The tenant's engine and target (a PreparedTenant; structural, so backup-tenant can call this). */
  prepared: { engine: DatabaseEngine; target: DatabaseTarget },
  options: { searchPath?: string } = {},
): Promise<RepairOutcome | null> {
  const tenant = prepared.target.tenant;
  const marker = await readRestoreMarker(deps, tenant);
  if (!marker) return null;
  const what = `a restore of ${marker.archive} started ${marker.started_at} (process ${marker.pid} on ${marker.host}) did not finish`;
  deps.progress.update(`Tenant ${tenant}: ${what}; loading ${marker.reload} to make the database whole…`);
  try {
    const { entryPath, name: engine } = prepared.engine;
    const { reader } = await openVerifiedArchive(deps, {
      area: TENANT_DATABASES_AREA,
      reference: marker.reload,
      expected: { kind: 'database', tenant, engine, entryPath },
    });
    try {
      const stream = await reader.openEntry(entryPath);
      // No abort signal: an interrupted repair would only have to be repaired again.
      await prepared.engine.restoreDatabase(prepared.target, stream, { searchPath: options.searchPath, emptyFirst: marker.reload_kind === 'safety_backup' });
    } finally {
      await reader.close();
    }
  } catch (error) {
    const reason = redactSecrets(describeCause(error), connectionSecrets(prepared.target.connection));
    throw new OperationError(
      `Tenant "${tenant}" may be half-restored: ${what}, and loading ${marker.reload} to repair it failed: ${reason}\n` +
        `Nothing else was done. The next backup or restore of tenant "${tenant}" tries the repair again; to give it up, ` +
        `make the database whole by hand, then remove ${restoreMarkerPath(deps, tenant)}.`,
      { cause: error, details: { tenant, interrupted_restore_of: marker.archive, reload: marker.reload } },
    );
  }
  await removeRestoreMarker(deps, tenant);
  const state = marker.reload_kind === 'safety_backup' ? 'before' : 'restored';
  deps.progress.note(
    `Tenant ${tenant}: ${what}; ${marker.reload} was loaded, so the database is ${state === 'before' ? 'as it was before that restore' : 'as that restore would have left it'}.`,
  );
  return { interrupted_restore_started_at: marker.started_at, interrupted_restore_of: marker.archive, reloaded: marker.reload, state };
}
