/**
 * The store's ownership rules. tenant-backup often runs as root (cron) on a store that other
 * users could reach: if another user owned the store, or could write into it, they could plant
 * symbolic links (`ledger.json → /etc/shadow`, `locks/org-1.lock.owner → /root/.profile`) and
 * make this process read or overwrite files it should never touch. So, before any use:
 *
 * - the store folder and every folder directly in it (the areas, `locks/`, `logs/`) must be owned
 *   by the user running tenant-backup and not writable by group or others; folders one level
 *   deeper (lock folders) must be owned by that user;
 * - every folder above the store must be owned by that user or root and not writable by group or
 *   others, unless sticky (like /tmp, where others cannot rename or remove what is ours);
 * - a symbolic link on the way to the store must be owned by that user or root;
 * - tenant-backup's own names in the store (ledger.json, the areas, locks/, logs/) must be what
 *   they should be — a symbolic link there is refused, never followed.
 * Anything else is a ConfigError (exit 2) naming the path and the fix; nothing is read or written.
 *
 * Files are then opened with O_NOFOLLOW (and created with O_EXCL), so even a link planted before
 * the rules held is never followed (`openNoFollow`, `readSmallFileNoFollow`, `createExclusive`).
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** Folders and files of the store that tenant-backup itself creates, by the type they must have. */
const OWN_DIRECTORIES = ['organizations', 'tenant-databases', 'locks', 'logs', 'ledger', 'ledger.json.lock'];
const OWN_FILES = ['ledger.json'];

const ROOT_UID = 0;
/** S_ISVTX: in a sticky folder only an entry's owner may rename or remove it. */
const STICKY = 0o1000;
const MAX_SYMLINK_HOPS = 40;

/** The user the checks are about: the effective uid (null where the platform has none). */
function runningUid(): number | null {
  return typeof process.geteuid === 'function' ? process.geteuid() : null;
}

