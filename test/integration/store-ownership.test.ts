/**
 * The store's ownership rules (issue 18, point 3), tried as the attacker did: another local user
 * owns the store, or could write into it, and plants symbolic links to a root-only file and to a
 * folder outside the store. Every command must refuse (exit 2) and neither target may change.
 * A store of ours with links planted earlier: nothing is ever followed. And the ledger's contents
 * never appear in an error.
 *
 * Runs the real CLI as root, as CI does (`chown` to another uid needs root).
 */
import { chmod, chown, copyFile, lchown, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

/** `nobody` on Debian; any uid other than ours works (no passwd entry is needed to own files). */
const OTHER_UID = 65534;
const TODAY = new Date().toISOString().slice(0, 10);

interface Bed {
  dir: string;
  store: string;
  victim: string;
  outside: string;
}

async function snapshot(bed: Bed) {
  const victim = await stat(bed.victim);
  const outside = await stat(bed.outside);
  return {
    victim: { text: await readFile(bed.victim, 'utf8'), mode: victim.mode, mtime: victim.mtimeMs, uid: victim.uid },
    outside: { mode: outside.mode, mtime: outside.mtimeMs, entries: (await readdir(bed.outside)).sort() },
  };
}

/** A root-only file and a folder outside the store, the SQLite demo as shared and tenant database. */
async function makeBed(): Promise<Bed> {
  const dir = await makeTempDir('tb-owner-');
  await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({
      storage: { dir: './store' },
      timezone: 'UTC',
      organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
      tenants: { t: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } },
    }),
  );
  const victim = path.join(dir, 'shadow');
  await writeFile(victim, 'root:$6$not-for-anyone$:19000:0:99999:7:::\n', { mode: 0o600 });
  const outside = path.join(dir, 'outside');
  await mkdir(outside, { mode: 0o755 });
  await chmod(outside, 0o755);
  return { dir, store: path.join(dir, 'store'), victim, outside };
}

/** Every command that touches the store (a name for restore/delete that would be valid). */
const COMMANDS: string[][] = [
  ['backup', '--org', '1'],
  ['backup', 't'],
  ['backup', 't', '--rotate', 'weekday'],
  ['restore', '--org', '1', 'org_acme_monday_backup.zip', '--yes'],
  ['restore', 't', 't_2026-01-01_00-00-00.zip', '--yes'],
  ['delete', '--org', '1', 'org_acme_monday_backup.zip', '--yes'],
  ['delete', 't', 't_2026-01-01_00-00-00.zip', '--yes'],
  ['list'],
  ['list', '--org', '1'],
  ['list', 't'],
  ['status', '--org', '1'],
  ['status', '--org', '1', '--check'],
  ['auto', '--org', '1'],
  ['auto', '--org', '1', '--detach'],
  ['auto', '--org', '1', '--disable'],
  ['auto', '--all'],
  ['prune', '--keep-last', '1'],
];

describe('a store another user owns, full of planted links', () => {
  let bed: Bed;
  beforeAll(async () => {
    expect(process.getuid?.(), 'this test needs root (chown to another uid), as CI runs it').toBe(0);
    bed = await makeBed();
    const { store, victim, outside } = bed;
    await mkdir(path.join(store, 'locks'), { recursive: true });
    await mkdir(path.join(store, 'logs'));
    await mkdir(path.join(store, 'tenant-databases'));
    await symlink(victim, path.join(store, 'ledger.json'));
    await symlink(outside, path.join(store, 'organizations'));
    for (const key of ['org-1', 'tenant-t']) await symlink(victim, path.join(store, 'locks', `${key}.lck`));
    await symlink(victim, path.join(store, 'locks', '.ledger-write.lck'));
    await symlink(victim, path.join(store, 'logs', `auto-org-1-${TODAY}.log`));
    await symlink(victim, path.join(store, 'tenant-databases', 't_2026-01-01_00-00-00.zip'));
    for (const entry of ['', 'locks', 'logs', 'tenant-databases']) await chown(path.join(store, entry), OTHER_UID, OTHER_UID);
    for (const link of [
      'ledger.json',
      'organizations',
      'locks/org-1.lck',
      'locks/tenant-t.lck',
      'locks/.ledger-write.lck',
      `logs/auto-org-1-${TODAY}.log`,
      'tenant-databases/t_2026-01-01_00-00-00.zip',
    ]) {
      await lchown(path.join(store, link), OTHER_UID, OTHER_UID);
    }
  });

  it.each(COMMANDS.map((args) => [args.join(' '), args] as const))('refuses `%s` with exit 2 and touches nothing', async (_name, args) => {
    const before = await snapshot(bed);
    const result = await runCli([...args, '--json'], { cwd: bed.dir });
    expect(result.code, result.stderr).toBe(2);
    const error = JSON.parse(result.stderr.trim()) as { error: { code: string; message: string } };
    expect(error.error.code).toBe('CONFIG');
    expect(error.error.message).toContain(`${bed.store} is owned by uid ${OTHER_UID}`);
    expect(result.stderr).not.toContain('not-for-anyone');
    expect(await snapshot(bed)).toEqual(before);
    expect((await lstat(path.join(bed.store, 'ledger.json'))).isSymbolicLink()).toBe(true);
  });
});

