/**
 * The local-directory store: `<dir>/organizations/` and `<dir>/tenant-databases/`, folders 0700,
 * archives 0600. Temp files are dot-files beside their final name (`.<name>.<pid>.<random>.tmp`),
 * so a rename replaces the old archive atomically and listings never show half-written files.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidNameError, NotFoundError } from '../errors.js';
import { assertArchiveFileName, type StoreArea } from '../retention/naming.js';
import type { Store, StoredFile } from './types.js';

export const DIRECTORY_MODE = 0o700;
export const ARCHIVE_MODE = 0o600;

export class LocalStore implements Store {
  constructor(readonly root: string) {}

  private areaDir(area: StoreArea): string {
    return path.join(this.root, area);
  }

  /** Creates the storage folders (0700) on first use; existing folders are tightened to 0700. */
  async ensureArea(area: StoreArea): Promise<string> {
    await ensurePrivateDir(this.root);
    return ensurePrivateDir(this.areaDir(area));
  }

  localPath(area: StoreArea, name: string): string {
    assertArchiveFileName(name);
    return path.join(this.areaDir(area), name);
  }

  async tempPath(area: StoreArea, finalName: string): Promise<string> {
    assertArchiveFileName(finalName);
    const dir = await this.ensureArea(area);
    await this.removeStaleTemps(dir, finalName);
    return path.join(dir, `.${finalName}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  }

  /**
   * Temp files of runs that were killed (SIGKILL, power loss) stay behind as dot-files; the next
   * run for the same name removes those whose process is gone. Live runs' temps are never touched.
   */
  private async removeStaleTemps(dir: string, finalName: string): Promise<void> {
    const prefix = `.${finalName}.`;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      const pid = Number(name.slice(prefix.length).split('.')[0]);
      if (Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid)) await rm(path.join(dir, name), { force: true }).catch(() => undefined);
    }
  }

  async commit(temp: string, area: StoreArea, finalName: string): Promise<StoredFile> {
    const finalPath = this.localPath(area, finalName);
    if (path.dirname(temp) !== path.dirname(finalPath)) {
      throw new InvalidNameError(`Temp file ${temp} is not in the folder of ${finalPath}; refusing a non-atomic commit.`);
    }
    await chmod(temp, ARCHIVE_MODE);
    await fsyncPath(temp);
    await rename(temp, finalPath);
    await fsyncPath(path.dirname(finalPath));
    const info = await this.stat(area, finalName);
    if (!info) throw new NotFoundError(`Archive ${finalPath} vanished right after it was committed.`);
    return info;
  }

  async discard(temp: string): Promise<void> {
    await rm(temp, { force: true }).catch(() => undefined);
  }

  async stat(area: StoreArea, name: string): Promise<StoredFile | null> {
    const filePath = this.localPath(area, name);
    try {
      const info = await stat(filePath);
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
    return createReadStream(info.path);
  }

  async list(area: StoreArea): Promise<StoredFile[]> {
    let names: string[];
    try {
      names = await readdir(this.areaDir(area));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const files: StoredFile[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !name.endsWith('.zip')) continue;
      const info = await this.stat(area, name).catch(() => null);
      if (info) files.push(info);
    }
    return files.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime());
  }

  async remove(area: StoreArea, name: string): Promise<void> {
    const filePath = this.localPath(area, name);
    await rm(filePath, { force: true });
    await fsyncPath(path.dirname(filePath)).catch(() => undefined);
  }

  async resolveReference(area: StoreArea, reference: string, cwd = process.cwd()): Promise<string> {
    if (reference.includes('\0')) throw new InvalidNameError('Invalid backup reference: it contains a NUL byte.');
    if (!/[/\\]/.test(reference)) {
      assertArchiveFileName(reference);
      return reference;
    }
    // A path: it must name a file directly inside this store's area (symlinks resolved), nothing else.
    const areaDir = this.areaDir(area);
    const absolute = path.resolve(cwd, reference);
    const outside = () => new InvalidNameError(`Backup path ${reference} is not inside the store folder ${areaDir}; refusing it.`);
    const realArea = await realpath(areaDir).catch(() => path.resolve(areaDir));
    if (path.dirname(absolute) !== path.resolve(areaDir) && path.dirname(absolute) !== realArea) throw outside();
    const realFile = await realpath(absolute).catch(() => null);
    if (realFile === null) throw NotFoundError.backup(reference);
    if (path.dirname(realFile) !== realArea) throw outside();
    const name = path.basename(realFile);
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

async function ensurePrivateDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  await chmod(dir, DIRECTORY_MODE);
  return dir;
}

/** fsync a file or a directory (directories need it so a rename survives a crash). */
export async function fsyncPath(target: string): Promise<void> {
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
