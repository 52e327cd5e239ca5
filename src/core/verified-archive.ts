/**
 * The one way an archive comes to exist, and the one way a restore opens one.
 *
 * Writing (`PendingArchive`; both backups use it), in this order:
 *   1. begin   a ledger record `in_progress`, owned by the run that holds the operation lock;
 *   2. temp    a temp file beside the final name in the store, an ArchiveWriter on it;
 *   3. write   the caller streams its entries into `writer`;
 *   4. verify  the manifest is appended and the file fsynced (`ArchiveWriter.finish`), then the file
 *              is read back: every entry against its sha256, the file's bytes against the sha256
 *              of what was written (`verifyFile`);
 *   5. commit  the temp file is renamed over the final name (`Store.commit`, atomic), the previous
 *              archive of that name kept aside (a hard link) until step 6 is done;
 *   6. finish  the record becomes `success`, with the archive's size and sha256. If the ledger
 *              cannot be written, the previous archive is put back (or the new one removed when
 *              there was none), so the file and its record agree, and the error says so.
 * A failure at any step — or an abort — removes the temp file, marks the record `failed` with a
 * redacted message and gives back a typed error. Until step 5, the previous archive of that name
 * and its record are untouched.
 *
 * A backup that fails before step 1 because the attempt failed (server unreachable, password
 * refused, dump tool missing or too old) is recorded `failed` too (`recordFailedStart`), so
 * `status`, `list` and monitoring see the failed cron run. Bad input (unknown tenant or
 * organization, invalid configuration) is not recorded: nothing was attempted.
 *
 * Reading is open-archive.ts (`openVerifiedArchive`, both restores).
 *
 * Encryption (cipher/): the archive's cipher is part of its spec; the writer encrypts on the way
 * to the temp file, and step 4 decrypts what was written with the file's own key. A new
 * weekday archive replaces its slot's other file too (`.zip` ↔ `.zip.age`, see `rotationSibling`).
 */
import type { ArchiveCipher } from '../cipher/types.js';
import { ArchiveWriter } from '../archive/zip-writer.js';
import type { Manifest } from '../archive/manifest.js';
import { link } from 'node:fs/promises';
import { OperationError, TenantBackupError, asTypedError, describeCause } from '../errors.js';
import type { LedgerBackupType, LedgerRecord, NewRecord } from '../ledger/types.js';
import { rotationSibling, type StoreArea } from '../retention/naming.js';
import type { Deps } from './context.js';

/** Everything about one archive to be written, known before its first byte. */
export interface ArchiveSpec {
  area: StoreArea;
  /** The final file name in `area`. */
  name: string;
  /** The ledger record's columns other than the file's name and path (taken from `area`/`name`). */
  record: Omit<NewRecord, 'backup_filename' | 'backup_path'>;
  backupType: LedgerBackupType;
  /** The operation lock the run holds (recorded, so a dead run's record can be recovered). */
  lockKey?: string;
  /** Removed from every message that is recorded or thrown. */
  secrets: string[];
  signal?: AbortSignal;
  compressionLevel: number;
  /** See ArchiveWriterOptions.checkWhileWriting: for sources that set the pace (dump tools). */
  checkWhileWriting?: boolean;
  /** How the archive is stored (default: not encrypted); `name` must carry its suffix. */
  cipher?: ArchiveCipher;
}

/** Error codes that mean "the attempt failed", as opposed to "the request was wrong". */
const ATTEMPT_FAILURES = new Set(['CONNECTION', 'TOOL_MISSING', 'OPERATION_FAILED']);

export function isFailedAttempt(error: TenantBackupError): boolean {
  return ATTEMPT_FAILURES.has(error.code);
}

function newRecordOf(deps: Pick<Deps, 'store'>, spec: Pick<ArchiveSpec, 'area' | 'name' | 'record'>): NewRecord {
  return { ...spec.record, backup_filename: spec.name, backup_path: deps.store.location(spec.area, spec.name) };
}

/** The typed, redacted error a failed backup ends with (an abort is CANCELLED). */
export function backupFailure(error: unknown, secrets: string[]): TenantBackupError {
  const aborted = error instanceof Error && error.name === 'AbortError';
  return asTypedError(aborted ? new TenantBackupError('CANCELLED', 'Backup cancelled.') : error, secrets);
}

