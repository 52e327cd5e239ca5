/**
 * `verify` and `get` on the local store (the S3 store's cases are in s3-cli.test.ts): archives read
 * back and checked entry by entry and against the ledger's sha256; one flipped byte anywhere in
 * the file is found (exit 5), and `get` refuses to hand it out.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const sha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('verify and get on a local store', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('tb-verify-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }));
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
