/**
 * Organization backup and restore end to end, on real PostgreSQL, MariaDB and SQLite: exact
 * round trips (ordered-row checksums of every table), isolation from other organizations,
 * rotation, and every refusal path leaving the data and the store as they were.
 */
import { createHash } from 'node:crypto';
import { readFile, stat, truncate, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { ArchiveError, ForbiddenTargetError, InvalidNameError, NotFoundError, TenantBackupError } from '../../src/errors.js';
import { checksumOrganization, checksumTables } from '../helpers/checksums.js';
import { BILLING_GLOBAL_TABLES, BILLING_ORG_ROW_COUNTS, BILLING_ORG_TABLES, BILLING_BIG_ORG_ID } from '../helpers/fixtures.js';
import { rewriteArchive } from '../helpers/crafted-archive.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

const OTHER_ORGS = ['2', '3', '4', BILLING_BIG_ORG_ID];

async function fileSha(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

describe.each(['postgres', 'mysql', 'sqlite'] as const)('organization backup and restore on %s', (engine) => {
  let bed: OrgBed;
  let archiveName: string;
  let original: Awaited<ReturnType<typeof checksumOrganization>>;
  let others: Record<string, Awaited<ReturnType<typeof checksumOrganization>>>;
  let globals: Awaited<ReturnType<typeof checksumTables>>;

  const knex = () => bed.db.knex();
  const snapshotOthers = async () => Object.fromEntries(await Promise.all(OTHER_ORGS.map(async (id) => [id, await checksumOrganization(knex(), engine, id)] as const)));

  beforeAll(async () => {
    bed = await createOrgBed(engine);
    original = await checksumOrganization(knex(), engine, '1');
    others = await snapshotOthers();
    globals = await checksumTables(knex(), engine, BILLING_GLOBAL_TABLES);
  });
  afterAll(async () => {
    await bed?.db.drop();
    await removeTempDirs();
  });

  it('backs up every table of the organization, children included, into a verified 0600 archive', async () => {
    const result = await backupOrganization(bed.deps, { organizationId: '1', userId: '7' });
    archiveName = result.record.backup_filename;
    expect(archiveName).toBe('org_acme_monday_backup.zip');
    expect(result.record).toMatchObject({ status: 'success', kind: 'organization', organization_id: '1', user_id: '7', day_of_week: 'monday', backup_date: '2026-11-23' });
    const file = result.record.backup_path;
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(result.record.sha256).toBe(await fileSha(file));
    expect(result.record.backup_size).toBe((await stat(file)).size);

    const reader = await ArchiveReader.open(file);
    try {
      const m = reader.manifest;
      expect(m).toMatchObject({ format: 'tenant-backup', format_version: 1, kind: 'organization', engine, backup_type: 'manual', day_of_week: 'monday' });
      expect(m.organization).toEqual({ id: '1', name: 'ACME Corporation', code: 'acme' });
      const rows = Object.fromEntries(m.entries.map((e) => [e.table, e.rows]));
      expect(rows.organizations).toBe(1);
      for (const table of BILLING_ORG_TABLES) expect(rows[table], table).toBe(BILLING_ORG_ROW_COUNTS['1']![table]);
      for (const table of BILLING_GLOBAL_TABLES) expect(rows).not.toHaveProperty(table);
      expect(m.entries.every((e) => /^[0-9a-f]{64}$/.test(e.sha256) && e.columns!.length > 0)).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('restores exactly what was backed up after rows were changed, deleted and added', async () => {
    const k = knex();
    await k('customers').where({ organization_id: 1 }).update({ name: 'changed' });
    await k('sale_transaction_item_taxes')
      .whereIn(
        'sale_transaction_item_id',
        k('sale_transaction_items')
          .select('id')
          .whereIn('sale_transaction_id', k('sale_transactions').select('id').where({ organization_id: 1 })),
      )
      .delete();
    await k('items')
      .insert({ organization_id: 1, sku: 'NEW-1', name: 'inserted after the backup' })
      .catch(async () => {
        // Schemas differ slightly per engine; an update is enough when the insert does not fit.
        await k('items').where({ organization_id: 1 }).update({ name: 'changed too' });
      });
    expect(await checksumOrganization(k, engine, '1')).not.toEqual(original);

    const result = await restoreOrganization(bed.deps, { organizationId: '1', backup: archiveName });
    expect(result.action).toBe('restored');
    expect(await checksumOrganization(k, engine, '1')).toEqual(original);
    expect(await snapshotOthers()).toEqual(others);
    expect(await checksumTables(k, engine, BILLING_GLOBAL_TABLES)).toEqual(globals);
  });

  it('leaves counters past the restored ids so the application can insert again', async () => {
    const k = knex();
    const before = await k('customers').max({ id: 'id' }).first();
    await k('customers').insert({ organization_id: 1, name: 'after restore', currency_code: 'EUR' });
    const after = await k('customers').where({ name: 'after restore' }).first();
    expect(BigInt(String(after.id))).toBeGreaterThan(BigInt(String(before!.id)));
    await k('customers').where({ name: 'after restore' }).delete();
  });

  it('dry-run verifies and reports per table, changing nothing', async () => {
    await knex()('customers').where({ organization_id: 1 }).update({ name: 'dry' });
    const changed = await checksumOrganization(knex(), engine, '1');
    const result = await restoreOrganization(bed.deps, { organizationId: '1', backup: archiveName, dryRun: true });
    expect(result.action).toBe('dry-run');
    if (result.action !== 'dry-run') return;
    expect(result.tables.find((t) => t.table === 'customers')).toEqual({ table: 'customers', current_rows: 22, archive_rows: 22, in_archive: true });
    expect(await checksumOrganization(knex(), engine, '1')).toEqual(changed);
    await restoreOrganization(bed.deps, { organizationId: '1', backup: archiveName });
    expect(await checksumOrganization(knex(), engine, '1')).toEqual(original);
  });

  it('rolls everything back when a row of the archive violates a constraint half-way', async () => {
    await knex()('customers').where({ organization_id: 1 }).update({ name: 'kept by rollback' });
    const changed = await checksumOrganization(knex(), engine, '1');
    const bad = await rewriteArchive(bed, archiveName, 'org_acme_tuesday_backup.zip', (table, lines) =>
      // Duplicate the first row of a late table: a primary-key violation after earlier tables were inserted.
      table === 'sale_transaction_items' ? [...lines, lines[0]!] : lines,
    );
    const error = await restoreOrganization(bed.deps, { organizationId: '1', backup: bad }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantBackupError);
    expect(await checksumOrganization(knex(), engine, '1')).toEqual(changed);
    expect(await snapshotOthers()).toEqual(others);
    await restoreOrganization(bed.deps, { organizationId: '1', backup: archiveName });
  });

  it("refuses another organization's archive, a corrupted or truncated one, and unsafe names, changing nothing", async () => {
    const before = await checksumOrganization(knex(), engine, '1');
    const storeDir = path.join(bed.deps.config.storage.dir, 'organizations');
    await expect(restoreOrganization(bed.deps, { organizationId: '2', backup: archiveName })).rejects.toThrow(ForbiddenTargetError);

    const flipped = 'org_acme_wednesday_backup.zip';
    await copyFile(path.join(storeDir, archiveName), path.join(storeDir, flipped));
    const bytes = await readFile(path.join(storeDir, flipped));
    const reader = await ArchiveReader.open(path.join(storeDir, archiveName));
    const entry = reader.manifest.entries.find((e) => e.table === 'customers')!;
    await reader.close();
    // Flip one byte inside the stored (compressed) data of the archive's first third.
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
    await writeFile(path.join(storeDir, flipped), bytes);
    await expect(restoreOrganization(bed.deps, { organizationId: '1', backup: flipped })).rejects.toThrow(ArchiveError);
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);

    const cut = 'org_acme_thursday_backup.zip';
    await copyFile(path.join(storeDir, archiveName), path.join(storeDir, cut));
    await truncate(path.join(storeDir, cut), Math.floor((await stat(path.join(storeDir, cut))).size / 2));
    await expect(restoreOrganization(bed.deps, { organizationId: '1', backup: cut })).rejects.toThrow(ArchiveError);

    await expect(restoreOrganization(bed.deps, { organizationId: '1', backup: '../ledger.json' })).rejects.toThrow(InvalidNameError);
    await expect(restoreOrganization(bed.deps, { organizationId: '1', backup: 'org_acme_friday_backup.zip' })).rejects.toThrow(NotFoundError);
    expect(await checksumOrganization(knex(), engine, '1')).toEqual(before);
  });

  it('refuses a missing organization without writing a file or a record', async () => {
    const records = await bed.deps.ledger.find();
    await expect(backupOrganization(bed.deps, { organizationId: '999' })).rejects.toThrow(NotFoundError);
    expect(await bed.deps.ledger.find()).toEqual(records);
  });

  it('names archives by id when the code is empty or NULL, and handles ids beyond 2^53', async () => {
    const three = await backupOrganization(bed.deps, { organizationId: '3' });
    expect(three.record.backup_filename).toBe('org_3_monday_backup.zip');
    const big = await backupOrganization(bed.deps, { organizationId: BILLING_BIG_ORG_ID });
    expect(big.record.backup_filename).toBe('org_zeta_monday_backup.zip');
    const reader = await ArchiveReader.open(big.record.backup_path);
    const rows = Object.fromEntries(reader.manifest.entries.map((e) => [e.table, e.rows]));
    await reader.close();
    for (const table of BILLING_ORG_TABLES) expect(rows[table], table).toBe(BILLING_ORG_ROW_COUNTS[BILLING_BIG_ORG_ID]![table]);
    const before = await checksumOrganization(knex(), engine, BILLING_BIG_ORG_ID);
    await knex()('customers').where('organization_id', knex().raw(BILLING_BIG_ORG_ID)).update({ name: 'x' });
    await restoreOrganization(bed.deps, { organizationId: BILLING_BIG_ORG_ID, backup: big.record.backup_filename });
    expect(await checksumOrganization(knex(), engine, BILLING_BIG_ORG_ID)).toEqual(before);
  });

  it("replaces last week's same weekday only, keeping one record per organization and weekday", async () => {
    const ledger = bed.deps.ledger;
    bed.clock.set('2026-11-24T08:00:00Z'); // Tuesday
    const tuesday = await backupOrganization(bed.deps, { organizationId: '1' });
    const tuesdaySha = await fileSha(tuesday.record.backup_path);
    bed.clock.set('2026-11-30T08:00:00Z'); // next Monday
    const nextMonday = await backupOrganization(bed.deps, { organizationId: '1' });
    expect(nextMonday.record.backup_filename).toBe(archiveName);
    expect(await fileSha(tuesday.record.backup_path)).toBe(tuesdaySha);
    const records = await ledger.find({ organization_id: '1', status: 'success' });
    expect(records.map((r) => [r.day_of_week, r.backup_date])).toEqual([
      ['monday', '2026-11-30'],
      ['tuesday', '2026-11-24'],
    ]);
    bed.clock.set('2026-11-23T08:00:00Z');
  });
});
