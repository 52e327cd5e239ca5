/**
 * `auto --all` costs per run, not per organization (issue 17, point 4), on a real PostgreSQL:
 * a bounded number of connections, one catalogue read and one ledger read per run, every archive
 * verified, a failure (even a killed connection) costing at most the organizations it hit, and
 * `auto --org` from login hooks racing the run still making exactly one backup a day each.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { autoBackupAll } from '../../src/core/auto-all.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { verifyBackups } from '../../src/core/verify.js';
import { loadOrganizationEngine } from '../../src/engines/registry.js';
import { PostgresSession } from '../../src/engines/postgres/session.js';
import type { Ledger } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { ledgerRecords } from '../helpers/ledger-files.js';
import { createOrgBed } from '../helpers/org-setup.js';
import { generateOrganizations } from '../helpers/many-organizations.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const ORGANIZATIONS = 12;
const ALL_IDS = Array.from({ length: ORGANIZATIONS }, (_, i) => String(i + 1)).sort();

let db: TestDatabase;
let dir: string;
let raw: Record<string, unknown>;

/** Runs `fn` on a connection of its own to the test database. */
async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(db.connection as ServerConnection);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function depsAt(iso = '2026-11-23T08:00:00Z'): Promise<Deps> {
  return createDeps({ config: resolveConfig(raw, path.join(dir, '.backuprc'), {}), clock: frozenClock(iso) });
}

/** Counts calls of `ledger`'s methods (the object itself is used; nothing else changes). */
function countLedgerCalls(ledger: Ledger): Map<string, number> {
  const calls = new Map<string, number>();
  for (const name of ['dayOfOrganization', 'organizationDays', 'withLock', 'find', 'findEntries', 'getOrganizationSettings'] as const) {
    const original = ledger[name].bind(ledger) as (...args: unknown[]) => unknown;
    (ledger as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return original(...args);
    };
  }
  return calls;
}

