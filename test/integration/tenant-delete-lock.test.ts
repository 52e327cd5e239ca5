/**
 * `delete` against a running backup/restore of the same target (real processes, real servers):
 * it takes the same operation lock, so while a restore runs it is refused with exit 7 and a JSON
 * error, and the restore finishes with its JSON result. A restore reads its archive through the
 * descriptor it verified: an archive removed after verification (before the lock was taken) does
 * not break it. An archive an interrupted restore still needs is never deleted.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { deleteBackup } from '../../src/core/delete.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { removeRestoreMarker, writeRestoreMarker } from '../../src/core/restore-tenant-recovery.js';
import { UsageError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { BIN, runCli } from '../helpers/cli.js';
import { createTestDatabase, withTempDir, type TestDatabase } from '../helpers/databases.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { tenantFingerprint } from '../helpers/tenant-fingerprint.js';
import { removeTempDirs } from '../helpers/temp.js';

describe('delete and a restore of the same tenant', () => {
  let db: TestDatabase;
  let dir: string;
  let cleanup: () => Promise<void>;
  let configFile: string;
  let deps: Deps;
  const clock = frozenClock('2026-11-21T19:00:00Z');
  beforeAll(async () => {
    ({ dir, cleanup } = await withTempDir('tb-delete-lock-'));
    db = await createTestDatabase('postgres', 'acme');
    await db.knex().raw(`CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g`);
    const raw = { storage: { dir: './storage' }, timezone: 'UTC', tenants: { acme: { client: 'pg', connection: db.connection } } };
    configFile = path.join(dir, '.backuprc');
    fs.writeFileSync(configFile, JSON.stringify(raw), { mode: 0o600 });
    deps = await createDeps({ config: resolveConfig(raw, configFile, {}), clock });
  });
  afterAll(async () => {
    await db.drop();
    await cleanup();
  });
  const tick = (() => {
    let second = 0;
    return () => clock.set(new Date(Date.parse('2026-11-21T19:00:00Z') + ++second * 1000));
  })();

  it('delete while the restore holds the lock: exit 7, nothing deleted; the restore finishes with its JSON', async () => {
    tick();
    const archive = (await backupTenant(deps, { tenant: 'acme' })).record;
    // The restore is inside its locked section while its safety backup runs (a run file in ledger/runs).
    const runs = path.join(dir, 'storage/ledger/runs');
    const running = () => fs.existsSync(runs) && fs.readdirSync(runs).some((name) => name.endsWith('.json'));
    const restore = spawn(process.execPath, [BIN, 'restore', 'acme', archive.backup_filename, '--yes', '--json', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TENANT_BACKUP_CONFIG: '' },
    });
    let stdout = '';
    let stderr = '';
    restore.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    restore.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => restore.on('close', (code) => resolve(code)));
    // Hold the restore inside its locked section (SIGSTOP) while delete runs: no timing luck needed.
    const deadline = Date.now() + 30_000;
    while (!running() && restore.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(running(), 'the restore never took its lock').toBe(true);
    restore.kill('SIGSTOP');
    let deleted;
    try {
      deleted = await runCli(['delete', 'acme', archive.backup_filename, '--yes', '--json', '--config', configFile]);
    } finally {
      restore.kill('SIGCONT');
    }
    expect(deleted.code, deleted.stderr).toBe(7);
    expect(JSON.parse(deleted.stderr)).toMatchObject({ error: { code: 'LOCKED', exit_code: 7 } });
    expect(deleted.stderr).toMatch(/backup or restore of tenant \\?"acme\\?" is running right now/);
    expect(fs.existsSync(archive.backup_path)).toBe(true);

    expect(await exited, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ action: 'restored', backup_filename: archive.backup_filename });
    expect((await deps.ledger.find({ backup_filename: archive.backup_filename })).length).toBe(1);

    // Once the restore is done, delete works.
    const again = await runCli(['delete', 'acme', archive.backup_filename, '--yes', '--json', '--config', configFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(fs.existsSync(archive.backup_path)).toBe(false);
  });

  it('an archive deleted after the restore verified it is still restored from what was verified', async () => {
    tick();
    const archive = (await backupTenant(deps, { tenant: 'acme' })).record;
    const expected = await tenantFingerprint(db.knex(), 'postgres');
    await db.knex().raw(`DELETE FROM notes WHERE id > 100`);
    tick();
    const result = await restoreTenant(deps, {
      tenant: 'acme',
      backup: archive.backup_filename,
      // Verification is done, the lock not yet taken: delete gets through and removes the file.
      confirm: async () => {
        const removed = await deleteBackup(deps, { target: { kind: 'database', tenant: 'acme' }, backup: archive.backup_filename, confirm: async () => true });
        expect(removed.action).toBe('deleted');
        return true;
      },
    });
    expect(result.action).toBe('restored');
    expect(fs.existsSync(archive.backup_path)).toBe(false);
    expect(await tenantFingerprint(db.knex(), 'postgres')).toEqual(expected);
  });

  it('never deletes an archive an interrupted restore needs for its repair', async () => {
    tick();
    const safety = (await backupTenant(deps, { tenant: 'acme' })).record;
    await writeRestoreMarker(deps, { tenant: 'acme', archive: safety.backup_filename, reload_kind: 'safety_backup', reload: safety.backup_filename });
    try {
      const error = await deleteBackup(deps, { target: { kind: 'database', tenant: 'acme' }, backup: safety.backup_filename, confirm: async () => true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/interrupted.*needed to make its database whole/);
      expect(fs.existsSync(safety.backup_path)).toBe(true);
    } finally {
      await removeRestoreMarker(deps, 'acme');
    }
  });
});

describe('delete and a restore of the same organization', () => {
  let bed: OrgBed;
  beforeAll(async () => {
    bed = await createOrgBed('sqlite');
  });
  afterAll(async () => {
    await bed.db.drop();
    await removeTempDirs();
  });

  it('an archive removed (by other means) after verification is still restored, with no stray stream error', async () => {
    const archive = (await backupOrganization(bed.deps, { organizationId: '1' })).record;
    await bed.db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed after the backup' });
    const result = await restoreOrganization(bed.deps, {
      organizationId: '1',
      backup: archive.backup_filename,
      // Asked under the organization's lock, after verification: `delete` would be refused here, `rm` is not.
      confirm: async () => {
        fs.rmSync(archive.backup_path);
        return true;
      },
    });
    expect(result.action).toBe('restored');
    expect(fs.existsSync(archive.backup_path)).toBe(false);
    expect(await bed.db.knex()('customers').where({ organization_id: 1, name: 'changed after the backup' }).count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('delete while the organization lock is held: refused with exit 7', async () => {
    const archive = (await backupOrganization(bed.deps, { organizationId: '1' })).record;
    const error = await bed.deps.ledger
      .withLock('org-1', () => deleteBackup(bed.deps, { target: { kind: 'organization', organizationId: '1' }, backup: archive.backup_filename, confirm: async () => true }))
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('LOCKED');
    expect((error as Error).message).toMatch(/organization 1 is running right now/);
    expect(fs.existsSync(archive.backup_path)).toBe(true);
  });
});
