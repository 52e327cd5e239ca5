/**
 * Issue 12: several application servers share the ledger and the locks in the application's own
 * database. Three "servers" — processes with their own storage folder and host name
 * (TENANT_BACKUP_HOST) — receive 60 `auto --org 42` at once: exactly one archive, one success,
 * 59 skips, every exit 0. Then the same with the winner killed (SIGKILL) half-way: the next call
 * makes the backup, the killed one's record is failed. On PostgreSQL and MariaDB.
 *
 * Also: two servers that do not share a store may not write one weekday file into two disks under
 * one ledger (refused, exit 2), and `restore` on the other server says where the archive is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, runProgram } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

interface Server {
  dir: string;
  host: string;
  env: NodeJS.ProcessEnv;
}

async function servers(db: TestDatabase, count: number): Promise<Server[]> {
  const root = await makeTempDir('tb-servers-');
  const connection = { ...(db.connection as ServerConnection), password: '${APP_DB_PASSWORD}' };
  const list: Server[] = [];
  for (let i = 1; i <= count; i += 1) {
    const dir = path.join(root, `app-${i}`);
    await mkdir(dir);
    const config = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: db.client, connection }, ledger: { type: 'database' } };
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(config), { mode: 0o600 });
    list.push({ dir, host: `app-${i}`, env: { TENANT_BACKUP_HOST: `app-${i}`, APP_DB_PASSWORD: (db.connection as ServerConnection).password } });
  }
  return list;
}

function start(server: Server, args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: server.dir, env: { ...process.env, TENANT_BACKUP_CONFIG: '', ...server.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

async function archives(list: Server[]): Promise<string[]> {
  const found: string[] = [];
  for (const server of list) {
    for (const name of await readdir(path.join(server.dir, 'backups', 'organizations')).catch(() => [] as string[]))
      if (name.endsWith('.zip') && !name.startsWith('.')) found.push(`${server.host}/${name}`);
  }
  return found;
}

for (const engine of ['postgres', 'mysql'] as const) {
  describe(`three application servers on one ${engine} ledger`, () => {
    let db: TestDatabase;
    let list: Server[];
    const records = async () =>
      (await db.knex()('auto_backup_logs').where({ organization_id: '42' }).orderBy('id')) as Array<{
        id: number | string;
        status: string;
        host: string;
        run_pid: number | null;
        error_message: string | null;
      }>;

    beforeAll(async () => {
      db = await createTestDatabase(engine, 'tb_servers');
      const knex = db.knex();
      await knex.schema.createTable('organizations', (t) => {
        t.bigInteger('id').primary();
        t.string('code');
        t.string('name');
      });
      await knex.schema.createTable('notes', (t) => {
        t.bigIncrements('id');
        t.bigInteger('organization_id').notNullable().references('id').inTable('organizations');
        t.text('body');
      });
      await knex('organizations').insert([
        { id: 42, code: 'acme', name: 'ACME' },
        { id: 7, code: 'globex', name: 'Globex' },
      ]);
      // Enough rows that a backup takes a moment (the kill lands half-way).
      const body = 'x'.repeat(400);
      for (let i = 0; i < 60; i += 1) await knex('notes').insert(Array.from({ length: 1000 }, () => ({ organization_id: 42, body })));
      list = await servers(db, 3);
      expect((await runCli(['ledger', 'init', '--json'], { cwd: list[0]!.dir, env: list[0]!.env })).code).toBe(0);
    });
    afterAll(async () => db?.drop());

    it('60 calls at once over three servers: one archive, one success, 59 skips, every exit 0', async () => {
      const runs = Array.from({ length: 60 }, (_, i) => start(list[i % 3]!, ['auto', '--org', '42', '--user', String(i), '--role', 'admin', '--json']));
      const results = await Promise.all(runs.map((run) => run.done));
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const outcomes = results.map((r) => JSON.parse(r.stdout) as { action: string; reason?: string });
      expect(outcomes.filter((o) => o.action === 'created')).toHaveLength(1);
      expect(outcomes.filter((o) => o.action === 'skipped' && ['in_progress', 'already_done'].includes(o.reason!))).toHaveLength(59);
      expect(await archives(list)).toHaveLength(1);
      const rows = await records();
      expect(rows.map((r) => r.status)).toEqual(['success']);
      expect((await archives(list))[0]).toMatch(new RegExp(`^${rows[0]!.host}/org_acme_\\w+day_backup\\.zip$`));
    }, 180_000);

    it("the winner killed half-way: the next call makes the backup, the killed one's record is failed", async () => {
      await db.knex()('auto_backup_logs').del();
      for (const server of list) await rmArchives(server);
      const runs = Array.from({ length: 60 }, (_, i) => start(list[i % 3]!, ['auto', '--org', '42', '--json']));
      // The winner is whoever records in_progress first: kill that process, by the pid it recorded.
      let killed: { id: number; pid: number } | undefined;
      const deadline = Date.now() + 60_000;
      while (!killed && Date.now() < deadline) {
        const running = (await records()).find((r) => r.status === 'in_progress' && r.run_pid !== null);
        const run = running ? runs.find((r) => r.child.pid === Number(running.run_pid)) : undefined;
        if (run && running) {
          run.child.kill('SIGKILL');
          killed = { id: Number(running.id), pid: Number(running.run_pid) };
        } else await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(killed, 'no backup was seen running').toBeDefined();
      const results = await Promise.all(runs.map((run) => run.done));
      const others = results.filter((_, i) => runs[i]!.child.pid !== killed!.pid);
      expect(results.filter((r) => r.signal === 'SIGKILL')).toHaveLength(1);
      for (const result of others) expect(result.code, result.stderr).toBe(0);
      // The next call (on another server) makes the backup, unless a call still under way did.
      const next = await runCli(['auto', '--org', '42', '--json'], { cwd: list[1]!.dir, env: list[1]!.env });
      expect(next.code, next.stderr).toBe(0);
      const rows = await records();
      expect(rows.find((r) => Number(r.id) === killed!.id)).toMatchObject({ status: 'failed' });
      expect(rows.find((r) => Number(r.id) === killed!.id)!.error_message).toMatch(/^Interrupted: /);
      expect(rows.filter((r) => r.status === 'success')).toHaveLength(1);
      expect(rows.filter((r) => r.status === 'in_progress')).toHaveLength(0);
      expect(await archives(list)).toHaveLength(1);
      const created = [...others, next].map((r) => JSON.parse(r.stdout) as { action: string }).filter((o) => o.action === 'created');
      expect(created).toHaveLength(1);
    }, 180_000);

    it('answers a call with nothing to do with its own driver only: no other driver, no Commander, no command', async () => {
      const made = await runCli(['auto', '--org', '42', '--json'], { cwd: list[2]!.dir, env: list[2]!.env });
      expect(made.code, made.stderr).toBe(0);
      const trace = path.join(list[0]!.dir, 'trace.txt');
      const skip = await runCli(['auto', '--org', '42', '--role', 'admin', '--json'], {
        cwd: list[0]!.dir,
        env: { ...list[0]!.env, TB_TRACE_FILE: trace },
        nodeArgs: ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs')],
      });
      expect(skip.code, skip.stderr).toBe(0);
      expect(JSON.parse(skip.stdout)).toMatchObject({ action: 'skipped', reason: 'already_done' });
      const loaded = await readFile(trace, 'utf8');
      expect(loaded).toContain('dist/cli/fast-auto.bundle.js');
      expect(loaded).toContain(engine === 'postgres' ? 'node_modules/pg/' : 'node_modules/mysql2/');
      expect(loaded).not.toMatch(engine === 'postgres' ? /node_modules\/mysql2\// : /node_modules\/pg\//);
      expect(loaded).not.toMatch(
        /node_modules\/(better-sqlite3|knex|commander|zod|pg-copy-streams)\/|dist\/cli\/main\.js|dist\/engines\/(postgres|mysql)\/(export|restore|catalog)/,
      );
    }, 60_000);

    it('refuses a weekday file on a second disk under one ledger; restore elsewhere says where the archive is', async () => {
      await db.knex()('auto_backup_logs').del();
      for (const server of list) await rmArchives(server);
      const [a, b] = [list[0]!, list[1]!];
      const at = (when: string, server: Server, args: string[]) => runFaketime(when, server, args);
      const monday = await at('2026-11-23 08:00:00', a, ['backup', '--org', '42', '--json']);
      expect(monday.code, monday.stderr).toBe(0);
      const name = (JSON.parse(monday.stdout) as { record: { backup_filename: string } }).record.backup_filename;
      const nextMonday = await at('2026-11-30 08:00:00', b, ['backup', '--org', '42', '--json']);
      expect(nextMonday.code, nextMonday.stderr).toBe(2);
      const error = (JSON.parse(nextMonday.stderr.trim().split('\n').pop()!) as { error: { message: string } }).error.message;
      expect(error).toContain(`${name} was written on host "app-1"`);
      expect(error).toMatch(/must share where archives live.*Nothing was written/);
      expect(await archives(list)).toEqual([`app-1/${name}`]);
      expect((await records()).map((r) => r.status)).toEqual(['success']);
      const restore = await runCli(['restore', '--org', '42', 'latest', '--dry-run', '--json'], { cwd: b.dir, env: b.env });
      expect(restore.code, restore.stderr).toBe(3);
      expect(restore.stderr).toContain(`is on host \\"app-1\\" (${path.join(a.dir, 'backups', 'organizations', name)})`);
    }, 120_000);
  });
}

async function rmArchives(server: Server): Promise<void> {
  const { rm } = await import('node:fs/promises');
  await rm(path.join(server.dir, 'backups', 'organizations'), { recursive: true, force: true });
}

function runFaketime(when: string, server: Server, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProgram('faketime', ['-f', `@${when}`, process.execPath, BIN, ...args], { cwd: server.dir, env: { TZ: 'UTC', ...server.env } });
}