export function unsafeStore(target: string, problem: string, fix: string): ConfigError {
  return new ConfigError(`Refusing to use the storage folder: ${target} ${problem}. Another user could make tenant-backup read or overwrite files through it. ${fix}`, {
    path: target,
    problem,
  });
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Checks the store at `root` against the rules above (see the module comment). A store that does
 * not exist yet passes when the folders above it do (it will be created 0700).
 */
export async function assertSafeStore(root: string): Promise<void> {
  const uid = runningUid();
  if (uid === null) return; // Windows: no POSIX owners or modes to check.
  const real = await checkPathTo(path.resolve(root), uid);
  if (real === null) return;
  checkOwnDirectory(real, await lstat(real), uid, false);
  for (const entry of await readdir(real, { withFileTypes: true })) {
    const full = path.join(real, entry.name);
    if (OWN_FILES.includes(entry.name) && !entry.isFile()) {
      throw unsafeStore(
        full,
        `is not a regular file (${entry.isSymbolicLink() ? 'a symbolic link' : 'another kind of file'})`,
        `Remove it (the ledger is never followed through a link).`,
      );
    }
    if (OWN_DIRECTORIES.includes(entry.name) && !entry.isDirectory()) {
      throw unsafeStore(full, `is not a folder (${entry.isSymbolicLink() ? 'a symbolic link' : 'a file'})`, 'Remove it; tenant-backup creates it as a private folder.');
    }
    if (!entry.isDirectory()) continue;
    // Entries come and go while other processes work (the ledger's lock folder): gone is fine.
    const stats = await ifExists(lstat(full));
    if (!stats) continue;
    // The ledger's lock folder is briefly 0755/0775 between its mkdir and its chmod (see below).
    if (entry.name !== 'ledger.json.lock' || !isOwnedBy(stats, uid)) checkOwnDirectory(full, stats, uid);
    // One level deeper (lock folders): owned by us. Their mode does not matter: they sit in a
    // folder of ours that nobody else may write (and a lock folder is briefly 0755/0775 between
    // its mkdir and its chmod).
    for (const inner of (await ifExists(readdir(full, { withFileTypes: true }))) ?? []) {
      if (!inner.isDirectory()) continue;
      const innerPath = path.join(full, inner.name);
      const innerStats = await ifExists(lstat(innerPath));
      if (innerStats && !isOwnedBy(innerStats, uid)) checkOwnDirectory(innerPath, innerStats, uid);
    }
  }
}

async function ifExists<T>(pending: Promise<T>): Promise<T | null> {
  try {
    return await pending;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Folders inside the store may also be root's (e.g. lost+found at a mount point): root is
 * trusted. The store folder itself must be the running user's.
 */
function isOwnedBy(stats: Stats, uid: number): boolean {
  return stats.uid === uid || stats.uid === ROOT_UID;
}

/** A folder of the store: a real folder, ours (root's, inside), not writable by group or others. */
function checkOwnDirectory(dir: string, stats: Stats, uid: number, inside = true): void {
  if (!stats.isDirectory()) throw unsafeStore(dir, 'is not a folder', 'Point storage.dir at a folder.');
  if (inside ? !isOwnedBy(stats, uid) : stats.uid !== uid) {
    throw unsafeStore(
      dir,
      `is owned by uid ${stats.uid}, not by the user running tenant-backup (uid ${uid})`,
      `Run tenant-backup as that folder's owner, or give it to this user: chown -R ${uid} ${dir}.`,
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    throw unsafeStore(
      dir,
      `is writable by ${describeWriters(stats.mode)} (mode ${octal(stats.mode)})`,
      `Remove that access (chmod go-w ${dir}; tenant-backup creates its folders 0700).`,
    );
  }
}

/**
 * Walks the path to the store one component at a time, as the kernel would, checking each folder
 * above the store and each symbolic link on the way. Returns the store's real path, or null when
 * it does not exist yet (the folders above its first missing component were checked).
 */
async function checkPathTo(target: string, uid: number): Promise<string | null> {
  const pending = target.split(path.sep).filter((part) => part !== '');
  let current = path.parse(target).root;
  checkParentDirectory(current, await lstat(current), uid);
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    const next = name === '..' ? path.dirname(current) : path.join(current, name);
    let stats: Stats;
    try {
      stats = await lstat(next);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (stats.isSymbolicLink()) {
      if (stats.uid !== uid && stats.uid !== ROOT_UID) {
        throw unsafeStore(
          next,
          `is a symbolic link owned by uid ${stats.uid}, neither root nor the user running tenant-backup (uid ${uid})`,
          'Use a path without it in storage.dir.',
        );
      }
      if (++hops > MAX_SYMLINK_HOPS) throw unsafeStore(next, 'starts a loop of symbolic links', 'Fix storage.dir.');
      const link = await readlink(next);
      if (path.isAbsolute(link)) current = path.parse(link).root;
      pending.unshift(...link.split(path.sep).filter((part) => part !== ''));
      continue;
    }
    if (!stats.isDirectory()) throw unsafeStore(next, 'is not a folder', 'Point storage.dir at a folder.');
    if (pending.length > 0) checkParentDirectory(next, stats, uid);
    current = next;
  }
  return current;
}

/** A folder above the store: root's or ours, and nobody else may rename what is in it. */
function checkParentDirectory(dir: string, stats: Stats, uid: number): void {
  if (stats.uid !== uid && stats.uid !== ROOT_UID) {
    throw unsafeStore(
      dir,
      `(a folder above the store) is owned by uid ${stats.uid}, neither root nor the user running tenant-backup (uid ${uid}); its owner could replace the store`,
      'Move the store to a folder owned by root or by this user.',
    );
  }
  const sticky = (stats.mode & STICKY) !== 0;
  if ((stats.mode & 0o022) !== 0 && !sticky) {
    throw unsafeStore(
      dir,
      `(a folder above the store) is writable by ${describeWriters(stats.mode)} (mode ${octal(stats.mode)}); they could replace the store`,
      `Remove that access (chmod go-w ${dir}) or move the store.`,
    );
  }
}

function describeWriters(mode: number): string {
  return (mode & 0o020) !== 0 && (mode & 0o002) !== 0 ? 'its group and others' : (mode & 0o020) !== 0 ? 'its group' : 'others';
}

/**
 * Checks a store once per instance (every command builds its own), shared by the store, the
 * ledger and the locks of one Deps. A failed check is not cached: fixing the folder and retrying
 * in the same process works.
 */
export class StoreGuard {
  private checked: Promise<void> | undefined;
  constructor(readonly root: string) {}

  check(): Promise<void> {
    this.checked ??= assertSafeStore(this.root).catch((error: unknown) => {
      this.checked = undefined;
      throw error;
    });
    return this.checked;
  }
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** `error` is the kernel refusing to follow a symbolic link (O_NOFOLLOW). */
function isLinkRefusal(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ELOOP' || code === 'EMLINK';
}

/**
 * Opens a file in the store without following a symbolic link in its last component, and only if
 * it is a regular file (a FIFO would block a read for ever: O_NONBLOCK, then the type check).
 */
export async function openNoFollow(file: string, flags: number, mode = 0o600): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(file, flags | NOFOLLOW | NONBLOCK, mode);
  } catch (error) {
    if (isLinkRefusal(error)) throw unsafeStore(file, 'is a symbolic link', 'Remove it; tenant-backup never follows links inside the store.');
    throw error;
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw unsafeStore(file, 'is not a regular file', 'Remove it.');
  }
  return handle;
}

/** Reads a small file of the store (ledger, lock owner) without following links; null if absent. */
export async function readFileNoFollow(file: string): Promise<string | null> {
  let handle: FileHandle;
  try {
    handle = await openNoFollow(file, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Creates a new file (O_CREAT | O_EXCL: never an existing file, never through a link), 0600. */
export async function createExclusive(file: string, flags = constants.O_WRONLY): Promise<FileHandle> {
  return open(file, flags | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
}

/** Replaces a small file by a freshly created one (unlink never follows a link). */
export async function replaceSmallFile(file: string, text: string): Promise<void> {
  await rm(file, { force: true });
  const handle = await createExclusive(file);
  try {
    await handle.writeFile(text, 'utf8');
  } finally {
    await handle.close();
  }
}

/** A folder of the store opened without following a link (for fsync and chmod through the handle). */
export async function openDirectoryNoFollow(dir: string): Promise<FileHandle> {
  return open(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | NOFOLLOW);
}
