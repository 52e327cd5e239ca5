/**
 * Issue 9 on real servers, with a schema shaped like the applications: uuid organization
 * ids, organizations table `companies` with tenant column `company_id`, a shared `users` table,
 * a polymorphic `versions` table (`item_type` / `item_id`) that no foreign key reaches, a
 * tenant-like column without a foreign key, a nullable foreign key, and a child table that a
 * configuration may exclude. On PostgreSQL, MariaDB and SQLite:
 * - `plan` (the use case and the command): tables, why, rows in one snapshot, what is left out;
 * - `organizations.include`: exported in the same snapshot, restored exactly (other rows untouched),
 *   a condition the database cannot run refused before anything is written;
 * - an excluded child referencing planned tables: the backup warns, naming the foreign key;
 * - settings that match nothing: config errors naming the setting and the candidates;
 * - organization ids compared with the column's type (a uuid in upper case is found; an id the
 *   type cannot hold is exit 2).
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { planOrganizationReport } from '../../src/core/plan-report.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { ConfigError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase, type TestEngine } from '../helpers/databases.js';
import { runStatements } from '../helpers/fixtures.js';
import { MONDAY } from '../helpers/org-setup.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const A = '6f1c1e1a-0000-4000-8000-00000000000a';
const B = '6f1c1e1a-0000-4000-8000-00000000000b';
const VERSIONS = "item_type = 'Invoice' AND item_id IN (SELECT id FROM invoices WHERE company_id = :org)";

function schema(engine: TestEngine): string[] {
  const uuid = engine === 'postgres' ? 'uuid' : 'UUID';
  const serial = engine === 'postgres' ? 'integer PRIMARY KEY' : engine === 'mysql' ? 'INT PRIMARY KEY' : 'INTEGER PRIMARY KEY';
  const text = engine === 'mysql' ? 'VARCHAR(100)' : 'TEXT';
  return [
    `CREATE TABLE companies (id ${uuid} PRIMARY KEY, subdomain ${text} NOT NULL, name ${text} NOT NULL)`,
    `CREATE TABLE users (id ${serial}, email ${text} NOT NULL)`,
    `CREATE TABLE memberships (id ${serial}, company_id ${uuid} NOT NULL REFERENCES companies(id), user_id INT NOT NULL REFERENCES users(id))`,
    `CREATE TABLE invoices (id ${serial}, company_id ${uuid} NOT NULL REFERENCES companies(id), number ${text} NOT NULL)`,
    `CREATE TABLE invoice_items (id ${serial}, invoice_id INT NOT NULL REFERENCES invoices(id) ON DELETE CASCADE, amount DECIMAL(10,2) NOT NULL)`,
    `CREATE TABLE versions (id ${serial}, item_type ${text} NOT NULL, item_id INT NOT NULL, event ${text} NOT NULL)`,
    `CREATE TABLE comments (id ${serial}, invoice_id INT NULL REFERENCES invoices(id), body ${text} NOT NULL)`,
    `CREATE TABLE audit_events (id ${serial}, org_id ${uuid} NULL, action ${text} NOT NULL)`,
    `CREATE TABLE invoice_notes (id ${serial}, invoice_id INT NOT NULL REFERENCES invoices(id), note ${text} NOT NULL)`,
    `INSERT INTO companies VALUES ('${A}', 'acme', 'ACME'), ('${B}', 'globex', 'Globex')`,
    `INSERT INTO users VALUES (1, 'shared@x'), (2, 'a@x'), (3, 'b@x')`,
    `INSERT INTO memberships VALUES (1, '${A}', 1), (2, '${A}', 2), (3, '${B}', 1), (4, '${B}', 3)`,
    `INSERT INTO invoices VALUES (1, '${A}', 'A-1'), (2, '${A}', 'A-2'), (3, '${B}', 'B-1')`,
    `INSERT INTO invoice_items VALUES (1, 1, 10.50), (2, 1, 3.25), (3, 2, 99.99), (4, 3, 1.00)`,
    `INSERT INTO versions VALUES (1, 'Invoice', 1, 'create'), (2, 'Invoice', 2, 'create'), (3, 'Invoice', 3, 'create'), (4, 'User', 1, 'update')`,
    `INSERT INTO comments VALUES (1, 1, 'on A-1'), (2, 3, 'on B-1'), (3, NULL, 'on nothing')`,
    `INSERT INTO audit_events VALUES (1, '${A}', 'login'), (2, '${A}', 'export'), (3, '${B}', 'login')`,
    `INSERT INTO invoice_notes VALUES (1, 1, 'paid late')`,
  ];
}

const ENGINES: TestEngine[] = ['postgres', 'mysql', 'sqlite'];

afterAll(removeTempDirs);

describe.each(ENGINES)('%s: a schema shaped like the issue (companies, uuid ids, shared users, polymorphic versions)', (engine) => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase(engine, `tb_plan_${engine}`);
    await runStatements(db.knex(), engine, schema(engine));
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** A fresh store and Deps with these organizations settings (never written to a file with a password in it but 0600). */
  async function bed(settings: Record<string, unknown>): Promise<{ deps: Deps; dir: string }> {
    dir = await makeTempDir(`tb-plan-${engine}-`);
    const raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: db.client, connection: db.connection, ...settings } };
    const file = path.join(dir, '.backuprc');
    await writeFile(file, JSON.stringify(raw), { mode: 0o600 });
    return { dir, deps: await createDeps({ config: resolveConfig(raw, file, {}), clock: frozenClock(MONDAY) }) };
  }
  const base = { table: 'companies', tenantColumn: 'company_id', codeColumn: 'subdomain' };
  const nothingWritten = async (deps: Deps, where: string) => {
    expect(await deps.ledger.find({})).toEqual([]);
    expect(await readdir(path.join(where, 'backups/organizations')).catch(() => [])).toEqual([]);
  };
  const rowsOf = async (table: string) =>
    ((await db.knex()(table).select('*').orderBy('id')) as Array<Record<string, unknown>>).map((row) => JSON.stringify(Object.values(row).map(String)));

  it('plan: every table with why and its rows, and what the backup leaves out, without writing anything', async () => {
    const { deps, dir: where } = await bed({ ...base, include: { versions: VERSIONS }, exclude: ['invoice_notes'] });
    const report = await planOrganizationReport(deps, { organizationId: A });
    expect(report.organization).toEqual({ id: A, name: 'ACME', code: 'acme' });
    const taken = Object.fromEntries(report.tables.map((t) => [t.table, [t.rows, t.because]]));
    expect(taken).toEqual({
      companies: [1, 'organization-row'],
      memberships: [2, 'tenant-column'],
      invoices: [2, 'tenant-column'],
      invoice_items: [3, 'foreign-key'],
      comments: [1, 'foreign-key'],
      versions: [2, 'condition'],
    });
    expect(report.tables.find((t) => t.table === 'invoice_items')!.detail).toBe('invoice_items.invoice_id → invoices.company_id');
    expect(report.tables.find((t) => t.table === 'versions')!.detail).toBe(`organizations.include: ${VERSIONS}`);
    expect(report.total_rows).toBe(11);
    const left = report.left_out.map((item) => [item.kind, item.table, item.rows, item.related_table]);
    expect(left).toEqual(
      expect.arrayContaining([
        ['shared-parent', 'users', 2, 'memberships'],
        ['tenant-like-column', 'audit_events', 2, null],
        ['excluded-reference', 'invoice_notes', 1, 'invoices'],
        ['null-reference', 'comments', 1, null],
      ]),
    );
    expect(left).toHaveLength(4);
    expect(report.warnings).toEqual([expect.stringMatching(/^organizations\.exclude lists "invoice_notes", whose foreign key \S+ \(invoice_id\) references "invoices"/)]);
    await nothingWritten(deps, where);
  });

  it("include: the condition's rows are exported in the same snapshot and restored exactly; nobody else's rows move", async () => {
    const { deps } = await bed({ ...base, include: { versions: VERSIONS } });
    const before = await rowsOf('versions');
    const backup = await backupOrganization(deps, { organizationId: A });
    expect(backup.warnings).toEqual([]);
    expect(Object.fromEntries(backup.tables.map((t) => [t.table, t.rows]))).toMatchObject({ versions: 2, invoice_notes: 1, invoices: 2 });

    const k = db.knex();
    await k('versions').where({ id: 1 }).delete(); // A's, removed
    await k('versions').where({ id: 3 }).update({ event: 'changed' }); // B's, changed
    await k('versions').insert([
      { id: 10, item_type: 'Invoice', item_id: 2, event: 'added for A' },
      { id: 11, item_type: 'Invoice', item_id: 3, event: 'added for B' },
    ]);
    const result = await restoreOrganization(deps, { organizationId: A, backup: backup.record.backup_filename });
    expect(result.action).toBe('restored');
    const expected = [...before.filter((row) => !row.startsWith('["3"')), JSON.stringify(['3', 'Invoice', '3', 'changed']), JSON.stringify(['11', 'Invoice', '3', 'added for B'])];
    expect(await rowsOf('versions')).toEqual([...expected].sort((a, b) => Number(JSON.parse(a)[0]) - Number(JSON.parse(b)[0])));
    // Put the table back as the other tests expect it.
    await k('versions').where({ id: 11 }).delete();
    await k('versions').where({ id: 3 }).update({ event: 'create' });
    expect(await rowsOf('versions')).toEqual(before);
  });

  it('include: a condition the database cannot run is a config error before anything is written', async () => {
    const { deps, dir: where } = await bed({ ...base, include: { versions: "item_kind = 'Invoice' AND item_id IN (SELECT id FROM invoices WHERE company_id = :org)" } });
    const error = await backupOrganization(deps, { organizationId: A }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^organizations\.include\.versions: the database cannot run this condition on table "versions": .*item_kind/);
    await expect(planOrganizationReport(deps, { organizationId: A })).rejects.toThrow(/organizations\.include\.versions: the database cannot run this condition/);
    await nothingWritten(deps, where);
  });

  it('an excluded child that references backed-up tables: the backup warns, naming the foreign key', async () => {
    const { deps } = await bed({ ...base, exclude: ['invoice_notes'] });
    const backup = await backupOrganization(deps, { organizationId: A });
    expect(backup.warnings).toEqual([
      expect.stringMatching(/^organizations\.exclude lists "invoice_notes", whose foreign key \S+ \(invoice_id\) references "invoices", which is backed up/),
    ]);
  });

  it('the library takes an id only in the form the table holds it (the CLI resolves it): never a backup of fewer rows', async () => {
    const { deps, dir: where } = await bed(base);
    await expect(backupOrganization(deps, { organizationId: A.toUpperCase() })).rejects.toThrow(
      new RegExp(`^Organization "${A.toUpperCase()}" is held as "${A}" in table "companies"`),
    );
    await expect(planOrganizationReport(deps, { organizationId: A.toUpperCase() })).rejects.toThrow(/is held as/);
    await nothingWritten(deps, where);
  });

  it('settings that match nothing are config errors naming the setting and what the schema has', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { ...base, tenantColumn: undefined },
        /^organizations\.tenantColumn is "organization_id", but no table of the shared database has such a column\. Columns that reference "companies": company_id \(2 tables\)/,
      ],
      [
        { ...base, codeColumn: 'subdomian' },
        /^organizations\.codeColumn is "subdomian", but the organizations table "companies" has no such column\. Its columns: id, subdomain, name\./,
      ],
      [{ ...base, nameColumn: 'title' }, /^organizations\.nameColumn is "title"/],
      [{ ...base, table: undefined }, /^organizations\.table is "organizations", but the shared database has no such table\. Tables that look like it: companies\./],
    ];
    for (const [settings, message] of cases) {
      const { deps, dir: where } = await bed(JSON.parse(JSON.stringify(settings)) as Record<string, unknown>);
      const error = await backupOrganization(deps, { organizationId: A }).catch((e: unknown) => e);
      expect(error, String(message)).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      await nothingWritten(deps, where);
    }
  });

  it('the CLI: plan by code and by uuid in upper case, ids compared by type, warnings as JSON lines', async () => {
    const { dir: where } = await bed({ ...base, include: { versions: VERSIONS }, exclude: ['invoice_notes'] });
    const cli = (args: string[]) => runCli(args, { cwd: where });

    const text = await cli(['plan', '--org', 'acme']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Organization 6f1c1e1a-0000-4000-8000-00000000000a · acme · ACME \(\w+\): a backup would take 11 rows in 6 tables/);
    expect(text.stdout).toMatch(/invoice_items\s+3\s+invoice_items\.invoice_id → invoices\.company_id/);
    expect(text.stdout).toMatch(/Left out of the backup, yet connected to the organization:/);
    expect(text.stdout).toMatch(/users\s+2\s+shared parent of memberships/);
    expect(text.stderr).toMatch(/^warning: organizations\.exclude lists "invoice_notes"/);

    const json = await cli(['plan', '--org', A.toUpperCase(), '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ organization: { id: A, code: 'acme' }, total_rows: 11 });
    const warnings = json.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { warning: string });
    expect(warnings).toEqual([{ warning: expect.stringMatching(/^organizations\.exclude lists "invoice_notes"/) }]);

    // A uuid in upper case names the organization (compared as a uuid, not as text): the backup is recorded under its id.
    const backup = await cli(['backup', '--org', A.toUpperCase(), '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ record: { organization_id: A, status: 'success' } });

    // Digits are taken as an id without a lookup: not a uuid, so a usage error (exit 2), not "not found".
    const digits = await cli(['backup', '--org', '42', '--json']);
    expect(digits.code).toBe(2);
    const refusal = JSON.parse(digits.stderr.trim().split('\n').at(-1)!) as { error: { code: string; exit_code: number; message: string } };
    expect(refusal.error).toMatchObject({ code: 'USAGE', exit_code: 2 });
    expect(refusal.error.message).toMatch(/^"42" is not a valid organization id: column "companies"\."id" is of type uuid/i);
    // Neither a uuid nor any organization's code: not found, like any unknown code.
    expect((await cli(['plan', '--org', 'nosuch'])).code).toBe(3);
  });
});
