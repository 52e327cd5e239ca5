/**
 * Encryption through the real CLI on the SQLite demo database: `key generate`, encrypted backups
 * listed, restored and deleted like plain ones, the documented exit codes of a missing key (2) and
 * a wrong key or damaged file (5), and the identity in no output.
 */
import { createHash } from 'node:crypto';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('encryption through the CLI', () => {
  let dir: string;
  let identity: string;
  let recipient: string;
  const outputs: string[] = [];
  const cli = async (args: string[]) => {
    const result = await runCli(args, { cwd: dir, env: { HOME: dir } });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const configure = (encryption: Record<string, unknown>) =>
    writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } }, encryption }),
      { mode: 0o600 },
    );

  beforeAll(async () => {
    dir = await makeTempDir('tb-crypt-cli-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
  });

  it('key generate writes a 0600 identity file, prints only the recipient, and never overwrites', async () => {
    const result = await cli(['key', 'generate', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout) as { recipient: string; identity_file: string };
    expect(parsed.identity_file).toBe(path.join(dir, '.config/tenant-backup/key.txt'));
    expect(parsed.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect((await stat(parsed.identity_file)).mode & 0o777).toBe(0o600);
    const text = await readFile(parsed.identity_file, 'utf8');
    identity = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(text)![0];
    recipient = parsed.recipient;
    expect(text).toContain(`# public key: ${recipient}`);

    const again = await cli(['key', 'generate']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; refusing to overwrite/);
    expect(await readFile(parsed.identity_file, 'utf8')).toBe(text);

    const other = await cli(['key', 'generate', '-o', 'other-key.txt']);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout.trim()).toMatch(/^age1[0-9a-z]{58}$/);
  });

  it('backs up encrypted with the recipient alone, and lists the .zip.age', async () => {
    await configure({ recipients: [recipient] });
    const backup = await cli(['backup', '--org', '1', '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout).record.backup_filename).toMatch(/^org_acme_[a-z]+_backup\.zip\.age$/);
    const list = JSON.parse((await cli(['list', '--org', '1', '--json'])).stdout) as { backup_filename: string; organization_code: string | null }[];
    expect(list[0]!.backup_filename).toMatch(/\.zip\.age$/);
    // Without the identity the archive's manifest cannot be read: no code, no failure.
    expect(list[0]!.organization_code).toBeNull();
  });

  it('exit 2 without the key, exit 5 with a wrong key or a damaged file, the database untouched', async () => {
    const before = await sha(path.join(dir, 'app.sqlite'));
    const missing = await cli(['restore', '--org', '1', 'latest', '--yes', '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stderr.trim().split('\n').pop()!)).toMatchObject({ error: { code: 'CONFIG', exit_code: 2 } });

    await configure({ identityFile: './other-key.txt' });
    const wrong = await cli(['restore', '--org', '1', 'latest', '--yes']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toMatch(/Cannot decrypt/);
    expect(wrong.stderr).not.toMatch(/\n\s+at /);

    await configure({ recipients: [recipient], identityFile: './.config/tenant-backup/key.txt' });
    const [latest] = JSON.parse((await cli(['list', '--org', '1', '--json'])).stdout) as { backup_filename: string; backup_path: string }[];
    const bytes = await readFile(latest!.backup_path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
    await writeFile(path.join(dir, 'backups/organizations/org_acme_sunday_backup.zip.age'), bytes, { mode: 0o600 });
    const damaged = await cli(['restore', '--org', '1', 'org_acme_sunday_backup.zip.age', '--yes']);
    expect(damaged.code).toBe(5);
    expect(damaged.stderr).toMatch(/Cannot decrypt/);
    expect(await sha(path.join(dir, 'app.sqlite'))).toBe(before);
  });

  it('restores, lists with the code, and deletes an encrypted backup with the identity configured', async () => {
    const list = JSON.parse((await cli(['list', '--org', '1', '--json'])).stdout) as { backup_filename: string; organization_code: string | null }[];
    expect(list[0]!.organization_code).toBe('acme');
    const restore = await cli(['restore', '--org', '1', list[0]!.backup_filename, '--yes']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/Restored organization 1 from org_acme_[a-z]+_backup\.zip\.age/);
    // A damaged copy the ledger does not know cannot be proven this organization's (as for a .zip).
    const unproven = await cli(['delete', '--org', '1', 'org_acme_sunday_backup.zip.age', '--yes']);
    expect(unproven.code).toBe(4);
    const removedToo = await cli(['delete', '--org', '1', list[0]!.backup_filename, '--yes']);
    expect(removedToo.code, removedToo.stderr).toBe(0);
    expect(JSON.parse((await cli(['list', '--org', '1', '--json'])).stdout)).toEqual([]);
  });

  it('warns when a readable .backuprc holds the passphrase in clear, and keeps the passphrase out of every message', async () => {
    const literal = await makeTempDir('tb-crypt-pass-');
    const passphrase = 'very secret passphrase 42';
    const write = (value: string) =>
      writeFile(path.join(literal, '.backuprc'), JSON.stringify({ storage: { dir: './store' }, encryption: { passphrase: value } }), { mode: 0o644 });
    await write(passphrase);
    const readable = await runCli(['list'], { cwd: literal });
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stderr).toMatch(/^warning: .*\.backuprc holds a password in clear and is readable by other users \(mode 0644\)/m);
    expect(readable.stderr).not.toContain(passphrase);
    await write('${BACKUP_PASSPHRASE}');
    const fromEnv = await runCli(['list'], { cwd: literal, env: { BACKUP_PASSPHRASE: passphrase } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stderr).toBe('');
  });

  it('never printed the identity', () => {
    expect(identity).toMatch(/^AGE-SECRET-KEY-1/);
    for (const output of outputs) expect(output).not.toContain(identity);
  });
});
