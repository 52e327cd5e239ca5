/**
 * MariaDB restores run with FOREIGN_KEY_CHECKS off (InnoDB checks row by row). A row of a table
 * outside the plan (here: excluded) pointing at an organization row the restore would remove must
 * make the restore fail and change nothing — ON DELETE RESTRICT is not bypassed.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { OperationError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

let db: TestDatabase;
let deps: Deps;

beforeAll(async () => {
  db = await createTestDatabase('mysql', 'tb_outside');
  const k = db.knex();
  await k.raw('CREATE TABLE organizations (id BIGINT PRIMARY KEY, code VARCHAR(20))');
  await k.raw(
    'CREATE TABLE `lines` (id INT PRIMARY KEY AUTO_INCREMENT, organization_id BIGINT NOT NULL, note VARCHAR(50), FOREIGN KEY (organization_id) REFERENCES organizations(id))',
  );
  await k.raw('CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, line_id INT NOT NULL, FOREIGN KEY (line_id) REFERENCES `lines`(id) ON DELETE RESTRICT)');
  await k.raw("INSERT INTO organizations VALUES (1, 'a'), (2, 'b')");
  await k.raw("INSERT INTO `lines` (organization_id, note) VALUES (1, 'one'), (2, 'two')");
  const dir = await makeTempDir('tb-outside-');
  const raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'mysql2', connection: db.connection, exclude: ['audit'] } };
  await writeFile(path.join(dir, '.backuprc'), JSON.stringify(raw));
  deps = await createDeps({ config: resolveConfig(raw, path.join(dir, '.backuprc'), {}), clock: frozenClock('2026-11-23T08:00:00Z') });
});
afterAll(async () => {
  await db?.drop();
  await removeTempDirs();
});

describe('MariaDB restore and references from outside the plan', () => {
  it('refuses a restore that would leave an excluded table pointing at a removed row, changing nothing', async () => {
    const backup = await backupOrganization(deps, { organizationId: '1' });
    const k = db.knex();
    const [inserted] = (await k.raw("INSERT INTO `lines` (organization_id, note) VALUES (1, 'after backup')")) as [{ insertId: number }];
    await k.raw('INSERT INTO audit (line_id) VALUES (?)', [inserted.insertId]);
    const before = (await k.raw('SELECT id, organization_id, note FROM `lines` ORDER BY id'))[0];

    const error = await restoreOrganization(deps, { organizationId: '1', backup: backup.record.backup_filename }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/a row of table "audit" \(id = 1\) that the restore does not put back references a row of "lines"/);
    expect((await k.raw('SELECT id, organization_id, note FROM `lines` ORDER BY id'))[0]).toEqual(before);

    await k.raw('DELETE FROM audit');
    const result = await restoreOrganization(deps, { organizationId: '1', backup: backup.record.backup_filename });
    expect(result.action).toBe('restored');
    expect(((await k.raw('SELECT note FROM `lines` ORDER BY id'))[0] as { note: string }[]).map((r) => r.note)).toEqual(['one', 'two']);
  });
});
