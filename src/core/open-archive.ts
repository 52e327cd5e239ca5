/**
 * The one way a restore (and `verify`, `get`, ownership checks) opens an archive.
 *
 * `openVerifiedArchive`: the reference is resolved inside the store (or an archive named
 * explicitly with `--file`), fetched (a streamed download into staging for a remote store), its
 * manifest must be of the expected kind, owner and engine (another owner's archive is a
 * ForbiddenTargetError), and every entry is verified before the caller touches a database.
 * Readers get the owner's configured keys (`archiveKeys`), asked for only when an archive is
 * encrypted. Writing archives is verified-archive.ts.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve as resolvePath } from 'node:path';
import { ArchiveReader } from '../archive/zip-reader.js';
import type { Manifest } from '../archive/manifest.js';
import type { KeySource } from '../cipher/index.js';
import { readKeysOf } from '../cipher/settings.js';
import type { EngineName } from '../engines/types.js';
import { ArchiveError, ForbiddenTargetError, InvalidNameError, NotFoundError } from '../errors.js';
import type { StoreArea } from '../retention/naming.js';
import type { Deps } from './context.js';

/** What a restore expects of an archive before it may touch a database. */
export type ExpectedArchive =
  | { kind: 'organization'; organizationId: string; engine: EngineName }
  | { kind: 'database'; tenant: string; engine: EngineName; /** The entry the engine loads. */ entryPath: string }
  /** `verify` and `get`: the owner is checked, the engine is whatever made the archive. */
  | { kind: 'organization'; organizationId: string; engine?: undefined }
  | { kind: 'database'; tenant: string; engine?: undefined; entryPath?: undefined };

export interface OpenArchiveOptions {
  area: StoreArea;
  /** A name from `list`, or a path to an archive inside the store's area. */
  reference: string;
  /** Instead of `reference`: an archive anywhere, named explicitly (`restore --org … --file`). */
  file?: string;
  cwd?: string;
  expected: ExpectedArchive;
  signal?: AbortSignal;
}

/**
 * Resolves, opens, checks and verifies an archive; the caller closes the reader. Nothing is read
 * beyond the manifest until the manifest is known to be the expected one.
 */
export async function openVerifiedArchive(deps: Pick<Deps, 'store' | 'progress' | 'config'>, options: OpenArchiveOptions): Promise<{ name: string; reader: ArchiveReader }> {
  const source = options.file !== undefined ? await outsideFile(options.file, options.cwd) : await storedFile(deps, options);
  const { name } = source;
  deps.progress.update(`Verifying ${name}…`);
  let reader: ArchiveReader;
  try {
    reader = await ArchiveReader.open(source.path, { keys: archiveKeys(deps, options.expected.kind === 'database' ? options.expected.tenant : undefined) });
  } finally {
    // A download is removed as soon as the reader holds it open: everything is read through that descriptor.
    await source.release();
  }
  try {
    checkManifest(reader.manifest, name, options.expected);
    await reader.verify();
    return { name, reader };
  } catch (error) {
    await reader.close();
    throw error;
  }
}

/**
 * The manifest of an archive in the store, read without verifying its entries (ownership checks),
 * with the keys of its owner (`tenant`; none: an organization archive).
 */
export async function readStoredManifest(deps: Pick<Deps, 'store' | 'config'>, area: StoreArea, name: string, tenant?: string): Promise<Manifest> {
  const file = await deps.store.fetch(area, name);
  try {
    return await readManifest(file.path, archiveKeys(deps, tenant));
  } finally {
    await file.release();
  }
}

interface ArchiveSource {
  name: string;
  path: string;
  /** Removes a download once it is open (nothing for a file read in place). */
  release(): Promise<void>;
}

/** The archive itself (local store), or a streamed download into staging (S3). */
async function storedFile(deps: Pick<Deps, 'store' | 'progress'>, options: OpenArchiveOptions): Promise<ArchiveSource> {
  const name = await deps.store.resolveReference(options.area, options.reference, options.cwd);
  if (deps.store.kind !== 'local') deps.progress.update(`Downloading ${name}…`);
  const file = await deps.store.fetch(options.area, name, { signal: options.signal });
  return { name, path: file.path, release: () => file.release() };
}

/** An explicitly named archive outside the store: any regular file (it is verified like any other). */
async function outsideFile(file: string, cwd = process.cwd()): Promise<ArchiveSource> {
  if (file.includes('\0')) throw new InvalidNameError('Invalid archive path: it contains a NUL byte.');
  const path = resolvePath(cwd, file);
  const info = await stat(path).catch(() => null);
  if (!info) throw new NotFoundError(`Archive ${file} does not exist.`, { backup: file });
  if (!info.isFile()) throw new InvalidNameError(`Archive ${file} is not a regular file.`, { backup: file });
  return { name: basename(path), path, release: async () => undefined };
}

/**
 * The keys that read a tenant's archives (its `encryption` override over the top-level one) or,
 * without a tenant, organization archives; loaded when an encrypted archive is first read.
 */
export function archiveKeys(deps: Pick<Deps, 'config'>, tenant?: string): KeySource {
  return readKeysOf(deps.config, tenant);
}

/** An archive's manifest, read without verifying its entries (ownership checks, listings). */
export async function readManifest(path: string, keys?: KeySource): Promise<Manifest> {
  const reader = await ArchiveReader.open(path, { keys });
  try {
    return reader.manifest;
  } finally {
    await reader.close();
  }
}

function checkManifest(manifest: Manifest, name: string, expected: ExpectedArchive): void {
  if (expected.kind === 'organization') {
    if (manifest.kind !== 'organization' || !manifest.organization) {
      throw new ArchiveError(`${name} is a ${manifest.kind} backup, not an organization backup.`);
    }
    if (manifest.organization.id !== expected.organizationId) {
      throw new ForbiddenTargetError(`${name} is a backup of organization ${manifest.organization.id}; refusing to restore it into organization ${expected.organizationId}.`, {
        archive_organization_id: manifest.organization.id,
      });
    }
    if (expected.engine !== undefined && manifest.engine !== expected.engine) {
      throw new ArchiveError(`${name} was made from a ${manifest.engine} database; the configured shared database is ${expected.engine}.`);
    }
    return;
  }
  if (manifest.kind !== 'database' || manifest.tenant === undefined) {
    throw new ArchiveError(`${name} is a ${manifest.kind} backup, not a tenant database backup.`);
  }
  if (manifest.tenant !== expected.tenant) {
    throw new ForbiddenTargetError(`${name} is a backup of tenant "${manifest.tenant}"; refusing to restore it into tenant "${expected.tenant}".`, {
      archive_tenant: manifest.tenant,
    });
  }
  if (expected.engine === undefined) return;
  if (manifest.engine !== expected.engine) {
    throw new ArchiveError(`${name} was made from a ${manifest.engine} database; tenant "${expected.tenant}" is configured as ${expected.engine}.`);
  }
  if (!manifest.entries.some((entry) => entry.path === expected.entryPath)) {
    throw new ArchiveError(`${name} has no ${expected.entryPath}, which a ${expected.engine} restore loads.`);
  }
}
