/**
 * Encrypted archives (`.zip.age`) on an S3 store, through the real CLI, against the s3rver
 * EMULATOR on loopback (test/helpers/s3.ts; not AWS): an organization (PostgreSQL) backed up
 * encrypted into the bucket and restored from it with every row equal; the object is the file as
 * stored (age, decrypted by the `age` command), and the ledger's sha256 is its own; `verify` and
 * `get` check those stored bytes (a flipped byte: exit 5; no key: exit 2); `list --check-storage`
 * sees `.zip.age` objects; the weekday slot moves from `.zip` to `.zip.age` inside the bucket;
 * `delete` and retention (`prune`) remove encrypted objects; a tenant restored from the bucket.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGE_MAGIC } from '../../src/cipher/age/header.js';
import { ageDecrypt, ageKeygen } from '../helpers/age.js';
import { checksumOrganization } from '../helpers/checksums.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { loadBillingFixture } from '../helpers/fixtures.js';
import { ledgerText } from '../helpers/ledger-files.js';
import { startEmulator, type Emulator } from '../helpers/s3.js';
import { sqliteExec, sqliteRows } from '../helpers/sqlite-file.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const BUCKET = 'tb-crypt-bucket';
const PREFIX = 'enc/';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface StoredRecord {
  backup_filename: string;
  backup_path: string;
  backup_size: number;
  sha256: string;
  status: string;
}

describe('encrypted archives on an S3 store (s3rver, an emulator)', () => {
  let emulator: Emulator;
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let key: { identityFile: string; recipient: string };
  const objectBytes = async (objectKey: string) =>
    Buffer.from(await (await emulator.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: objectKey }))).Body!.transformToByteArray());
  const keys = async () => ((await emulator.client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((object) => object.Key!).sort();
  const outputs: string[] = [];
  const cli = async (args: string[], config = '.backuprc') => {
    const result = await runCli(['--config', config, ...args], { cwd: dir, env });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const lastError = (stderr: string) => JSON.parse(stderr.trim().split('\n').pop()!).error as { code: string; exit_code: number; message: string };

  beforeAll(async () => {
    emulator = await startEmulator('s3rver');
    await emulator.createBucket(BUCKET);
    db = await createTestDatabase('postgres', 'tb_crypt_s3');
    await loadBillingFixture(db.knex(), 'postgres');
    dir = await makeTempDir('tb-crypt-s3-');
    key = await ageKeygen(dir);
    sqliteExec(
      path.join(dir, 'acme.sqlite'),
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB); INSERT INTO notes (body, data) VALUES ('one', X'00FF'), ('two', NULL);",
    );
    const base = {
      storage: { type: 's3', dir: './staging', bucket: BUCKET, prefix: PREFIX, endpoint: emulator.endpoint, forcePathStyle: true, partSizeMiB: 5 },
      timezone: 'UTC',
      organizations: { client: 'pg', connection: { ...(db.connection as ServerConnection), password: '${APP_DB_PASSWORD}' } },
      tenants: { acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } } },
    };
    await writeConfig(path.join(dir, '.backuprc'), { ...base, encryption: { recipients: [key.recipient], identityFile: path.basename(key.identityFile) } });
    // The backup server's view: public keys only (backs up; cannot read).
    await writeConfig(path.join(dir, 'public.backuprc'), { ...base, encryption: { recipients: [key.recipient] } });
    await writeConfig(path.join(dir, 'plain.backuprc'), base);
    env = { APP_DB_PASSWORD: (db.connection as ServerConnection).password };
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
    await emulator?.stop();
  });

  it('backs an organization up encrypted into the bucket and restores it from there with every row equal', async () => {
    const original = await checksumOrganization(db.knex(), 'postgres', '1');
    const others = await checksumOrganization(db.knex(), 'postgres', '2');
    // Recipients alone suffice to back up.
    const backup = await cli(['backup', '--org', '1', '--json'], 'public.backuprc');
    expect(backup.code, backup.stderr).toBe(0);
    const record = JSON.parse(backup.stdout).record as StoredRecord;
    expect(record.backup_filename).toMatch(/^org_[A-Za-z0-9%-]+_[a-z]+_backup\.zip\.age$/);
    const objectKey = `${PREFIX}organizations/${record.backup_filename}`;
    expect(record.backup_path).toBe(`s3://${BUCKET}/${objectKey}`);
    // The object is the encrypted file; the ledger's size and sha256 are those of the object.
    const stored = await objectBytes(objectKey);
    expect(stored.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)).toBe(true);
    expect(stored.length).toBe(record.backup_size);
    expect(sha(stored)).toBe(record.sha256);
    expect(stored.includes(Buffer.from('manifest.json'))).toBe(false);
    // The age command reads it into a zip.
    const copy = path.join(dir, 'object.zip.age');
    await writeFile(copy, stored);
    const zip = await ageDecrypt(copy, key.identityFile);
    expect(zip.subarray(0, 4).toString('latin1')).toBe('PK\x03\x04');
    // Nothing is left in staging after the confirmed upload.
    expect((await readdir(path.join(dir, 'staging/organizations'))).filter((name) => !name.startsWith('.'))).toEqual([]);

    await db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed after the backup' });
    await db.knex()('audit-log').where({ organization_id: 1 }).del();
    // Without the identity the restore stops before touching anything (exit 2).
    const noKey = await cli(['restore', '--org', '1', 'latest', '--yes', '--json'], 'public.backuprc');
    expect(noKey.code).toBe(2);
    expect(lastError(noKey.stderr)).toMatchObject({ code: 'CONFIG', exit_code: 2 });
    expect(await checksumOrganization(db.knex(), 'postgres', '1')).not.toEqual(original);

    const restore = await cli(['restore', '--org', '1', 'latest', '--yes']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/\.zip\.age/);
    expect(await checksumOrganization(db.knex(), 'postgres', '1')).toEqual(original);
    expect(await checksumOrganization(db.knex(), 'postgres', '2')).toEqual(others);
    expect((await readdir(path.join(dir, 'staging/organizations'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 180_000);

  it('verify and get check the bytes as stored (encrypted) against the ledger; get hands out the encrypted file', async () => {
    const [record] = JSON.parse((await cli(['list', '--org', '1', '--status', 'success', '--json'])).stdout) as StoredRecord[];
    const ok = await cli(['verify', '--org', '1', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({
      ok: true,
      checked: 1,
      results: [{ status: 'ok', backup_filename: record!.backup_filename, bytes: record!.backup_size, sha256: record!.sha256 }],
    });
    expect(report.results[0].entries).toBeGreaterThan(0);

    const out = path.join(dir, 'got-org1.zip.age');
    const got = await cli(['get', '--org', '1', 'latest', '-o', out, '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ action: 'written', path: out, sha256: record!.sha256, bytes: record!.backup_size });
    const written = await readFile(out);
    expect(sha(written)).toBe(record!.sha256);
    expect(written.equals(await objectBytes(`${PREFIX}organizations/${record!.backup_filename}`))).toBe(true);
    expect((await ageDecrypt(out, key.identityFile)).subarray(0, 2).toString('latin1')).toBe('PK');
    const piped = await runCli(['get', '--org', '1', record!.backup_filename, '-o', '-'], { cwd: dir, env, binary: true });
    expect(piped.code, piped.stderr).toBe(0);
    expect(sha(piped.stdoutBytes!)).toBe(record!.sha256);

    // Reading needs the key: verify and get without it are exit 2, nothing written.
    const verifyNoKey = await cli(['verify', '--org', '1', '--json'], 'public.backuprc');
    expect(verifyNoKey.code).toBe(2);
    expect(lastError(verifyNoKey.stderr)).toMatchObject({ code: 'CONFIG' });
    const getNoKey = await cli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'nokey.zip.age')], 'public.backuprc');
    expect(getNoKey.code).toBe(2);
    await expect(readFile(path.join(dir, 'nokey.zip.age'))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 120_000);

  it('list --check-storage sees .zip.age objects; the weekday slot moves from .zip to .zip.age in the bucket; delete removes the object', async () => {
    // Organization 2: a plain weekday archive first, then an encrypted one of the same day.
    const plain = await cli(['backup', '--org', '2', '--json'], 'plain.backuprc');
    expect(plain.code, plain.stderr).toBe(0);
    const plainName = (JSON.parse(plain.stdout).record as StoredRecord).backup_filename;
    expect(plainName).toMatch(/_backup\.zip$/);
    expect(await keys()).toContain(`${PREFIX}organizations/${plainName}`);
    const encrypted = await cli(['backup', '--org', '2', '--json']);
    expect(encrypted.code, encrypted.stderr).toBe(0);
    const record = JSON.parse(encrypted.stdout).record as StoredRecord;
    expect(record.backup_filename).toBe(`${plainName}.age`);
    // The slot's plain object and its record are gone: one archive per weekday.
    const objects = await keys();
    expect(objects).toContain(`${PREFIX}organizations/${record.backup_filename}`);
    expect(objects).not.toContain(`${PREFIX}organizations/${plainName}`);
    const org2 = JSON.parse((await cli(['list', '--org', '2', '--json'])).stdout) as StoredRecord[];
    expect(org2.map((r) => r.backup_filename)).toEqual([record.backup_filename]);

    // An encrypted object no record names is listed as such; recorded ones are ok.
    await emulator.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}organizations/org_stray_friday_backup.zip.age`, Body: 'x' }));
    const listed = await cli(['list', '--check-storage', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const states = Object.fromEntries(
      (JSON.parse(listed.stdout) as (StoredRecord & { storage_check: { state: string; stored_bytes: number } })[])
        .filter((r) => r.status === 'success')
        .map((r) => [r.backup_filename, [r.storage_check.state, r.storage_check.stored_bytes === r.backup_size]]),
    );
    expect(Object.keys(states)).toHaveLength(2);
    for (const state of Object.values(states)) expect(state).toEqual(['ok', true]);
    const human = await cli(['list', '--check-storage']);
    expect(human.stdout).toMatch(/NO RECORD\s+org_stray_friday_backup\.zip\.age/);

    const deleted = await cli(['delete', '--org', '2', record.backup_filename, '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await keys()).not.toContain(`${PREFIX}organizations/${record.backup_filename}`);
    expect(JSON.parse((await cli(['list', '--org', '2', '--json'])).stdout)).toEqual([]);
  }, 180_000);

  it('a flipped byte in an encrypted object: verify exit 5 (cannot decrypt), get writes nothing, restore refuses', async () => {
    const [record] = JSON.parse((await cli(['list', '--org', '1', '--status', 'success', '--json'])).stdout) as StoredRecord[];
    const objectKey = `${PREFIX}organizations/${record!.backup_filename}`;
    const bytes = await objectBytes(objectKey);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    await emulator.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: objectKey, Body: bytes }));
    const before = await checksumOrganization(db.knex(), 'postgres', '1');

    const damaged = await cli(['verify', '--org', '1', '--json']);
    expect(damaged.code).toBe(5);
    const result = JSON.parse(damaged.stdout);
    expect(result).toMatchObject({ ok: false, damaged: 1, results: [{ status: 'damaged' }] });
    expect(result.results[0].error).toMatch(/Cannot decrypt/);
    const refused = await cli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'bad.zip.age')]);
    expect(refused.code).toBe(5);
    await expect(readFile(path.join(dir, 'bad.zip.age'))).rejects.toMatchObject({ code: 'ENOENT' });
    const restore = await cli(['restore', '--org', '1', 'latest', '--yes']);
    expect(restore.code).toBe(5);
    expect(await checksumOrganization(db.knex(), 'postgres', '1')).toEqual(before);
  }, 120_000);

  it('tenant backups are encrypted objects; retention prunes them; a restore from the bucket loads every row back', async () => {
    for (let i = 0; i < 2; i++) {
      const made = await cli(['backup', 'acme', '--keep-last', '1', '--json']);
      expect(made.code, made.stderr).toBe(0);
      expect((JSON.parse(made.stdout).record as StoredRecord).backup_filename).toMatch(/^acme_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.zip\.age$/);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // distinct timestamped names
    }
    const tenantObjects = (await keys()).filter((objectKey) => objectKey.includes('/tenant-databases/'));
    expect(tenantObjects).toHaveLength(1);
    expect(tenantObjects[0]).toMatch(/\.zip\.age$/);
    const tenantFile = path.join(dir, 'acme.sqlite');
    const rows = () => sqliteRows(tenantFile, 'SELECT id, body, hex(data) AS data FROM notes ORDER BY id');
    const before = rows();
    expect(before).toHaveLength(2);
    sqliteExec(tenantFile, "DELETE FROM notes WHERE id = 1; INSERT INTO notes (body) VALUES ('three')");
    expect(rows()).not.toEqual(before);
    const restored = await cli(['restore', 'acme', 'latest', '--yes', '--no-safety-backup', '--json']);
    expect(restored.code, restored.stderr).toBe(0);
    expect(rows()).toEqual(before);
    const verified = await cli(['verify', 'acme', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, checked: 1 });
  }, 120_000);

  it('never printed or recorded the identity', async () => {
    const identity = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(await readFile(key.identityFile, 'utf8'))![0];
    expect(outputs.length).toBeGreaterThan(20);
    for (const output of outputs) expect(output).not.toContain(identity);
    const ledger = await ledgerText(path.join(dir, 'staging'));
    expect(ledger).toContain('.zip.age');
    expect(ledger).not.toContain(identity);
  });
});

async function writeConfig(file: string, config: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
}
