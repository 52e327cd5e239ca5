/**
 * `verify` and `get` on the local store (the S3 store's cases are in s3-cli.test.ts and, encrypted,
 * encryption-s3.test.ts): archives read back and checked entry by entry and against the ledger's
 * sha256; one flipped byte anywhere in the file is found (exit 5), and `get` refuses to hand it
 * out. Encrypted archives (`.zip.age`) alike: decrypted to be checked, the ledger's sha256 compared
 * with the file as stored, `get` handing out the encrypted file; no key → exit 2.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { AGE_MAGIC } from '../../src/cipher/age/header.js';
import { ageDecrypt, ageKeygen } from '../helpers/age.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('verify and get on a local store', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('tb-verify-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
    );
  });

  it('says so when there is nothing to verify', async () => {
    const result = await runCli(['verify'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/nothing to verify/);
  });

  it('verifies every newest backup, finds a flipped byte in the file (also outside any entry), and get refuses it', async () => {
    for (const org of ['1', '2']) expect((await runCli(['backup', '--org', org], { cwd: dir })).code).toBe(0);
    const ok = await runCli(['verify', '--json'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({ ok: true, checked: 2, damaged: 0, missing: 0 });
    expect(report.results.every((item: { status: string; entries: number }) => item.status === 'ok' && item.entries > 0)).toBe(true);

    const org1 = report.results.find((item: { organization_id: string }) => item.organization_id === '1');
    const out = path.join(dir, 'copy.zip');
    const got = await runCli(['get', '--org', '1', 'latest', '-o', out], { cwd: dir });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/^Wrote .*copy\.zip .*verified/);
    expect(await sha(out)).toBe(org1.sha256);

    // A byte of a zip header's modification time: no entry's data changes, only the file's sha256.
    const file = org1.location as string;
    const bytes = await readFile(file);
    bytes[10]! ^= 0x01;
    await writeFile(file, bytes);
    const damaged = await runCli(['verify', '--org', '1', '--json'], { cwd: dir });
    expect(damaged.code).toBe(5);
    expect(JSON.parse(damaged.stdout).results[0]).toMatchObject({ status: 'damaged' });
    expect(JSON.parse(damaged.stdout).results[0].error).toMatch(/ledger recorded sha256/);
    const named = await runCli(['verify', '--org', '1', 'latest'], { cwd: dir });
    expect(named.code).toBe(5);
    expect(named.stderr).toMatch(/the file changed since/);
    const refused = await runCli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'bad.zip')], { cwd: dir });
    expect(refused.code).toBe(5);
    await expect(readFile(path.join(dir, 'bad.zip'))).rejects.toMatchObject({ code: 'ENOENT' });
    // Organization 2's archive is still fine, and named alone it passes.
    expect((await runCli(['verify', '--org', '2'], { cwd: dir })).code).toBe(0);
    const missing = await runCli(['verify', '--org', '2', 'org_nothing_monday_backup.zip'], { cwd: dir });
    expect(missing.code).toBe(3);
  });
});

describe('verify and get of encrypted archives on a local store', () => {
  let dir: string;
  let key: { identityFile: string; recipient: string };
  const configure = (file: string, encryption: Record<string, unknown>) =>
    writeFile(
      path.join(dir, file),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } }, encryption }),
      { mode: 0o600 },
    );
  const cli = (args: string[], config = '.backuprc') => runCli(['--config', config, ...args], { cwd: dir });

  beforeAll(async () => {
    dir = await makeTempDir('tb-verify-age-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    key = await ageKeygen(dir);
    await configure('.backuprc', { recipients: [key.recipient], identityFile: path.basename(key.identityFile) });
    await configure('public.backuprc', { recipients: [key.recipient] });
  });

  it('verifies the decrypted entries and the stored bytes; get copies the encrypted file as stored', async () => {
    const backup = await cli(['backup', '--org', '1', '--json'], 'public.backuprc');
    expect(backup.code, backup.stderr).toBe(0);
    const record = JSON.parse(backup.stdout).record as { backup_filename: string; backup_path: string; backup_size: number; sha256: string };
    expect(record.backup_filename).toMatch(/\.zip\.age$/);
    expect(await sha(record.backup_path)).toBe(record.sha256);

    const ok = await cli(['verify', '--org', '1', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report).toMatchObject({ ok: true, checked: 1, results: [{ status: 'ok', backup_filename: record.backup_filename, bytes: record.backup_size, sha256: record.sha256 }] });
    expect(report.results[0].entries).toBeGreaterThan(0);

    const out = path.join(dir, 'copy.zip.age');
    const got = await cli(['get', '--org', '1', 'latest', '-o', out, '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ action: 'written', sha256: record.sha256, bytes: record.backup_size });
    const written = await readFile(out);
    expect(written.equals(await readFile(record.backup_path))).toBe(true);
    expect(written.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)).toBe(true);
    expect((await ageDecrypt(out, key.identityFile)).subarray(0, 2).toString('latin1')).toBe('PK');
    const piped = await runCli(['get', '--org', '1', record.backup_filename, '-o', '-'], { cwd: dir, binary: true });
    expect(piped.code, piped.stderr).toBe(0);
    expect(createHash('sha256').update(piped.stdoutBytes!).digest('hex')).toBe(record.sha256);

    // Without the identity: exit 2 for both, nothing written.
    const verifyNoKey = await cli(['verify', '--org', '1'], 'public.backuprc');
    expect(verifyNoKey.code).toBe(2);
    expect(verifyNoKey.stderr).toMatch(/is encrypted \(age\)/);
    const getNoKey = await cli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'nokey.zip.age')], 'public.backuprc');
    expect(getNoKey.code).toBe(2);
    await expect(readFile(path.join(dir, 'nokey.zip.age'))).rejects.toMatchObject({ code: 'ENOENT' });

    // A flipped byte inside the encrypted payload: cannot decrypt, exit 5, nothing handed out.
    const bytes = await readFile(record.backup_path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(record.backup_path, bytes);
    const damaged = await cli(['verify', '--org', '1', '--json']);
    expect(damaged.code).toBe(5);
    expect(JSON.parse(damaged.stdout).results[0]).toMatchObject({ status: 'damaged' });
    expect(JSON.parse(damaged.stdout).results[0].error).toMatch(/Cannot decrypt/);
    const refused = await cli(['get', '--org', '1', 'latest', '-o', path.join(dir, 'bad.zip.age')]);
    expect(refused.code).toBe(5);
    await expect(readFile(path.join(dir, 'bad.zip.age'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an encrypted file that decrypts and verifies but is not the one the ledger recorded is damaged', async () => {
    // A new backup replaces the (damaged) weekday archive.
    const made = await cli(['backup', '--org', '1', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const record = JSON.parse(made.stdout).record as { backup_path: string; sha256: string };
    expect((await cli(['verify', '--org', '1', 'latest'])).code).toBe(0);
    // The earlier backup's intact bytes (`get` above) under its name: same organization, same data,
    // another file key, so other stored bytes.
    const current = await readFile(record.backup_path);
    const earlier = await readFile(path.join(dir, 'copy.zip.age'));
    expect(await sha(path.join(dir, 'copy.zip.age'))).not.toBe(record.sha256);
    await writeFile(record.backup_path, earlier);
    const swapped = await cli(['verify', '--org', '1', 'latest']);
    expect(swapped.code).toBe(5);
    expect(swapped.stderr).toMatch(/the ledger recorded sha256 .* the file changed since/);
    await writeFile(record.backup_path, current);
    expect((await cli(['verify', '--org', '1', 'latest'])).code).toBe(0);
  });
});
