/**
 * A database-per-tenant test bed: a temp folder with the storage, a frozen clock, Deps built from a
 * `tenants` configuration, and the archives and listings the tenant tests look at.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterEach, beforeEach } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type Manifest } from '../../src/archive/manifest.js';
import type { DatabaseClient } from '../../src/config/schema.js';
import { resolveConfig, type ResolvedConfig } from '../../src/config/load.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps, type Progress } from '../../src/core/context.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { frozenClock } from '../../src/retention/clock.js';
import { createTestDatabase, withTempDir, type ServerConnection, type TestDatabase } from './databases.js';
import type { ServerEngine } from './servers.js';

/** 2026-11-21 19:04:00 UTC, a Saturday: the first backup is `<tenant>_2026-11-21_19-04-00.zip`. */
export const TENANT_START = '2026-11-21T19:04:00Z';

export interface TenantBed {
  dir: string;
  storage: string;
  clock: ReturnType<typeof frozenClock>;
  config(tenants: Record<string, unknown>, extra?: Record<string, unknown>): ResolvedConfig;
  deps(tenants: Record<string, unknown>, options?: { progress?: Progress; extra?: Record<string, unknown> }): Promise<Deps>;
  /** Every file of the storage (the lock folder aside), relative, sorted. */
  files(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function createTenantBed(prefix: string): Promise<TenantBed> {
  const { dir, cleanup } = await withTempDir(prefix);
  const storage = path.join(dir, 'storage');
  const clock = frozenClock(TENANT_START);
  const config = (tenants: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    resolveConfig({ storage: { dir: storage }, timezone: 'UTC', tenants, ...extra }, path.join(dir, '.backuprc'));
  return {
    dir,
    storage,
    clock,
    config,
    deps: (tenants, options = {}) => createDeps({ config: config(tenants, options.extra), clock, ...(options.progress ? { progress: options.progress } : {}) }),
    files: async () => {
      const files = await fsp.readdir(storage, { recursive: true }).catch(() => [] as string[]);
      // The store's own bookkeeping (locks, the ledger's files) is not what these tests look at.
      return files.filter((f) => !f.startsWith('locks') && f !== 'ledger' && !f.startsWith('ledger/')).sort();
    },
    cleanup,
  };
}

/** The bytes of one entry of an archive. */
export async function entryBytes(file: string, entry: string): Promise<Buffer> {
  const reader = await ArchiveReader.open(file);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await reader.openEntry(entry)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await reader.close();
  }
}

/** A tenant archive in the store whose entry `entryPath` is `data`, with valid checksums (as the tool writes them). */
export async function handMadeArchive(deps: Deps, archive: { name: string; tenant: string; engine: Manifest['engine']; entryPath: string; data: Buffer }): Promise<void> {
  const temp = await deps.store.tempPath('tenant-databases', archive.name);
  const writer = await ArchiveWriter.open(temp);
  const entry = await writer.addEntry(archive.entryPath, archive.data);
  await writer.finish({
    format: ARCHIVE_FORMAT,
    format_version: ARCHIVE_FORMAT_VERSION,
    kind: 'database',
    engine: archive.engine,
    server_version: 'x',
    tool_version: 'test',
    created_at: '2026-11-20T10:00:00.000Z',
    day_of_week: 'friday',
    backup_type: 'manual',
    tenant: archive.tenant,
    entries: [{ path: archive.entryPath, bytes: entry.bytes, sha256: entry.sha256 }],
  });
  await deps.store.commit(temp, 'tenant-databases', archive.name);
}

export type TenantName = 'acme' | 'globex';

/** Two tenants' databases, as the tenant tests and the contract suite use them. */
export interface TenantDatabases {
  /** The `tenants` configuration of acme and globex. */
  tenants: Record<TenantName, { client: DatabaseClient; connection: unknown }>;
  /** Everything that must come back after a restore: rows, schema objects, counters. */
  fingerprint(tenant: TenantName): Promise<unknown>;
  /** Changes the tenant's database in every way: rows, schema objects added and dropped, counters. */
  mutate(tenant: TenantName): Promise<void>;
  drop(): Promise<void>;
}

/** acme and globex on the shared test server of `engine`, each filled by `schema`. */
export async function serverTenantDatabases(
  engine: ServerEngine,
  hooks: { schema(k: Knex): Promise<void>; fingerprint(k: Knex): Promise<unknown>; mutate(k: Knex): Promise<void> },
): Promise<TenantDatabases & Record<TenantName, TestDatabase>> {
  const client: DatabaseClient = engine === 'postgres' ? 'pg' : 'mysql2';
  const [acme, globex] = await Promise.all([createTestDatabase(engine, 'acme'), createTestDatabase(engine, 'globex')]);
  await hooks.schema(acme.knex());
  await hooks.schema(globex.knex());
  const db = { acme, globex };
  return {
    acme,
    globex,
    tenants: {
      acme: { client, connection: { ...(acme.connection as ServerConnection) } },
      globex: { client, connection: { ...(globex.connection as ServerConnection) } },
    },
    fingerprint: (tenant) => hooks.fingerprint(db[tenant].knex()),
    mutate: (tenant) => hooks.mutate(db[tenant].knex()),
    drop: async () => void (await Promise.all([acme.drop(), globex.drop()])),
  };
}

/** A fresh bed and fresh databases around each test of the calling file or describe block. */
export function tenantBedPerTest<D extends TenantDatabases>(prefix: string, create: (dir: string) => Promise<D>): { bed(): TenantBed; databases(): D } {
  let bed: TenantBed | undefined;
  let databases: D | undefined;
  beforeEach(async () => {
    bed = await createTenantBed(prefix);
    databases = await create(bed.dir);
  });
  afterEach(async () => {
    await databases?.drop();
    await bed?.cleanup();
  });
  return { bed: () => bed!, databases: () => databases! };
}

/** Backs acme up, changes it in every way, a minute later restores that backup (after a safety backup). */
export async function backupChangeRestore(bed: TenantBed, databases: TenantDatabases): Promise<Deps> {
  const deps = await bed.deps(databases.tenants);
  const backup = await backupTenant(deps, { tenant: 'acme' });
  await databases.mutate('acme');
  bed.clock.set('2026-11-21T19:05:00Z');
  await restoreTenant(deps, { tenant: 'acme', backup: backup.record.backup_filename });
  return deps;
}
