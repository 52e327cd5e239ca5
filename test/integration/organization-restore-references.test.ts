/**
 * Rows a restore does not put back that reference rows it deletes (issue 9, point 1), on all three
 * engines. Organization A gets a `bank_integrations` row after its backup; organization B then
 * points at it — from a planned table (`bank_transactions`, ON DELETE CASCADE) or from a table
 * outside the plan (`integration_audit`, excluded). Restoring A would leave B's row pointing at
 * nothing (MariaDB, foreign-key checks off) or delete it by cascade (PostgreSQL, SQLite): every
 * engine refuses instead, naming the table, the foreign key and B, and changes nothing — so none
 * can reach the dangling state. References to rows the archive puts back are fine, except where
 * the database itself would cascade the delete (PostgreSQL, SQLite), which is refused too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import type { Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { OperationError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { orgDepsFor } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

const schema = (engine: string) => [
  'CREATE TABLE organizations (id INTEGER PRIMARY KEY, code VARCHAR(20))',
  // Shared between organizations (no tenant column): never part of an organization's backup.
  'CREATE TABLE staff (id INTEGER PRIMARY KEY, name VARCHAR(40))',
  `CREATE TABLE bank_integrations (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, name VARCHAR(40), created_by INTEGER,
     CONSTRAINT fk_bi_org FOREIGN KEY (organization_id) REFERENCES organizations (id),
     CONSTRAINT fk_bi_staff FOREIGN KEY (created_by) REFERENCES staff (id))`,
  "INSERT INTO staff VALUES (5, 'Ann'), (6, 'Bob')",
  `CREATE TABLE bank_transactions (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, bank_integration_id INTEGER, amount INTEGER,
     CONSTRAINT fk_bt_org FOREIGN KEY (organization_id) REFERENCES organizations (id),
     CONSTRAINT fk_bt_integration FOREIGN KEY (bank_integration_id) REFERENCES bank_integrations (id) ON DELETE CASCADE)`,
  `CREATE TABLE integration_audit (id INTEGER PRIMARY KEY, organization_id INTEGER, bank_integration_id INTEGER NOT NULL,
     CONSTRAINT fk_audit_integration FOREIGN KEY (bank_integration_id) REFERENCES bank_integrations (id)${engine === 'postgres' ? ' DEFERRABLE' : ''})`,
  "INSERT INTO organizations VALUES (1, 'a'), (2, 'b')",
  "INSERT INTO bank_integrations VALUES (1, 1, 'A main', 6), (2, 2, 'B main', NULL), (3, 1, 'A by Ann', 5)",
  'INSERT INTO bank_transactions VALUES (1, 1, 1, 100), (2, 2, 2, 200)',
];
const TABLES = ['organizations', 'staff', 'bank_integrations', 'bank_transactions', 'integration_audit'];
const DANGLING = `SELECT bt.id FROM bank_transactions bt LEFT JOIN bank_integrations bi ON bi.id = bt.bank_integration_id
  WHERE bt.bank_integration_id IS NOT NULL AND bi.id IS NULL
  UNION ALL SELECT a.id FROM integration_audit a LEFT JOIN bank_integrations bi ON bi.id = a.bank_integration_id WHERE bi.id IS NULL`;

describe.each(['postgres', 'mysql', 'sqlite'] as const)('references into restored rows on %s', (engine) => {
  let db: TestDatabase;
  let deps: Deps;
  let archive: string;
  const k = () => db.knex();
  const rowsOf = (sql: string) =>
    k()
      .raw(sql)
      .then((result: unknown) => (engine === 'postgres' ? (result as { rows: unknown[] }).rows : engine === 'mysql' ? (result as unknown[][])[0]! : (result as unknown[])));
  const everything = async () => Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, await k()(t).select().orderBy('id')] as const)));
  // SQLite does not report constraint names: the engine names its foreign keys <table>_<columns>_fkey.
  const fk = (name: string, sqliteName: string) => (engine === 'sqlite' ? sqliteName : name);
  const refused = async (pattern: RegExp) => {
    const before = await everything();
    for (const dryRun of [true, false]) {
      const error = await restoreOrganization(deps, { organizationId: '1', backup: archive, dryRun }).catch((e: unknown) => e);
      expect(error, `dryRun ${dryRun}`).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(pattern);
      expect(await everything()).toEqual(before);
    }
    expect(await rowsOf(DANGLING)).toEqual([]);
  };

  beforeAll(async () => {
    db = await createTestDatabase(engine, 'tb_refs');
    for (const statement of schema(engine)) await k().raw(statement);
    deps = await orgDepsFor(db, { exclude: ['integration_audit'] });
    archive = (await backupOrganization(deps, { organizationId: '1' })).record.backup_filename;
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDirs();
  });

  it("refuses when another organization's row in a planned table points at a row created after the backup", async () => {
    await k().raw("INSERT INTO bank_integrations VALUES (10, 1, 'A new', NULL)");
    await k().raw('INSERT INTO bank_transactions VALUES (20, 2, 10, 999)');
    await refused(
      new RegExp(
        `a row of table "bank_transactions" \\(id = 20, organization_id = 2\\) that the restore does not put back references a row of "bank_integrations" that it deletes, ` +
          `through foreign key ${fk('fk_bt_integration', 'bank_transactions_bank_integration_id_fkey')} \\(bank_integration_id\\) = \\(10\\)`,
      ),
    );
    await k().raw('DELETE FROM bank_transactions WHERE id = 20');
    await k().raw('DELETE FROM bank_integrations WHERE id = 10');
  });

  it('refuses when a row of a table outside the plan points at a row created after the backup', async () => {
    await k().raw("INSERT INTO bank_integrations VALUES (11, 1, 'A newer', NULL)");
    await k().raw('INSERT INTO integration_audit VALUES (30, 2, 11)');
    await refused(
      new RegExp(
        `a row of table "integration_audit" \\(id = 30, organization_id = 2\\) .* through foreign key ${fk('fk_audit_integration', 'integration_audit_bank_integration_id_fkey')} ` +
          `\\(bank_integration_id\\) = \\(11\\); it would be left pointing at a row the archive does not hold`,
      ),
    );
    await k().raw('DELETE FROM integration_audit WHERE id = 30');
    await k().raw('DELETE FROM bank_integrations WHERE id = 11');
  });

  it('keeps references to rows the archive puts back (outside the plan: every engine)', async () => {
    await k().raw('INSERT INTO integration_audit VALUES (31, 2, 1)');
    await k().raw("UPDATE bank_integrations SET name = 'changed' WHERE id = 1");
    const result = await restoreOrganization(deps, { organizationId: '1', backup: archive });
    expect(result.action).toBe('restored');
    expect(await k()('integration_audit').select('id', 'bank_integration_id')).toEqual([{ id: 31, bank_integration_id: 1 }]);
    expect((await k()('bank_integrations').where({ id: 1 }).first()).name).toBe('A main');
    await k().raw('DELETE FROM integration_audit WHERE id = 31');
  });

  it("keeps another organization's reference to a row put back on MariaDB; PostgreSQL and SQLite would cascade, so they refuse", async () => {
    await k().raw('INSERT INTO bank_transactions VALUES (21, 2, 1, 555)');
    if (engine === 'mysql') {
      await restoreOrganization(deps, { organizationId: '1', backup: archive });
      expect(await k()('bank_transactions').where({ id: 21 }).first()).toMatchObject({ organization_id: 2, bank_integration_id: 1 });
    } else {
      await refused(
        new RegExp(
          `"bank_transactions" \\(id = 21, organization_id = 2\\) .* ${fk('fk_bt_integration', 'bank_transactions_bank_integration_id_fkey')} \\(bank_integration_id\\) = \\(1\\); ` +
            `deleting the organization's rows would delete \\(ON DELETE CASCADE\\) it`,
        ),
      );
    }
    await k().raw('DELETE FROM bank_transactions WHERE id = 21');
  });

  it('names a shared parent deleted after the backup, and how to proceed', async () => {
    await k().raw('DELETE FROM bank_integrations WHERE id = 3');
    await k().raw('DELETE FROM staff WHERE id = 5');
    const pattern =
      engine === 'postgres'
        ? /Restore refused: the archive's rows of table "bank_integrations" reference a row that does not exist .*re-create that row \(same key\), then run the restore again.*Key \(created_by\)=\(5\) is not present in table "staff"/
        : new RegExp(
            `Restore refused: the archive's rows of table "bank_integrations" reference a row of "staff" that does not exist, through foreign key ` +
              `${fk('fk_bi_staff', 'bank_integrations_created_by_fkey')} \\(created_by\\) = \\(5\\)\\. "staff" is not part of the organization's backup .*re-create that row`,
          );
    await refused(pattern);
    await k().raw("INSERT INTO staff VALUES (5, 'Ann')");
    const result = await restoreOrganization(deps, { organizationId: '1', backup: archive });
    expect(result.action).toBe('restored');
    expect(await k()('bank_integrations').where({ id: 3 }).first()).toMatchObject({ organization_id: 1, created_by: 5 });
  });
});
