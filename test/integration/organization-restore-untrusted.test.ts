/**
 * An organization archive is untrusted input (issue 18, point 1). Archives crafted with valid
 * checksums — a row of another organization, a global row (NULL tenant column), a child pointing at
 * another organization's parent, a foreign organizations row — must never write into another
 * tenant: the whole restore is refused (ArchiveError, exit 5) naming the table and the row, and
 * nothing changes, on PostgreSQL, MariaDB and SQLite. A dry run refuses exactly the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { ArchiveError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { checksumOrganization, checksumTables } from '../helpers/checksums.js';
import { craftedRow, rewriteArchive, type LineEdit } from '../helpers/crafted-archive.js';
import { BILLING_BIG_ORG_ID, BILLING_GLOBAL_TABLES } from '../helpers/fixtures.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

const ORGS = ['1', '2', '3', '4', BILLING_BIG_ORG_ID];
const FRESH_ID = 880_000_001n;

describe.each(['postgres', 'mysql', 'sqlite'] as const)('restoring crafted organization archives on %s', (engine) => {
  let bed: OrgBed;
  let archive: string;
  let otherSale: string;
  const knex = () => bed.db.knex();
  const everything = async () => ({
    orgs: Object.fromEntries(await Promise.all(ORGS.map(async (id) => [id, await checksumOrganization(knex(), engine, id)] as const))),
    globals: await checksumTables(knex(), engine, [...BILLING_GLOBAL_TABLES, 'users', 'organizations']),
  });

  beforeAll(async () => {
    bed = await createOrgBed(engine);
    archive = (await backupOrganization(bed.deps, { organizationId: '1' })).record.backup_filename;
    const [row] = (await knex()('sale_transactions').where({ organization_id: 2 }).orderBy('id').limit(1).select('id')) as { id: string | number }[];
    otherSale = String(row!.id);
  });
  afterAll(async () => {
    await bed?.db.drop();
    await removeTempDirs();
  });

  const cases: Array<{ name: string; table: string; edit: LineEdit; key: RegExp }> = [
    {
      name: 'a row of another organization',
      table: 'customers',
      edit: (table, lines, columns) => (table === 'customers' ? [...lines, craftedRow(lines, columns, { id: FRESH_ID, organization_id: 2n })] : lines),
      key: /id = 880000001, organization_id = 2/,
    },
    {
      name: 'a global row (NULL tenant column)',
      table: 'users',
      edit: (table, lines, columns) =>
        table === 'users' ? [...lines, craftedRow(lines, columns, { user_id: FRESH_ID, organization_id: null, email: 'root@evil.example' })] : lines,
      key: /user_id = 880000001, organization_id = NULL/,
    },
    {
      name: "a child pointing at another organization's parent",
      table: 'sale_transaction_items',
      edit: (table, lines, columns) =>
        table === 'sale_transaction_items' ? [...lines, craftedRow(lines, columns, { id: FRESH_ID, sale_transaction_id: BigInt(otherSale) })] : lines,
      key: /id = 880000001, item_id = \d+, sale_transaction_id = \d+\)/,
    },
    {
      name: 'its organizations row replaced by another organization',
      table: 'organizations',
      edit: (table, lines, columns) => (table === 'organizations' ? [craftedRow(lines, columns, { id: 77n, code: 'evil' })] : lines),
      key: /id = 77/,
    },
  ];

  it.each(cases)('refuses $name, naming the table and the row, changing nothing (dry run too)', async ({ table, edit, key }) => {
    const crafted = await rewriteArchive(bed, archive, `org_acme_${table.replace(/_/g, '-')}_crafted.zip`, edit);
    const before = await everything();
    for (const dryRun of [true, false]) {
      const error = await restoreOrganization(bed.deps, { organizationId: '1', backup: crafted, dryRun }).catch((e: unknown) => e);
      expect(error, `dryRun ${dryRun}`).toBeInstanceOf(ArchiveError);
      expect((error as Error).message).toContain(`table "${table}"`);
      expect((error as Error).message).toMatch(key);
      expect(await everything()).toEqual(before);
    }
  });

  it('refuses a second organizations row before touching the database', async () => {
    const crafted = await rewriteArchive(bed, archive, 'org_acme_extra_crafted.zip', (table, lines, columns) =>
      table === 'organizations' ? [...lines, craftedRow(lines, columns, { id: 78n, code: 'new-org' })] : lines,
    );
    const before = await everything();
    const error = await restoreOrganization(bed.deps, { organizationId: '1', backup: crafted }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveError);
    expect((error as Error).message).toMatch(/exactly the organization's own row of "organizations"; it holds 2/);
    expect(await everything()).toEqual(before);
  });

  it('exits 5 through the CLI, with the table named in the JSON error', async () => {
    const crafted = await rewriteArchive(bed, archive, 'org_acme_cli_crafted.zip', (table, lines, columns) =>
      table === 'customers' ? [...lines, craftedRow(lines, columns, { id: FRESH_ID + 1n, organization_id: 2n })] : lines,
    );
    const before = await everything();
    const result = await runCli(['restore', '--org', '1', crafted, '--yes', '--json', '--config', bed.configFile]);
    expect(result.code, result.stderr).toBe(5);
    const error = JSON.parse(result.stderr.trim().split('\n').at(-1)!).error as { code: string; details: { table: string } };
    expect(error).toMatchObject({ code: 'ARCHIVE_INVALID', details: { table: 'customers' } });
    expect(await everything()).toEqual(before);
    // The genuine archive still restores.
    const ok = await runCli(['restore', '--org', '1', archive, '--yes', '--config', bed.configFile]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('refuses a line longer than the bound (exit 5) without building it, changing nothing', async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const crafted = await rewriteArchive(bed, archive, 'org_acme_long_crafted.zip', (table, lines, columns) =>
      table === 'customers' ? [...lines, craftedRow(lines, columns, { id: FRESH_ID + 2n, name: huge })] : lines,
    );
    const before = await everything();
    const error = await restoreOrganization(bed.deps, { organizationId: '1', backup: crafted, maxLineBytes: 1024 * 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveError);
    expect((error as Error).message).toMatch(/Table "customers": line 23 of the archive is longer than 1,048,576 bytes/);
    expect(await everything()).toEqual(before);
  });

  it("restores rows whose ids lie beyond 2^53 next to another organization's neighbouring id", async () => {
    for (const [id, organization] of [
      ['9007199254750001', 1],
      ['9007199254750000', 2],
      ['9007199254750002', 2],
    ] as const) {
      await knex().raw(`INSERT INTO customers (id, organization_id, name, currency_code) VALUES (${id}, ${organization}, 'big id', 'EUR')`);
    }
    const fresh = (await backupOrganization(bed.deps, { organizationId: '1' })).record.backup_filename;
    const before = await everything();
    await knex().raw("UPDATE customers SET name = 'changed' WHERE id = 9007199254750001");
    const result = await restoreOrganization(bed.deps, { organizationId: '1', backup: fresh });
    expect(result.action).toBe('restored');
    expect(await everything()).toEqual(before);
  });
});
