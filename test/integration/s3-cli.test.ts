/**
 * The whole tool on an S3 store, through the real CLI, against each S3 EMULATOR on loopback
 * (test/helpers/s3.ts: s3rver and fauxqs; not AWS): an organization backed up to the bucket and restored from it with
 * every row equal; `verify` finding a flipped byte in an object (exit 5); `get`; `list
 * --check-storage`; `delete`; tenant backups with retention (`prune`); no credentials (exit 8);
 * a bucket that does not exist (exit 2).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOrganization } from '../helpers/checksums.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { loadBillingFixture } from '../helpers/fixtures.js';
import { EMULATORS, startEmulator, type Emulator } from '../helpers/s3.js';
import { sqliteExec, sqliteRows } from '../helpers/sqlite-file.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const BUCKET = 'tb-cli-bucket';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const kind of EMULATORS)
  describe(`an S3 store through the CLI (${kind}, an emulator)`, () => {
    let emulator: Emulator;
    let db: TestDatabase;
    let dir: string;
    let env: NodeJS.ProcessEnv;
    const objectBytes = async (key: string) => Buffer.from(await (await emulator.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
    const keys = async () => ((await emulator.client.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((object) => object.Key!).sort();

    beforeAll(async () => {
      emulator = await startEmulator(kind);
      await emulator.createBucket(BUCKET);
      db = await createTestDatabase('postgres', 'tb_s3cli');
      await loadBillingFixture(db.knex(), 'postgres');
      dir = await makeTempDir('tb-s3cli-');
      await copyDemoTenant(dir);
      const storage = { type: 's3', dir: './staging', bucket: BUCKET, prefix: 'prod/backups', endpoint: emulator.endpoint, forcePathStyle: true, partSizeMiB: 5 };
      await writeConfig(path.join(dir, '.backuprc'), {
        storage,
        timezone: 'UTC',
        organizations: { client: 'pg', connection: { ...(db.connection as ServerConnection), password: '${APP_DB_PASSWORD}' } },
        tenants: { acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } } },
      });
      await writeConfig(path.join(dir, 'wrong-bucket.backuprc'), {
        storage: { ...storage, bucket: 'tb-no-such-bucket' },
        timezone: 'UTC',
        tenants: { acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } } },
      });
      env = { APP_DB_PASSWORD: (db.connection as ServerConnection).password };
    }, 120_000);
    afterAll(async () => {
      await db?.drop();
      await emulator?.stop();
    });

    it('backs an organization up into the bucket and restores it from there with every row equal', async () => {
      const original = await checksumOrganization(db.knex(), 'postgres', '1');
      const others = await checksumOrganization(db.knex(), 'postgres', '2');
      const backup = await runCli(['backup', '--org', '1', '--json'], { cwd: dir, env });
      expect(backup.code, backup.stderr).toBe(0);
      const record = JSON.parse(backup.stdout).record as { backup_filename: string; backup_path: string; backup_size: number; sha256: string };
      const key = `prod/backups/organizations/${record.backup_filename}`;
      expect(record.backup_path).toBe(`s3://${BUCKET}/${key}`);
      const stored = await objectBytes(key);
      expect(stored.length).toBe(record.backup_size);
      expect(sha(stored)).toBe(record.sha256);
      // The staged archive is gone after the confirmed upload: staging keeps only the ledger.
      expect((await readdir(path.join(dir, 'staging/organizations'))).filter((name) => !name.startsWith('.'))).toEqual([]);

      await db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed after the backup' });
      await db.knex()('audit-log').where({ organization_id: 1 }).del();
      const restore = await runCli(['restore', '--org', '1', 'latest', '--yes'], { cwd: dir, env });
      expect(restore.code, restore.stderr).toBe(0);
      expect(await checksumOrganization(db.knex(), 'postgres', '1')).toEqual(original);
      expect(await checksumOrganization(db.knex(), 'postgres', '2')).toEqual(others);
      // The download was removed from staging once read.
      expect((await readdir(path.join(dir, 'staging/organizations'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    }, 120_000);

    it('verify reads objects back; a flipped byte is found (exit 5) and the archive is then refused by restore', async () => {
      const ok = await runCli(['verify', '--org', '1', '--json'], { cwd: dir, env });
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, checked: 1, results: [{ status: 'ok', organization_id: '1' }] });

      const [name] = (await keys()).filter((key) => key.includes('/organizations/'));
      const bytes = await objectBytes(name!);
      bytes[Math.floor(bytes.length / 3)]! ^= 0x01;
      await emulator.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: name!, Body: bytes }));

      const damaged = await runCli(['verify', '--org', '1', '--json'], { cwd: dir, env });
      expect(damaged.code).toBe(5);
      const result = JSON.parse(damaged.stdout);
      expect(result).toMatchObject({ ok: false, damaged: 1, results: [{ status: 'damaged' }] });
      expect(result.results[0].error).toMatch(/corrupt|sha256|not a tenant-backup archive/);
      const text = await runCli(['verify', '--all'], { cwd: dir, env });
      expect(text.code).toBe(5);
      expect(text.stdout).toMatch(/DAMAGED \[1\]/);
      expect(text.stdout).toMatch(/1 damaged/);
      const refused = await runCli(['restore', '--org', '1', 'latest', '--yes'], { cwd: dir, env });
      expect(refused.code).toBe(5);
    }, 120_000);

    it('get writes a verified archive to a file or stdout; list --check-storage marks what the bucket lacks; delete removes the object', async () => {
      const backup = await runCli(['backup', '--org', '2', '--json'], { cwd: dir, env });
      expect(backup.code, backup.stderr).toBe(0);
      const record = JSON.parse(backup.stdout).record as { backup_filename: string; sha256: string };

      const out = path.join(dir, 'copy.zip');
      const got = await runCli(['get', '--org', '2', 'latest', '-o', out, '--json'], { cwd: dir, env });
      expect(got.code, got.stderr).toBe(0);
      expect(JSON.parse(got.stdout)).toMatchObject({ action: 'written', path: out, sha256: record.sha256 });
      expect(sha(await readFile(out))).toBe(record.sha256);
      const again = await runCli(['get', '--org', '2', 'latest', '-o', out], { cwd: dir, env });
      expect(again.code).toBe(2); // never over an existing file
      const piped = await runCli(['get', '--org', '2', record.backup_filename, '-o', '-'], { cwd: dir, env, binary: true });
      expect(piped.code).toBe(0);
      expect(sha(piped.stdoutBytes!)).toBe(record.sha256);
      const damagedGet = await runCli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'bad.zip')], { cwd: dir, env });
      expect(damagedGet.code).toBe(5);
      await expect(readFile(path.join(dir, 'bad.zip'))).rejects.toMatchObject({ code: 'ENOENT' });

      // The bucket loses org 1's object and gains one no record names.
      const org1 = (await keys()).find((key) => key.includes('/organizations/') && !key.includes(record.backup_filename))!;
      await emulator.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: org1 }));
      await emulator.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'prod/backups/organizations/org_stray_friday_backup.zip', Body: 'x' }));
      const listed = await runCli(['list', '--check-storage', '--json'], { cwd: dir, env });
      expect(listed.code, listed.stderr).toBe(0);
      const states = Object.fromEntries(
        (JSON.parse(listed.stdout) as { backup_filename: string; status: string; storage_check: { state: string } }[])
          .filter((r) => r.status === 'success')
          .map((r) => [r.backup_filename, r.storage_check.state]),
      );
      expect(states).toEqual({ [record.backup_filename]: 'ok', [path.posix.basename(org1)]: 'missing' });
      const human = await runCli(['list', '--check-storage'], { cwd: dir, env });
      expect(human.stdout).toMatch(/MISSING\s+org_/);
      expect(human.stdout).toMatch(/NO RECORD\s+org_stray_friday_backup\.zip/);

      const deleted = await runCli(['delete', '--org', '2', record.backup_filename, '--yes'], { cwd: dir, env });
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(await keys()).not.toContain(`prod/backups/organizations/${record.backup_filename}`);
    }, 120_000);

    it("prune's history policy forgets the record of an object the bucket lost (the bucket listed once), and nothing else", async () => {
      const successes = async () =>
        (JSON.parse((await runCli(['list', '--status', 'success', '--json'], { cwd: dir, env })).stdout) as { backup_filename: string }[]).map((r) => r.backup_filename);
      const before = await successes();
      const inBucket = new Set((await keys()).map((key) => path.posix.basename(key)));
      const lost = before.filter((name) => !inBucket.has(name));
      expect(lost).toHaveLength(1); // organization 1's object, removed from the bucket above
      const dry = await runCli(['prune', '--dry-run', '--json'], { cwd: dir, env });
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout).history).toEqual({ failures: 0, missing_archives: 1 });
      expect(await successes()).toEqual(before);
      const real = await runCli(['prune', '--json'], { cwd: dir, env });
      expect(real.code, real.stderr).toBe(0);
      expect(JSON.parse(real.stdout).history).toEqual({ failures: 0, missing_archives: 1 });
      expect(await successes()).toEqual(before.filter((name) => !lost.includes(name)));
    }, 60_000);

    it('tenant backups go to the bucket; retention prunes objects; a restore from the bucket loads the data back', async () => {
      for (let i = 0; i < 2; i++) {
        const made = await runCli(['backup', 'acme', '--keep-last', '1', '--json'], { cwd: dir, env });
        expect(made.code, made.stderr).toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 1100)); // distinct timestamped names
      }
      expect((await keys()).filter((key) => key.includes('/tenant-databases/'))).toHaveLength(1);
      const tenantFile = path.join(dir, 'acme.sqlite');
      const rows = () => sqliteRows(tenantFile, 'SELECT id, body FROM notes ORDER BY id');
      const before = rows();
      sqliteExec(tenantFile, "DELETE FROM notes WHERE id = 1; INSERT INTO notes (body) VALUES ('three')");
      const restored = await runCli(['restore', 'acme', 'latest', '--yes', '--no-safety-backup', '--json'], { cwd: dir, env });
      expect(restored.code, restored.stderr).toBe(0);
      expect(rows()).toEqual(before);
    }, 120_000);

    it("auto makes today's backup into the bucket once; the next call is answered by the launcher's shortcut, which loads the S3 store from dist/ (outside its bundle)", async () => {
      const first = await runCli(['auto', '--org', '2', '--json'], { cwd: dir, env });
      expect(first.code, first.stderr).toBe(0);
      const created = JSON.parse(first.stdout) as { action: string; record: { backup_filename: string } };
      expect(created.action).toBe('created');
      expect(await keys()).toContain(`prod/backups/organizations/${created.record.backup_filename}`);
      const trace = path.join(dir, 'trace-auto.txt');
      const second = await runCli(['auto', '--org', '2', '--role', 'admin', '--json'], {
        cwd: dir,
        env: { ...env, TB_TRACE_FILE: trace },
        nodeArgs: ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs')],
      });
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ action: 'skipped', reason: 'already_done', record: { backup_filename: created.record.backup_filename } });
      const loaded = await readFile(trace, 'utf8');
      expect(loaded).toContain('dist/cli/fast-auto.bundle.js');
      expect(loaded).toContain('dist/store/s3.js');
      expect(loaded).not.toContain('dist/cli/main.js');
    }, 120_000);

    it('without credentials: exit 8 with where they are looked for, nothing in the bucket, the attempt recorded failed', async () => {
      const before = await keys();
      const home = await makeTempDir('tb-s3-home-');
      const noCredentials = {
        ...env,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: '',
        HOME: home,
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none'),
        AWS_CONFIG_FILE: path.join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      const result = await runCli(['backup', '--org', '1', '--json'], { cwd: dir, env: noCredentials });
      expect(result.code).toBe(8);
      const error = JSON.parse(result.stderr.trim().split('\n').pop()!).error;
      expect(error.code).toBe('CONNECTION');
      expect(error.message).toMatch(/No S3 credentials found/);
      expect(error.message).toMatch(/AWS_ACCESS_KEY_ID/);
      expect(await keys()).toEqual(before);
      // Organization 1 has no successful record left (the prune above forgot it): the attempt fails
      // before its record is begun (asking the bucket whether the archive's name is ours), and is recorded all the same.
      const [newest] = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir, env })).stdout) as { status: string; error_message: string }[];
      expect(newest).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/No S3 credentials found/) });
    }, 60_000);

    it('a bucket that does not exist: exit 2 naming it, before anything is dumped', async () => {
      const result = await runCli(['--config', 'wrong-bucket.backuprc', 'backup', 'acme'], { cwd: dir, env });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/bucket "tb-no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+ \(storage\.bucket\)/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      const verify = await runCli(['--config', 'wrong-bucket.backuprc', 'get', 'acme', 'acme_2026-11-23_08-00-00.zip'], { cwd: dir, env });
      expect(verify.code).toBe(2);
    }, 60_000);
  });

async function writeConfig(file: string, config: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
}

/** A small SQLite tenant database. */
async function copyDemoTenant(dir: string): Promise<void> {
  sqliteExec(path.join(dir, 'acme.sqlite'), "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('one'), ('two');");
}
