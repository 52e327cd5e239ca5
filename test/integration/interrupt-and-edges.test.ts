/**
 * Operator-facing edges found by trying the tool as a new user: Ctrl-C during a dump, --json
 * purity of usage errors, commands that never connect working without database passwords, and
 * the ledger not being trusted when today's archive was removed by hand.
 */
import { spawn } from 'node:child_process';
import { copyFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords, ledgerRuns } from '../helpers/ledger-files.js';

afterAll(removeTempDirs);

describe('Ctrl-C during a tenant dump', () => {
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    db = await createTestDatabase('postgres', 'tb_sigint');
    await db.knex().raw(`CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS payload FROM generate_series(1, 400000) g`);
    dir = await makeTempDir('tb-sigint-');
    const connection = db.connection as ServerConnection;
    env = { TENANT_PW: connection.password };
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({
        storage: { dir: './backups' },
        timezone: 'UTC',
        compressionLevel: 9,
        tenants: { acme: { client: 'pg', connection: { ...connection, password: '${TENANT_PW}' } } },
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('stops cleanly: exit 130, a message, no temp file, the record marked failed, no lock left', async () => {
    const child = spawn(process.execPath, [BIN, 'backup', 'acme'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const folder = path.join(dir, 'backups/tenant-databases');
    const deadline = Date.now() + 30_000;
    let writing = false;
    while (!writing && Date.now() < deadline) {
      writing = (await readdir(folder).catch(() => [] as string[])).some((name) => name.endsWith('.tmp'));
      if (!writing) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(writing, 'the dump never started').toBe(true);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/Interrupted/);
    expect((await readdir(folder)).filter((name) => name.endsWith('.tmp') || name.endsWith('.zip'))).toEqual([]);
    expect((await ledgerRecords(path.join(dir, 'backups'))).map((r) => r.status)).toEqual(['failed']);
    expect(await ledgerRuns(path.join(dir, 'backups'))).toEqual([]);
    // And the next backup runs at once.
    const again = await runCli(['backup', 'acme', '--json'], { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
  }, 120_000);
});

describe('edges of everyday use', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('tb-edges-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({
        storage: { dir: './backups' },
        timezone: 'UTC',
        organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
        tenants: { remote: { client: 'pg', connection: { host: '127.0.0.1', user: 'x', password: '${REMOTE_PW}', database: 'x' } } },
      }),
    );
  });

  it('keeps stderr pure JSON under --json, also for usage errors', async () => {
    for (const args of [
      ['frobnicate', '--json'],
      ['list', '--org', '--json'],
      ['backup', '--bogus', '--json'],
    ]) {
      const result = await runCli(args, { cwd: dir });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(() => JSON.parse(result.stderr)).not.toThrow();
    }
  });

  it('lists, reports status and skips without the database password being set', async () => {
    expect((await runCli(['backup', '--org', '1'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['list', '--json'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['status', '--org', '1', '--json'], { cwd: dir })).code).toBe(0);
    const remote = await runCli(['backup', 'remote'], { cwd: dir });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/REMOTE_PW/);
  });

  it('says an unknown tenant is unknown in list (exit 2)', async () => {
    const result = await runCli(['list', 'nosuch'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Unknown tenant "nosuch"/);
  });

  it("makes today's backup again when its archive was removed by hand", async () => {
    const first = await runCli(['auto', '--org', '2', '--json'], { cwd: dir });
    const record = JSON.parse(first.stdout).record as { backup_path: string };
    expect((JSON.parse((await runCli(['auto', '--org', '2', '--json'], { cwd: dir })).stdout) as { reason: string }).reason).toBe('already_done');
    await rm(record.backup_path);
    expect(JSON.parse((await runCli(['auto', '--org', '2', '--json'], { cwd: dir })).stdout)).toMatchObject({ action: 'created' });
  });

  it("refuses to let two organizations sharing a code overwrite each other's archive", async () => {
    // A code column that is not unique: organizations 1 and 2 both have auto_backup_enabled = 1.
    const shared = await makeTempDir('tb-shared-code-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(shared, 'app.sqlite'));
    await writeFile(
      path.join(shared, '.backuprc'),
      JSON.stringify({
        storage: { dir: './backups' },
        timezone: 'UTC',
        organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' }, codeColumn: 'auto_backup_enabled' },
      }),
    );
    const first = await runCli(['backup', '--org', '1', '--json'], { cwd: shared });
    expect(first.code, first.stderr).toBe(0);
    const archive = JSON.parse(first.stdout).record.backup_path as string;
    const before = await readFile(archive);
    const clash = await runCli(['backup', '--org', '2'], { cwd: shared });
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/Organizations 2 and 1 share the code/);
    expect(await readFile(archive)).toEqual(before);
    const records = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: shared })).stdout) as { backup_path: string }[];
    expect(records.map((r) => r.backup_path)).toContain(archive);
  });

  it("shows every weekday's date in the status grid", async () => {
    const status = JSON.parse((await runCli(['status', '--org', '1', '--json'], { cwd: dir })).stdout) as { week: { weekday: string; date: string; is_today: boolean }[] };
    expect(status.week.map((slot) => slot.weekday)).toEqual(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']);
    const dates = status.week.map((slot) => Date.parse(`${slot.date}T00:00:00Z`));
    for (let i = 1; i < 7; i += 1) expect(dates[i]! - dates[i - 1]!).toBe(86_400_000);
    expect(new Date(dates[0]!).getUTCDay()).toBe(1);
    expect(status.week.filter((slot) => slot.is_today)).toHaveLength(1);
  });
});