describe('stores that others could write into', () => {
  let bed: Bed;
  beforeEach(async () => {
    bed = await makeBed();
    await mkdir(bed.store, { mode: 0o700 });
  });

  it.each([
    ['writable by others', 0o777, /is writable by its group and others \(mode 0777\)/],
    ['writable by others only', 0o703, /is writable by others \(mode 0703\)/],
    ['writable by its group', 0o770, /is writable by its group \(mode 0770\)/],
  ])('refuses a store %s (exit 2), before reading or writing anything', async (_what, mode, message) => {
    await chmod(bed.store, mode);
    for (const args of [['backup', '--org', '1'], ['list']]) {
      const result = await runCli(args, { cwd: bed.dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(await readdir(bed.store)).toEqual([]);
  });

  it('refuses a folder in the store owned by another user, or writable by others', async () => {
    await mkdir(path.join(bed.store, 'organizations'), { mode: 0o700 });
    await chown(path.join(bed.store, 'organizations'), OTHER_UID, OTHER_UID);
    const owned = await runCli(['backup', '--org', '1'], { cwd: bed.dir });
    expect(owned.code, owned.stderr).toBe(2);
    expect(owned.stderr).toContain(`${path.join(bed.store, 'organizations')} is owned by uid ${OTHER_UID}`);
    await chown(path.join(bed.store, 'organizations'), 0, 0);
    await chmod(path.join(bed.store, 'organizations'), 0o777);
    const writable = await runCli(['list', '--org', '1'], { cwd: bed.dir });
    expect(writable.code, writable.stderr).toBe(2);
    expect(writable.stderr).toMatch(/organizations is writable by its group and others/);
    expect(await readdir(path.join(bed.store, 'organizations'))).toEqual([]);
  });

  it('refuses a store inside a folder others may write into (not sticky), accepts a sticky one', async () => {
    const shared = path.join(bed.dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    await writeFile(
      path.join(bed.dir, 'shared.backuprc'),
      JSON.stringify({ storage: { dir: './shared/store' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
    );
    const refused = await runCli(['backup', '--org', '1', '--config', 'shared.backuprc'], { cwd: bed.dir });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`${shared} (a folder above the store) is writable by its group and others`);
    expect(await readdir(shared)).toEqual([]);
    await chmod(shared, 0o1777); // like /tmp: others cannot rename or remove what is ours
    const accepted = await runCli(['backup', '--org', '1', '--config', 'shared.backuprc'], { cwd: bed.dir });
    expect(accepted.code, accepted.stderr).toBe(0);
  });
});

describe('a store of ours with links planted before it was ours', () => {
  let bed: Bed;
  beforeEach(async () => {
    bed = await makeBed();
    for (const folder of ['locks', 'logs', 'organizations']) await mkdir(path.join(bed.store, folder), { recursive: true, mode: 0o700 });
  });

  it.each([
    ['an operation lock', 'locks/org-1.lck'],
    ['the ledger write lock', 'locks/.ledger-write.lck'],
  ])('refuses %s that is a link (its target is never touched)', async (_what, lock) => {
    const before = await snapshot(bed);
    await symlink(bed.victim, path.join(bed.store, lock));
    const result = await runCli(['backup', '--org', '1'], { cwd: bed.dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`${path.basename(lock)} is not a lock file (a symbolic link)`);
    expect(await snapshot(bed)).toEqual(before);
  });

  it('refuses an owner file of the ledger that is a link', async () => {
    const before = await snapshot(bed);
    await mkdir(path.join(bed.store, 'ledger', 'organizations'), { recursive: true, mode: 0o700 });
    await symlink(bed.victim, path.join(bed.store, 'ledger', 'organizations', '1.json'));
    for (const args of [
      ['backup', '--org', '1'],
      ['list', '--org', '1'],
      ['auto', '--org', '1'],
    ]) {
      const result = await runCli(args, { cwd: bed.dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/1\.json is a symbolic link/);
      expect(result.stderr).not.toContain('not-for-anyone');
    }
    expect(await snapshot(bed)).toEqual(before);
  });

  it('refuses a ledger that is a link, without quoting what it points to', async () => {
    const before = await snapshot(bed);
    await symlink(bed.victim, path.join(bed.store, 'ledger.json'));
    for (const args of [['backup', '--org', '1'], ['list'], ['auto', '--org', '1']]) {
      const result = await runCli(args, { cwd: bed.dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/ledger\.json is not a regular file \(a symbolic link\)/);
      expect(result.stderr).not.toContain('not-for-anyone');
    }
    expect(await snapshot(bed)).toEqual(before);
  });

  it("never quotes a corrupt ledger's contents (exit 6)", async () => {
    await writeFile(path.join(bed.store, 'ledger.json'), await readFile(bed.victim), { mode: 0o600 });
    const result = await runCli(['list'], { cwd: bed.dir });
    expect(result.code, result.stderr).toBe(6);
    expect(result.stderr).toMatch(/ledger\.json is not valid \(not valid JSON/);
    expect(result.stderr).not.toMatch(/root|not-for-anyone/);
  });

  it("refuses an archive name or a detached run's log that is a link", async () => {
    const before = await snapshot(bed);
    const weekday = new Date().toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' }).toLowerCase();
    await symlink(bed.victim, path.join(bed.store, 'organizations', `org_acme_${weekday}_backup.zip`));
    const backup = await runCli(['backup', '--org', '1'], { cwd: bed.dir });
    expect(backup.code, backup.stderr).toBe(2);
    expect(backup.stderr).toMatch(/is a symbolic link/);
    await symlink(bed.victim, path.join(bed.store, 'logs', `auto-org-1-${TODAY}.log`));
    const detach = await runCli(['auto', '--org', '1', '--detach'], { cwd: bed.dir });
    expect(detach.code, detach.stderr).toBe(2);
    expect(detach.stderr).toMatch(/auto-org-1-.*\.log is a symbolic link/);
    expect(await snapshot(bed)).toEqual(before);
  });
});