/**
 * Records a backup that failed before it began (step 1) as `failed`, when the error is an
 * attempt's failure. Never throws: the original error is what the caller reports.
 */
export async function recordFailedStart(
  deps: Pick<Deps, 'ledger' | 'store'>,
  spec: Pick<ArchiveSpec, 'area' | 'name' | 'record' | 'backupType'>,
  error: TenantBackupError,
): Promise<LedgerRecord | null> {
  if (!isFailedAttempt(error)) return null;
  try {
    const started = await deps.ledger.begin(newRecordOf(deps, spec), { backupType: spec.backupType });
    return await deps.ledger.finish(started.id, { status: 'failed', error_message: error.message });
  } catch {
    return null;
  }
}

/** An archive between `begin` and `commit` (or `fail`): see the header for the sequence. */
export class PendingArchive {
  private current: ArchiveWriter | undefined;
  private temp: string | undefined;
  private settled = false;

  private constructor(
    private readonly deps: Pick<Deps, 'ledger' | 'store' | 'progress'>,
    private readonly spec: ArchiveSpec,
    readonly record: LedgerRecord,
  ) {}

  /** Steps 1 and 2. On failure the record (if begun) is marked failed and the error is typed. */
  static async begin(deps: Pick<Deps, 'ledger' | 'store' | 'progress'>, spec: ArchiveSpec): Promise<PendingArchive> {
    const record = await deps.ledger.begin(newRecordOf(deps, spec), { lockKey: spec.lockKey, backupType: spec.backupType });
    const archive = new PendingArchive(deps, spec, record);
    try {
      archive.temp = await deps.store.tempPath(spec.area, spec.name);
      archive.current = await ArchiveWriter.open(archive.temp, {
        compressionLevel: spec.compressionLevel,
        checkWhileWriting: spec.checkWhileWriting ?? false,
        cipher: spec.cipher,
      });
    } catch (error) {
      throw await archive.fail(error);
    }
    return archive;
  }

  get name(): string {
    return this.spec.name;
  }

  /** Step 3: where the caller writes its entries. */
  get writer(): ArchiveWriter {
    if (!this.current) throw new TenantBackupError('OPERATION_FAILED', `The archive ${this.spec.name} is no longer open for writing.`);
    return this.current;
  }

  /** Steps 4 to 6; returns the finished record. On failure, call `fail` (as `writeVerifiedArchive` does). */
  async commit(manifest: Manifest): Promise<LedgerRecord> {
    const { deps, spec } = this;
    deps.progress.update(`Verifying ${spec.name}…`);
    // The file's sha256 is that of the bytes as written (no second pass to compute it); the
    // verification reads the archive back as a restore would.
    const writer = this.writer;
    const { sha256 } = await writer.finish(manifest);
    this.current = undefined;
    await writer.verifyFile();
    spec.signal?.throwIfAborted();
    // Last week's archive of that name is kept aside (a hard link beside it) until the ledger has
    // recorded the new one: if recording fails, it is put back, so the archive and its record
    // always agree (see recordOrRollBack). A remote store uploads here, checking the object
    // against the staged bytes (store/s3-upload.ts).
    const previous = await this.keepPrevious();
    const stored = await deps.store.commit(this.temp!, spec.area, spec.name, { signal: spec.signal }).catch(async (error: unknown) => {
      if (typeof previous === 'string') await deps.store.discard(previous);
      throw error;
    });
    this.temp = undefined;
    const finished = await this.recordOrRollBack(previous, { status: 'success', backup_size: stored.bytes, sha256 });
    this.settled = true;
    await removeRotationSibling(deps, spec, finished);
    return finished;
  }

  /** A hard link to the current archive of that name, in the store's temp naming; null if none or not possible. */
  /**
   * Last week's archive of this name set aside as a hard link beside it: its path; 'none' when
   * there is no previous archive; 'not-kept' when there is one but it cannot be set aside (a remote
   * store, or a file system without hard links).
   */
  private async keepPrevious(): Promise<string | 'none' | 'not-kept'> {
    const { deps, spec } = this;
    const previous = await deps.store.stat(spec.area, spec.name);
    if (!previous) return 'none';
    if (deps.store.kind !== 'local') return 'not-kept';
    const kept = await deps.store.tempPath(spec.area, spec.name);
    return link(previous.path, kept).then(
      () => kept,
      () => 'not-kept' as const,
    );
  }

