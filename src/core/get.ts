/**
 * `get (<tenant> | --org <id>) <backup|latest> [-o <file> | -o -]`: the operator's "download"
 * button. The archive is read back and verified exactly as a restore would (openVerifiedArchive:
 * owner, every entry against the manifest, and the file against the sha256 the ledger recorded),
 * and only then copied out as stored (an encrypted archive stays encrypted; its owner's keys are
 * needed only to verify it): to a new file (never over an existing one: written to a temp name
 * beside it, renamed at the end, 0600), or to a stream (stdout).
 */
import { constants } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveError, UsageError } from '../errors.js';
import { tempFileName } from '../store/local.js';
import type { Deps } from './context.js';
import { resolveBackupReference } from './backup-reference.js';
import { areaOf, type Target } from './targets.js';
import { openVerifiedArchive } from './open-archive.js';
import { hashFile } from './verify.js';

export interface GetOptions {
  target: Target;
  backup: string;
  /** A file to create (relative to `cwd`), or a stream to write to. Default: `<cwd>/<backup name>`. */
  output?: string | Writable;
  cwd?: string;
  signal?: AbortSignal;
}

export interface GetResult {
  action: 'written';
  backup_filename: string;
  /** Where it came from (path or s3:// URL). */
  source: string;
  /** The file written, or null for a stream. */
  path: string | null;
  bytes: number;
  sha256: string;
}

export async function getBackup(deps: Pick<Deps, 'store' | 'ledger' | 'progress' | 'config'>, options: GetOptions): Promise<GetResult> {
  const { target } = options;
  const area = areaOf(target);
  const cwd = options.cwd ?? process.cwd();
  const name = await deps.store.resolveReference(area, await resolveBackupReference(deps, target, options.backup), cwd);
  const destination = typeof options.output === 'object' ? null : path.resolve(cwd, options.output ?? name);
  if (destination !== null) await assertAbsent(destination);
  const expected = target.kind === 'database' ? { kind: 'database' as const, tenant: target.tenant } : { kind: 'organization' as const, organizationId: target.organizationId };
  const { reader } = await openVerifiedArchive(deps, { area, reference: name, expected, signal: options.signal, cwd });
  try {
    const { bytes, sha256 } = await hashFile(reader);
    const [record] = await deps.ledger.find({ kind: target.kind, backup_filename: name, status: 'success' });
    if (record?.sha256 && record.sha256 !== sha256) {
      throw new ArchiveError(`${name} reads as sha256 ${sha256}, but the ledger recorded ${record.sha256} when it was made: the file changed since. Nothing was written.`);
    }
    deps.progress.update(`Writing ${name}…`);
    if (destination === null) {
      await pipeline(reader.openFile(), options.output as Writable, { end: false, signal: options.signal });
    } else {
      await writeNewFile(destination, reader, options.signal);
    }
    return { action: 'written', backup_filename: name, source: deps.store.location(area, name), path: destination, bytes, sha256 };
  } finally {
    await reader.close();
  }
}

async function assertAbsent(file: string): Promise<void> {
  const existing = await open(file, constants.O_RDONLY).then(
    (handle) => handle.close().then(() => true),
    () => false,
  );
  if (existing) throw new UsageError(`${file} already exists; get never overwrites a file. Choose another -o.`);
}

/** A temp file beside `file` (O_EXCL, 0600), renamed to `file` once complete; removed on failure. */
async function writeNewFile(file: string, reader: { openFile(): NodeJS.ReadableStream }, signal: AbortSignal | undefined): Promise<void> {
  const temp = path.join(path.dirname(file), tempFileName(path.basename(file)));
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    await pipeline(reader.openFile(), handle.createWriteStream(), { signal });
    await assertAbsent(file);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
