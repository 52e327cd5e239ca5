/**
 * An organization-backup test bed: a real database loaded with the billing fixture, a storage
 * folder, a `.backuprc`, and Deps with a frozen clock.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig } from '../../src/config/load.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { frozenClock } from '../../src/retention/clock.js';
import { createTestDatabase, type TestDatabase, type TestEngine } from './databases.js';
import { loadBillingFixture } from './fixtures.js';
import { makeTempDir } from './temp.js';

export interface OrgBed {
  db: TestDatabase;
  dir: string;
  configFile: string;
  clock: ReturnType<typeof frozenClock>;
  deps: Deps;
}

/** 2026-11-23 is a Monday. */
export const MONDAY = '2026-11-23T08:00:00Z';

export async function createOrgBed(engine: TestEngine, extra: Record<string, unknown> = {}): Promise<OrgBed> {
  const db = await createTestDatabase(engine, `tb_org_${engine}`);
  await loadBillingFixture(db.knex(), engine);
  const dir = await makeTempDir(`tb-org-${engine}-`);
  const raw = {
    storage: { dir: './backups' },
    timezone: 'UTC',
    organizations: { client: db.client, connection: db.connection, ...extra },
  };
  const configFile = path.join(dir, '.backuprc');
  await writeFile(configFile, JSON.stringify(raw, null, 2));
  const clock = frozenClock(MONDAY);
  const deps = await createDeps({ config: resolveConfig(raw, configFile, {}), clock });
  return { db, dir, configFile, clock, deps };
}

/** Deps for an organization test on `db` (any schema), with a store in a fresh temp folder and a frozen Monday. */
export async function orgDepsFor(db: TestDatabase, extra: Record<string, unknown> = {}): Promise<Deps> {
  const dir = await makeTempDir('tb-org-');
  const raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: db.client, connection: db.connection, ...extra } };
  const configFile = path.join(dir, '.backuprc');
  await writeFile(configFile, JSON.stringify(raw));
  return createDeps({ config: resolveConfig(raw, configFile, {}), clock: frozenClock(MONDAY) });
}