  /**
   * Step 6, or — when the ledger cannot be written — the archive put back as it was before step 5
   * (last week's file restored from the kept link, or the new file removed when there was none),
   * the record marked failed if the ledger allows it, and an error saying exactly that.
   */
  private async recordOrRollBack(previous: string | 'none' | 'not-kept', outcome: { status: 'success'; backup_size: number; sha256: string }): Promise<LedgerRecord> {
    const { deps, spec } = this;
    let finished: LedgerRecord;
    try {
      finished = await deps.ledger.finish(this.record.id, outcome);
    } catch (error) {
      this.settled = true;
      let undone: string;
      try {
        if (previous === 'not-kept') {
          undone = `${spec.name} is the new, verified archive (sha256 ${outcome.sha256}); the previous one could not be kept aside (${deps.store.kind} store), so the ledger's record of it no longer matches the file`;
        } else if (previous === 'none') {
          await deps.store.remove(spec.area, spec.name);
          undone = `the new ${spec.name} was removed (there was no previous archive of that name)`;
        } else {
          await deps.store.commit(previous, spec.area, spec.name);
          undone = `the previous ${spec.name} was put back as it was, and its record still describes it`;
        }
      } catch (undo) {
        undone = `putting the previous archive back failed too (${describeCause(undo)}): ${spec.name} is the new, verified archive (sha256 ${outcome.sha256}), which the ledger does not list`;
      }
      const failure = new OperationError(`The backup was written and verified, but recording it in the ledger failed (${describeCause(error)}); ${undone}.`, {
        cause: error,
        details: { backup: spec.name },
      });
      await deps.ledger.finish(this.record.id, { status: 'failed', error_message: failure.message }).catch(() => undefined);
      throw failure;
    }
    if (previous !== 'none' && previous !== 'not-kept') await deps.store.discard(previous);
    return finished;
  }

  /**
   * The clean-up: the writer aborted, the temp file removed, the record marked failed. Returns the
   * typed, redacted error to throw. Idempotent; does nothing more after a successful commit.
   */
  async fail(error: unknown): Promise<TenantBackupError> {
    const failure = backupFailure(error, this.spec.secrets);
    if (this.settled) return failure;
    this.settled = true;
    if (this.current) await this.current.abort();
    this.current = undefined;
    if (this.temp) await this.deps.store.discard(this.temp);
    this.temp = undefined;
    await this.deps.ledger.finish(this.record.id, { status: 'failed', error_message: failure.message }).catch(() => undefined);
    return failure;
  }
}

/**
 * After a weekday archive is committed: its slot's other file (`.zip` ↔ `.zip.age`) is replaced
 * too, so switching encryption on or off keeps one archive per weekday. Only a file the ledger
 * records as this owner's own success is removed; anything else is left alone. Never fails the
 * backup (it is committed): a failure is a note.
 */
async function removeRotationSibling(deps: Pick<Deps, 'ledger' | 'store' | 'progress'>, spec: ArchiveSpec, record: LedgerRecord): Promise<void> {
  const sibling = rotationSibling(spec.name);
  if (sibling === null) return;
  try {
    const records = (await deps.ledger.find({ kind: record.kind, backup_filename: sibling })).filter(
      (other) => other.organization_id === record.organization_id && other.tenant === record.tenant && other.status !== 'in_progress',
    );
    if (!records.some((other) => other.status === 'success')) return;
    await deps.store.remove(spec.area, sibling);
    for (const other of records) await deps.ledger.remove(other.id);
  } catch (error) {
    deps.progress.note(`warning: ${sibling} (replaced by ${spec.name}) could not be removed: ${backupFailure(error, spec.secrets).message}`);
  }
}

/** The whole sequence for a backup that writes its entries in one place. */
export async function writeVerifiedArchive<T>(
  deps: Pick<Deps, 'ledger' | 'store' | 'progress'>,
  spec: ArchiveSpec,
  write: (writer: ArchiveWriter) => Promise<{ manifest: Manifest; result: T }>,
): Promise<{ record: LedgerRecord; result: T }> {
  const archive = await PendingArchive.begin(deps, spec);
  try {
    const { manifest, result } = await write(archive.writer);
    return { record: await archive.commit(manifest), result };
  } catch (error) {
    throw await archive.fail(error);
  }
}
