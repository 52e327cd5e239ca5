/**
 * The local-directory store: `<dir>/organizations/` and `<dir>/tenant-databases/`, folders 0700,
 * archives 0600. Temp files are dot-files beside their final name
 * (`.<name>.@<host>.<pid>.<random>.tmp`, see `tempFileName`), so a rename replaces the old archive
 * atomically and listings never show half-written files.
 *
 * Every operation first checks the store's ownership rules (safety.ts: ours, nobody else may
 * write into it) and never follows a symbolic link inside the store: an archive name that is a
 * link is refused, listings skip links.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidNameError, NotFoundError } from '../errors.js';
import { hostIdentity, hostToken, tempFileName } from '../host.js';
import { assertArchiveFileName, hasArchiveExtension, type StoreArea } from '../retention/naming.js';
import { openDirectoryNoFollow, openNoFollow, StoreGuard, unsafeStore } from './safety.js';
import type { CommitOptions, LocalCopy, Store, StoredFile } from './types.js';

export { tempFileName };

export const DIRECTORY_MODE = 0o700;
export const ARCHIVE_MODE = 0o600;

export class LocalStore implements Store {
  readonly kind = 'local';

  constructor(
    readonly root: string,
    /** Shared with the ledger of the same Deps, so the store is checked once per command. */
    readonly guard: StoreGuard = new StoreGuard(root),
  ) {}

  private areaDir(area: StoreArea): string {
    return path.join(this.root, area);
  }

  /** Creates the storage folders (0700) on first use; existing folders are tightened to 0700. */
  async ensureArea(area: StoreArea): Promise<string> {
    await this.guard.check();
    await ensurePrivateDir(this.root);
    return ensurePrivateDir(this.areaDir(area));
  }

  /** Absolute local path of an archive. */
  localPath(area: StoreArea, name: string): string {
    assertArchiveFileName(name);
    return path.join(this.areaDir(area), name);
  }

  location(area: StoreArea, name: string): string {
    return this.localPath(area, name);
  }

  async tempPath(area: StoreArea, finalName: string): Promise<string> {
    assertArchiveFileName(finalName);
    const dir = await this.ensureArea(area);
    await removeDeadTemps(dir);
    return path.join(dir, tempFileName(finalName));
  }

  async commit(temp: string, area: StoreArea, finalName: string, options: CommitOptions = {}): Promise<StoredFile> {
    options.signal?.throwIfAborted();
    const finalPath = this.localPath(area, finalName);
    if (path.dirname(temp) !== path.dirname(finalPath)) {
      throw new InvalidNameError(`Temp file ${temp} is not in the folder of ${finalPath}; refusing a non-atomic commit.`);
    }
    const handle = await openNoFollow(temp, constants.O_RDONLY);
    try {
      await handle.chmod(ARCHIVE_MODE);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, finalPath);
    await fsyncPath(path.dirname(finalPath));
    const info = await this.stat(area, finalName);
    if (!info) throw new NotFoundError(`Archive ${finalPath} vanished right after it was committed.`);
    return info;
  }

  /** Size of a temp file of `area` made by `tempPath` (refused if elsewhere, or a link). */
  async statTemp(temp: string, area: StoreArea, finalName: string): Promise<{ bytes: number }> {
    if (path.dirname(temp) !== path.dirname(this.localPath(area, finalName))) {
      throw new InvalidNameError(`Temp file ${temp} is not in the staging folder of ${area}; refusing it.`);
    }
    const info = await lstat(temp);
    if (!info.isFile()) throw unsafeStore(temp, 'is not a regular file', 'Remove it.');
    return { bytes: info.size };
  }

  async discard(temp: string): Promise<void> {
    await rm(temp, { force: true }).catch(() => undefined);
  }

  /** The archive `name`, or null when there is none; a symbolic link there is refused, not followed. */
  async stat(area: StoreArea, name: string): Promise<StoredFile | null> {
    const filePath = this.localPath(area, name);
    await this.guard.check();
    try {
      const info = await lstat(filePath);
      if (info.isSymbolicLink()) throw unsafeStore(filePath, 'is a symbolic link', 'Remove it; tenant-backup never follows links inside the store.');
      if (!info.isFile()) return null;
      return { area, name, path: filePath, bytes: info.size, modifiedAt: info.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async open(area: StoreArea, name: string): Promise<Readable> {
    const info = await this.stat(area, name);
    if (!info) throw NotFoundError.backup(name);
    const handle = await openNoFollow(info.path, constants.O_RDONLY);
    return handle.createReadStream();
  }

  /** The archive itself: no copy is made, and `release` leaves it alone. */
  async fetch(area: StoreArea, name: string): Promise<LocalCopy> {
    const info = await this.stat(area, name);
    if (!info) throw NotFoundError.backup(name);
    return { path: info.path, bytes: info.bytes, release: async () => undefined };
  }

  /** Archives of an area, newest first; symbolic links and other non-files are skipped. */
  async list(area: StoreArea): Promise<StoredFile[]> {
    await this.guard.check();
    let names: string[];
    try {
      names = (await readdir(this.areaDir(area), { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const files: StoredFile[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !hasArchiveExtension(name)) continue;
      const info = await this.stat(area, name).catch(() => null);
      if (info) files.push(info);
    }
    return files.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime());
  }

  async remove(area: StoreArea, name: string): Promise<void> {
    const filePath = this.localPath(area, name);
    await this.guard.check();
    await rm(filePath, { force: true });
    await fsyncPath(path.dirname(filePath)).catch(() => undefined);
  }

  async resolveReference(area: StoreArea, reference: string, cwd = process.cwd()): Promise<string> {
    if (reference.includes('\0')) throw new InvalidNameError('Invalid backup reference: it contains a NUL byte.');
    await this.guard.check();
    if (!/[/\\]/.test(reference)) {
      assertArchiveFileName(reference);
      return reference;
    }
    // A path: it must name a file directly inside this store's area (the folders on the way may be
    // links, e.g. to the store itself), nothing else; the file itself is not followed if a link.
    const areaDir = this.areaDir(area);
    const absolute = path.resolve(cwd, reference);
    const outside = () => new InvalidNameError(`Backup path ${reference} is not inside the store folder ${areaDir}; refusing it.`);
    const realArea = await realpath(areaDir).catch(() => path.resolve(areaDir));
    if (path.dirname(absolute) !== path.resolve(areaDir) && path.dirname(absolute) !== realArea) throw outside();
    const realDir = await realpath(path.dirname(absolute)).catch(() => null);
    if (realDir === null) throw NotFoundError.backup(reference);
    if (realDir !== realArea) throw outside();
    const name = path.basename(absolute);
    assertArchiveFileName(name);
    return name;
  }
}

/** True when a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates a folder of the store (0700) if needed and tightens it to 0700, through a handle opened
 * without following a link (a planted link to a folder elsewhere is refused, never chmodded).
 */
async function ensurePrivateDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  let handle;
  try {
    handle = await openDirectoryNoFollow(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw unsafeStore(dir, 'is not a folder (a symbolic link?)', 'Remove it; tenant-backup creates it as a private folder.');
    throw error;
  }
  try {
    await handle.chmod(DIRECTORY_MODE);
  } finally {
    await handle.close();
  }
  return dir;
}

/**
 * Temp files of runs that were killed (SIGKILL, power loss) stay behind as dot-files; whatever
 * their name (timestamped backups never reuse one), those of this host whose process is gone are
 * removed. Another host's temp files are never touched (its pids mean nothing here), nor are live
 * runs'. The names of earlier versions, without a host (`.<name>.<pid>.<random>.tmp`), are still
 * removed by pid, as those versions did (they assumed one host) — unless the name carries a host
 * further in: the part files of a version that named them `<archive temp>.<pid>.<random>.tmp`
 * are judged by that host too.
 */
export async function removeDeadTemps(dir: string, host = hostIdentity()): Promise<void> {
  const here = hostToken(host);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const hosted = TEMP_NAME.exec(name);
    const match = hosted ?? OLD_TEMP_NAME.exec(name);
    const owner = hosted ? hosted[1] : OLD_PART_HOST.exec(name)?.[1];
    if (!match || (owner !== undefined && owner !== here)) continue;
    const pid = Number(hosted ? hosted[2] : match[1]);
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid)) {
      await rm(path.join(dir, name), { force: true }).catch(() => undefined);
    }
  }
}

/** `.<name>.@<host>.<pid>.<12 hex>.tmp`, as `tempFileName` writes them (names never hold ".@"). */
const TEMP_NAME = /^\..+\.@([^.]+)\.(\d{1,10})\.[0-9a-f]{12}\.tmp$/;
/** Earlier versions' `.<name>.<pid>.<12 hex>.tmp` (no host). */
const OLD_TEMP_NAME = /^\..+\.(\d{1,10})\.[0-9a-f]{12}\.tmp$/;
/** The host inside an earlier version's part file name, `.<name>.@<host>.<pid>.<12 hex>.tmp.<pid>.<12 hex>.tmp`. */
const OLD_PART_HOST = /\.@([^.]+)\.\d{1,10}\.[0-9a-f]{12}\.tmp\.\d{1,10}\.[0-9a-f]{12}\.tmp$/;

/** fsync a file or a directory (directories need it so a rename survives a crash); links are not followed. */
export async function fsyncPath(target: string): Promise<void> {
  const handle = await open(target, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Opens (creates, appends to) `logs/<name>` of the store at `storageDir` for a detached run's
 * output: the store is checked first, the folder created 0700, the file 0600, never through a link.
 */
export async function openStoreLog(storageDir: string, name: string) {
  await new StoreGuard(storageDir).check();
  await ensurePrivateDir(storageDir);
  const dir = await ensurePrivateDir(path.join(storageDir, 'logs'));
  return openNoFollow(path.join(dir, name), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT);
}
