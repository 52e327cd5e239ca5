/**
 * Encrypted archives end to end on real servers: organization and tenant round trips with every
 * row equal, the `age` command reading our archives and us restoring its, refusals (no key, wrong
 * key, truncated, a flipped byte) that leave the database untouched, the weekday slot moving from
 * `.zip` to `.zip.age`, and the identity never reaching a record, a message or a command line.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGE_MAGIC } from '../../src/cipher/age/header.js';
import { resolveConfig } from '../../src/config/load.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { ArchiveError, ConfigError } from '../../src/errors.js';
import { ageDecrypt, ageEncrypt, ageKeygen } from '../helpers/age.js';
import { checksumOrganization } from '../helpers/checksums.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { ledgerText } from '../helpers/ledger-files.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { watchCommandLines } from '../helpers/processes.js';
import { createTenantBed, type TenantBed } from '../helpers/tenant.js';
import { tenantFingerprint } from '../helpers/tenant-fingerprint.js';
import { removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: unknown) => error as Error,
  );

describe('encrypted organization backups on PostgreSQL', () => {
  let bed: OrgBed;
  let key: { identityFile: string; recipient: string };
  let other: { identityFile: string; recipient: string };
  let original: Awaited<ReturnType<typeof checksumOrganization>>;
  let others: Awaited<ReturnType<typeof checksumOrganization>>;
  const depsWith = (encryption: Record<string, unknown> | undefined) =>
    createDeps({
      config: resolveConfig(
        { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: bed.db.client, connection: bed.db.connection }, ...(encryption ? { encryption } : {}) },
        bed.configFile,
        {},
      ),
      clock: bed.clock,
    });
  const organization = () => checksumOrganization(bed.db.knex(), 'postgres', '1');
  const store = (name: string) => path.join(bed.dir, 'backups/organizations', name);

  beforeAll(async () => {
    bed = await createOrgBed('postgres');
    key = await ageKeygen(bed.dir);
    other = await ageKeygen(bed.dir, 'other-key.txt');
    original = await organization();
    others = await checksumOrganization(bed.db.knex(), 'postgres', '2');
  });
  afterAll(async () => {
    await bed?.db.drop();
  });

  it("writes org_<code>_<weekday>_backup.zip.age with recipients alone, replacing the slot's plain .zip, and the age command reads it", async () => {
    const plain = await backupOrganization(bed.deps, { organizationId: '1' });
    expect(plain.record.backup_filename).toBe('org_acme_monday_backup.zip');
    const backupOnly = await depsWith({ recipients: [key.recipient] });
    const result = await backupOrganization(backupOnly, { organizationId: '1' });
    expect(result.record.backup_filename).toBe('org_acme_monday_backup.zip.age');
    expect(result.replaced?.backup_filename).toBe('org_acme_monday_backup.zip');
    const file = result.record.backup_path;
    expect((await readFile(file)).subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // The ledger's sha256 and size are the stored (encrypted) file's.
    expect(result.record.sha256).toBe(await sha(file));
    expect(result.record.backup_size).toBe((await stat(file)).size);
    // One archive and one record per weekday: the plain .zip went with its record.
    await expect(stat(store('org_acme_monday_backup.zip'))).rejects.toThrow(/ENOENT/);
    const monday = (await backupOnly.ledger.find({ kind: 'organization', organization_id: '1' })).filter((r) => r.day_of_week === 'monday');
    expect(monday.map((r) => r.backup_filename)).toEqual(['org_acme_monday_backup.zip.age']);

    const zip = path.join(bed.dir, 'by-hand.zip');
    await writeFile(zip, await ageDecrypt(file, key.identityFile));
    const tested = await execa('unzip', ['-t', zip], { reject: false });
    expect(tested.exitCode, tested.stdout).toBe(0);
  });

  it('refuses to restore without a key (configuration error), with a wrong key, truncated or with a flipped byte — and changes nothing', async () => {
    const name = 'org_acme_monday_backup.zip.age';
    const attempt = async (deps: Deps, backup: string) => rejection(restoreOrganization(deps, { organizationId: '1', backup }));

    const missing = await attempt(await depsWith({ recipients: [key.recipient] }), name);
    expect(missing).toBeInstanceOf(ConfigError);
    expect(missing!.message).toMatch(/is encrypted \(age\)\. Reading it needs the private key: set encryption\.identityFile/);

    const wrong = await attempt(await depsWith({ identityFile: other.identityFile }), name);
    expect(wrong).toBeInstanceOf(ArchiveError);
    expect(wrong!.message).toMatch(/^Cannot decrypt .*org_acme_monday_backup\.zip\.age with the identity file .*other-key\.txt: no configured key matches/);

    const reader = await depsWith({ recipients: [key.recipient], identityFile: key.identityFile });
    await copyFile(store(name), store('org_acme_tuesday_backup.zip.age'));
    await truncate(store('org_acme_tuesday_backup.zip.age'), (await stat(store(name))).size - 70_000);
    expect(await attempt(reader, 'org_acme_tuesday_backup.zip.age')).toBeInstanceOf(ArchiveError);
    const bytes = await readFile(store(name));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(store('org_acme_wednesday_backup.zip.age'), bytes, { mode: 0o600 });
    const flipped = await attempt(reader, 'org_acme_wednesday_backup.zip.age');
    expect(flipped).toBeInstanceOf(ArchiveError);
    expect(flipped!.message).toMatch(/^Cannot decrypt .*(damaged|altered)/);

    expect(await organization()).toEqual(original);
  });

  it('restores every row with the identity, other organizations untouched', async () => {
    await bed.db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed' });
    await bed.db.knex()('item_prices').where({ organization_id: 1 }).delete();
    expect(await organization()).not.toEqual(original);
    const deps = await depsWith({ recipients: [key.recipient], identityFile: key.identityFile });
    const result = await restoreOrganization(deps, { organizationId: '1', backup: 'org_acme_monday_backup.zip.age' });
    expect(result.action).toBe('restored');
    expect(await organization()).toEqual(original);
    expect(await checksumOrganization(bed.db.knex(), 'postgres', '2')).toEqual(others);
  });

  it('restores a zip that the age command encrypted', async () => {
    const zip = path.join(bed.dir, 'by-hand.zip');
    await ageEncrypt(zip, key.recipient, store('org_acme_thursday_backup.zip.age'));
    await bed.db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed again' });
    const deps = await depsWith({ identityFile: key.identityFile });
    await restoreOrganization(deps, { organizationId: '1', backup: 'org_acme_thursday_backup.zip.age' });
    expect(await organization()).toEqual(original);
  });

  it('keeps the identity out of the ledger and the store', async () => {
    const identity = (await readFile(key.identityFile, 'utf8')).match(/AGE-SECRET-KEY-1\S+/)![0];
    // Every ledger file (head, owner files, names index): the records are there, the key is not.
    const ledger = await ledgerText(path.join(bed.dir, 'backups'));
    expect(ledger).toContain('org_acme_monday_backup.zip.age');
    expect(ledger).not.toContain(identity);
    expect(ledger).not.toContain('AGE-SECRET-KEY');
  });
});

describe('encrypted tenant backups on PostgreSQL (pg_dump / psql)', () => {
  let bed: TenantBed;
  let db: TestDatabase;
  let key: { identityFile: string; recipient: string };
  const fingerprint = () => tenantFingerprint(db.knex(), 'postgres');

  beforeAll(async () => {
    bed = await createTenantBed('tb-crypt-tenant-');
    db = await createTestDatabase('postgres', 'acme');
    key = await ageKeygen(bed.dir);
    await db.knex().raw(`
      CREATE TABLE invoices (id bigserial PRIMARY KEY, amount numeric(30, 10), note text, data bytea);
      INSERT INTO invoices (amount, note, data) SELECT g * 1.5, 'row ' || g || ' ünïcödé', decode(md5(g::text), 'hex') FROM generate_series(1, 20000) g;
    `);
  });
  afterAll(async () => {
    await db?.drop();
    await bed?.cleanup();
  });

  it('round trips with every row equal, the key in no command line and no record', async () => {
    const tenants = { acme: { client: 'pg', connection: db.connection } };
    const deps = await bed.deps(tenants, { extra: { encryption: { recipients: [key.recipient], identityFile: key.identityFile } } });
    const before = await fingerprint();
    const identity = (await readFile(key.identityFile, 'utf8')).match(/AGE-SECRET-KEY-1\S+/)![0];
    const seen: string[] = [];
    const inspect = (cmdline: string) => {
      if (cmdline.includes(identity) || cmdline.includes('AGE-SECRET-KEY')) seen.push(cmdline);
    };
    const { result: backup } = await watchCommandLines(() => backupTenant(deps, { tenant: 'acme' }), inspect);
    expect(backup.record.backup_filename).toBe('acme_2026-11-21_19-04-00.zip.age');
    expect(backup.record.sha256).toBe(await sha(backup.record.backup_path));
    await db.knex().raw(`UPDATE invoices SET note = 'changed' WHERE id % 3 = 0; DELETE FROM invoices WHERE id > 15000; INSERT INTO invoices (note) VALUES ('new')`);
    expect(await fingerprint()).not.toEqual(before);
    bed.clock.set('2026-11-21T19:05:00Z');
    const { result: restored } = await watchCommandLines(() => restoreTenant(deps, { tenant: 'acme', backup: backup.record.backup_filename }), inspect);
    expect(restored).toMatchObject({ action: 'restored' });
    // The safety backup is encrypted too.
    expect((restored as { safety_backup: { backup_filename: string } }).safety_backup.backup_filename).toBe('acme_2026-11-21_19-05-00.zip.age');
    expect(await fingerprint()).toEqual(before);
    expect(seen).toEqual([]);
    const ledger = await ledgerText(bed.storage);
    expect(ledger).toContain('acme_2026-11-21_19-05-00.zip.age');
    expect(ledger).not.toContain('AGE-SECRET-KEY');
  });

  it('refuses a restore without the key before touching the database', async () => {
    const deps = await bed.deps({ acme: { client: 'pg', connection: db.connection } }, { extra: { encryption: { recipients: [key.recipient] } } });
    const before = await fingerprint();
    const error = await rejection(restoreTenant(deps, { tenant: 'acme', backup: 'acme_2026-11-21_19-04-00.zip.age' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(await fingerprint()).toEqual(before);
    expect((await bed.files()).filter((f) => f.endsWith('.age'))).toHaveLength(2); // no safety backup was taken
  });
});

describe('a MariaDB tenant restore whose safety backup could not be read back', () => {
  let bed: TenantBed;
  let db: TestDatabase;

  beforeAll(async () => {
    bed = await createTenantBed('tb-crypt-mysql-');
    db = await createTestDatabase('mysql', 'acme');
    await db.knex().raw('CREATE TABLE t (id int PRIMARY KEY, v varchar(20))');
    await db.knex().raw("INSERT INTO t VALUES (1, 'one'), (2, 'two')");
  });
  afterAll(async () => {
    await db?.drop();
    await bed?.cleanup();
  });

  it('is refused before anything changes: loading it back is how a failed MariaDB load is undone', async () => {
    const tenants = { acme: { client: 'mysql2', connection: db.connection } };
    const plain = await backupTenant(await bed.deps(tenants), { tenant: 'acme' });
    const { recipient } = await ageKeygen(bed.dir);
    const deps = await bed.deps(tenants, { extra: { encryption: { recipients: [recipient] } } });
    await db.knex().raw("UPDATE t SET v = 'changed'");
    const error = await rejection(restoreTenant(deps, { tenant: 'acme', backup: plain.record.backup_filename }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toMatch(/safety backup back, which will be encrypted to keys whose identity is not configured/);
    expect((await db.knex().raw('SELECT v FROM t ORDER BY id'))[0].map((r: { v: string }) => r.v)).toEqual(['changed', 'changed']);
    // Without a safety backup there is nothing to read back: allowed.
    const result = await restoreTenant(deps, { tenant: 'acme', backup: plain.record.backup_filename, safetyBackup: false });
    expect(result.action).toBe('restored');
    expect((await db.knex().raw('SELECT v FROM t ORDER BY id'))[0].map((r: { v: string }) => r.v)).toEqual(['one', 'two']);
  });
});