describe('auto --all: per run, not per organization', () => {
  beforeEach(async () => {
    db = await createTestDatabase('postgres', 'tb_auto_all');
    await withClient((client) => generateOrganizations(client, ORGANIZATIONS));
    dir = await makeTempDir('tb-auto-all-');
    raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'pg', connection: db.connection } };
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(raw), { mode: 0o600 });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await db.drop();
    await removeTempDirs();
  });

  it('opens at most concurrency + 1 connections, reads the catalogue once, and the ledger once when all is done', async () => {
    const connects = vi.spyOn(pg.Client.prototype, 'connect');
    const introspect = vi.spyOn(PostgresSession.prototype, 'introspect');
    const deps = await depsAt();
    const first = await autoBackupAll(deps, { concurrency: 3 });
    expect(first.summary).toEqual({ created: ORGANIZATIONS, skipped: 0, failed: 0 });
    expect(first.results.map((r) => r.organization_id).sort()).toEqual(ALL_IDS);
    expect(connects.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(connects.mock.calls.length).toBeLessThanOrEqual(3 + 1);
    expect(introspect).toHaveBeenCalledTimes(1);
    // Each archive is a verified archive, as a backup of its own makes it.
    const verified = await verifyBackups(deps);
    expect(verified).toMatchObject({ ok: true, checked: ORGANIZATIONS, damaged: 0, missing: 0 });
    const records = await ledgerRecords(path.join(dir, 'backups'));
    expect(records.map((r) => [r.organization_id, r.status]).sort()).toEqual(ALL_IDS.map((id) => [id, 'success']));

    // Everything done: the ledger is read once, no lock is taken, one connection lists the organizations.
    connects.mockClear();
    introspect.mockClear();
    const again = await depsAt('2026-11-23T15:00:00Z');
    const calls = countLedgerCalls(again.ledger);
    const second = await autoBackupAll(again, { concurrency: 3 });
    expect(second.summary).toEqual({ created: 0, skipped: ORGANIZATIONS, failed: 0 });
    expect(second.results.every((r) => r.action === 'skipped' && r.reason === 'already_done')).toBe(true);
    expect(Object.fromEntries(calls)).toEqual({ organizationDays: 1 });
    expect(connects).toHaveBeenCalledTimes(1);
    expect(introspect).not.toHaveBeenCalled();
  }, 120_000);

  it('skips disabled organizations from the same read; a failed organization stops no other, and the run reads the catalogue again after it', async () => {
    const setup = await depsAt();
    await setup.ledger.setOrganizationSettings('4', { auto_backup_enabled: false });
    // Organizations 7 and 8 share a code: whichever comes second would overwrite the other's archive, and is refused.
    await withClient((client) => client.query(`ALTER TABLE organizations DROP CONSTRAINT organizations_code_key; UPDATE organizations SET code = 'org7' WHERE id = 8`));
    const introspect = vi.spyOn(PostgresSession.prototype, 'introspect');
    const deps = await depsAt();
    const calls = countLedgerCalls(deps.ledger);
    const result = await autoBackupAll(deps, { concurrency: 1 });
    expect(result.summary).toEqual({ created: ORGANIZATIONS - 2, skipped: 1, failed: 1 });
    expect(result.results.find((r) => r.organization_id === '4')).toMatchObject({ action: 'skipped', reason: 'disabled' });
    expect(result.results.find((r) => r.organization_id === '8')).toMatchObject({ action: 'failed', error: { code: 'CONFIG' } });
    // Organizations 9–12, after the failure, were backed up with a catalogue read again.
    for (const id of ['9', '10', '11', '12']) expect(result.results.find((r) => r.organization_id === id)?.action).toBe('created');
    expect(introspect).toHaveBeenCalledTimes(2);
    expect(calls.get('organizationDays')).toBe(1);
    // Only the organizations that were due took a lock (and read their day under it).
    expect(calls.get('withLock')).toBe(ORGANIZATIONS - 1);
    expect(calls.get('dayOfOrganization')).toBe(ORGANIZATIONS - 1);
  }, 120_000);

  it('goes on when the server ends its connections mid-run: nothing lost, the next run makes what failed', async () => {
    let finished = 0;
    let killing: Promise<unknown> | undefined;
    const kill = () =>
      withClient((admin) =>
        admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [(db.connection as ServerConnection).database]),
      );
    const first = await autoBackupAll(await depsAt(), {
      concurrency: 2,
      onResult: () => {
        finished += 1;
        if (finished === 4) killing = kill();
      },
    });
    expect(await killing).toMatchObject({ rowCount: expect.any(Number) });
    expect(first.summary.created + first.summary.failed).toBe(ORGANIZATIONS);
    expect(first.summary.failed).toBeLessThanOrEqual(2);
    const second = await autoBackupAll(await depsAt('2026-11-23T09:00:00Z'), { concurrency: 2 });
    expect(second.summary).toEqual({ created: first.summary.failed, skipped: ORGANIZATIONS - first.summary.failed, failed: 0 });
    const successes = (await ledgerRecords(path.join(dir, 'backups'))).filter((r) => r.status === 'success');
    expect(successes.map((r) => r.organization_id).sort()).toEqual(ALL_IDS);
  }, 120_000);

  it('a column changing type under the run fails one organization, never encodes rows by the old type, and the run goes on with the new one', async () => {
    const introspect = vi.spyOn(PostgresSession.prototype, 'introspect');
    let finished = 0;
    let altering: Promise<unknown> | undefined;
    const deps = await depsAt();
    const result = await autoBackupAll(deps, {
      concurrency: 1,
      onResult: () => {
        finished += 1;
        if (finished === 3) altering = withClient((client) => client.query('ALTER TABLE products ALTER COLUMN price TYPE numeric(14,3)'));
      },
    });
    await altering;
    expect(result.summary).toEqual({ created: ORGANIZATIONS - 1, skipped: 0, failed: 1 });
    const failed = result.results.find((r) => r.action === 'failed');
    expect(failed).toMatchObject({
      error: { message: expect.stringMatching(/"price" of table "products" changed type since the backup was planned \(numeric\(12,2\) → numeric\(14,3\)\)/) },
    });
    expect(introspect).toHaveBeenCalledTimes(2);
    const verified = await verifyBackups(deps);
    expect(verified).toMatchObject({ ok: true, checked: ORGANIZATIONS - 1 });
  }, 120_000);

  it('makes exactly one backup per organization when login hooks run auto --org during auto --all', async () => {
    const hooks = ALL_IDS.flatMap((id) => [id, id]).map((id) => runCli(['auto', '--org', id, '--user', '7', '--role', 'admin', '--json'], { cwd: dir }));
    const all = runCli(['auto', '--all', '--concurrency', '2', '--json'], { cwd: dir });
    const [cron, ...logins] = await Promise.all([all, ...hooks]);
    expect(cron.code, cron.stderr).toBe(0);
    for (const login of logins) expect(login.code, login.stderr).toBe(0);
    const summary = (JSON.parse(cron.stdout.trim().split('\n').at(-1)!) as { summary: { created: number; skipped: number; failed: number } }).summary;
    const loginsCreated = logins.filter((l) => (JSON.parse(l.stdout) as { action: string }).action === 'created').length;
    expect(summary.failed).toBe(0);
    expect(summary.created + loginsCreated).toBe(ORGANIZATIONS);
    const records = await ledgerRecords(path.join(dir, 'backups'));
    expect(records.filter((r) => r.status !== 'success')).toEqual([]);
    expect(records.map((r) => r.organization_id).sort()).toEqual(ALL_IDS);
  }, 180_000);
});

describe('auto --all on the other engines', () => {
  afterEach(async () => {
    vi.restoreAllMocks();
    await removeTempDirs();
  });

  for (const engine of ['mysql', 'sqlite'] as const) {
    it(`${engine}: reuses its sessions (${engine === 'mysql' ? 'one per concurrent backup' : 'one in all'}) and reads the catalogue once`, async () => {
      const bed = await createOrgBed(engine);
      try {
        const loaded = await loadOrganizationEngine(bed.db.client);
        const connect = loaded.connect.bind(loaded);
        let sessions = 0;
        let catalogueReads = 0;
        vi.spyOn(loaded, 'connect').mockImplementation(async (config, options) => {
          sessions += 1;
          const session = await connect(config, options);
          const introspect = session.introspect.bind(session);
          session.introspect = () => {
            catalogueReads += 1;
            return introspect();
          };
          return session;
        });
        const result = await autoBackupAll(bed.deps, { concurrency: 2 });
        expect(result.summary.failed, JSON.stringify(result.results)).toBe(0);
        expect(result.summary.created).toBeGreaterThanOrEqual(4);
        expect(sessions).toBeGreaterThanOrEqual(1);
        expect(sessions).toBeLessThanOrEqual(engine === 'mysql' ? 2 : 1);
        expect(catalogueReads).toBe(1);
        expect(await verifyBackups(bed.deps)).toMatchObject({ ok: true, checked: result.summary.created });
      } finally {
        await bed.db.drop();
      }
    }, 120_000);
  }
});
