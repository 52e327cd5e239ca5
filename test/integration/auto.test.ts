/**
 * `auto`: the rules in order, a frozen clock across a week, exactly one backup when 20 processes
 * race, recovery after a crash, --detach, and a no-op path that loads no database driver.
 * The shared database is a real SQLite file (a copy of the shipped demo database).
 */
import { spawn } from 'node:child_process';
import { copyFile, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { autoBackup, setAutoBackupEnabled } from '../../src/core/auto.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { frozenClock } from '../../src/retention/clock.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords } from '../helpers/ledger-files.js';

const DRIVERS = /node_modules\/(pg|pg-copy-streams|mysql2|better-sqlite3|knex)\//;
const DEMO = path.join(ROOT, 'fixtures/demo/demo.sqlite');

let dir: string;
let raw: Record<string, unknown>;
let clock: ReturnType<typeof frozenClock>;
let deps: Deps;

beforeEach(async () => {
  dir = await makeTempDir('tb-auto-');
  await copyFile(DEMO, path.join(dir, 'app.sqlite'));
  raw = {
    storage: { dir: './backups' },
    timezone: 'Europe/Berlin',
    organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
  };
  await writeFile(path.join(dir, '.backuprc'), JSON.stringify(raw));
  clock = frozenClock('2026-11-23T08:00:00Z'); // Monday
  deps = await createDeps({ config: resolveConfig(raw, path.join(dir, '.backuprc'), {}), clock });
});
afterEach(removeTempDirs);

const archives = async () => (await readdir(path.join(dir, 'backups/organizations')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();

describe('auto rules', () => {
  it('skips super admins and roles that may not trigger backups; owners and cron calls proceed', async () => {
    expect(await autoBackup(deps, { organizationId: '1', role: 'super_admin' })).toMatchObject({ action: 'skipped', reason: 'super_admin' });
    expect(await autoBackup(deps, { organizationId: '1', role: 'cashier' })).toMatchObject({ action: 'skipped', reason: 'role_not_allowed' });
    expect(await archives()).toEqual([]);
    expect(await autoBackup(deps, { organizationId: '1', role: 'cashier', owner: true, userId: '7' })).toMatchObject({
      action: 'created',
      record: { status: 'success', user_id: '7', backup_filename: 'org_acme_monday_backup.zip' },
    });
    expect(await autoBackup(deps, { organizationId: '2' })).toMatchObject({ action: 'created' });
    expect(await deps.ledger.backupTypeOf((await deps.ledger.find({ organization_id: '2' }))[0]!.id)).toBe('auto_daily');
  });

  it("honours the per-organization switch and the organizations table's auto_backup_enabled column", async () => {
    await setAutoBackupEnabled(deps, { organizationId: '1', enabled: false });
    expect(await autoBackup(deps, { organizationId: '1', role: 'admin' })).toMatchObject({ action: 'skipped', reason: 'disabled' });
    await setAutoBackupEnabled(deps, { organizationId: '1', enabled: true });
    expect(await autoBackup(deps, { organizationId: '1', role: 'admin' })).toMatchObject({ action: 'created' });
    // Organization 3 of the demo has auto_backup_enabled = 0 in its row.
    expect(await autoBackup(deps, { organizationId: '3', role: 'admin' })).toMatchObject({ action: 'skipped', reason: 'disabled' });
    expect(await deps.ledger.find({ organization_id: '3' })).toEqual([]);
  });

  it('makes one backup a day in the configured time zone, and rotates by weekday across a week', async () => {
    const first = await autoBackup(deps, { organizationId: '1', role: 'admin' });
    expect(first).toMatchObject({ action: 'created', record: { backup_date: '2026-11-23', day_of_week: 'monday' } });
    expect(await autoBackup(deps, { organizationId: '1', role: 'admin' })).toMatchObject({ action: 'skipped', reason: 'already_done' });
    // 23:30 UTC on Monday is already Tuesday in Berlin.
    clock.set('2026-11-23T23:30:00Z');
    expect(await autoBackup(deps, { organizationId: '1', role: 'admin' })).toMatchObject({ action: 'created', record: { day_of_week: 'tuesday' } });
    const tuesday = await readFile(path.join(dir, 'backups/organizations/org_acme_tuesday_backup.zip'));
    for (const [day, iso] of [
      ['wednesday', '2026-11-25'],
      ['thursday', '2026-11-26'],
      ['friday', '2026-11-27'],
      ['saturday', '2026-11-28'],
      ['sunday', '2026-11-29'],
      ['monday', '2026-11-30'],
    ] as const) {
      clock.set(`${iso}T09:00:00Z`);
      expect(await autoBackup(deps, { organizationId: '1' }), day).toMatchObject({ action: 'created', record: { day_of_week: day } });
    }
    expect(await archives()).toHaveLength(7);
    expect(await readFile(path.join(dir, 'backups/organizations/org_acme_tuesday_backup.zip'))).toEqual(tuesday);
    const records = await deps.ledger.find({ organization_id: '1' });
    expect(records).toHaveLength(7);
    expect(records.find((r) => r.day_of_week === 'monday')?.backup_date).toBe('2026-11-30');
  });

  it('retries the same day after a failure: a failure is not "done for today"', async () => {
    const controller = new AbortController();
    const failing = { ...deps, progress: { update: () => controller.abort(), note: () => undefined, stop: () => undefined } };
    await expect(autoBackup(failing, { organizationId: '1', signal: controller.signal })).rejects.toThrow(/cancelled/i);
    const [failed] = await deps.ledger.find({ organization_id: '1' });
    expect(failed).toMatchObject({ status: 'failed', error_message: 'Backup cancelled.' });
    expect(await archives()).toEqual([]);
    expect(await autoBackup(deps, { organizationId: '1' })).toMatchObject({ action: 'created' });
  });
});

describe('auto from many processes', () => {
  it('makes exactly one backup when 20 processes start at once; the others skip with exit 0', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => runCli(['auto', '--org', '1', '--user', '7', '--role', 'admin', '--json'], { cwd: dir })));
    for (const result of results) expect(result.code, result.stderr).toBe(0);
    const outcomes = results.map((r) => JSON.parse(r.stdout) as { action: string; reason?: string });
    expect(outcomes.filter((o) => o.action === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o.action === 'skipped')).toHaveLength(19);
    for (const o of outcomes.filter((o) => o.action === 'skipped')) expect(['in_progress', 'already_done']).toContain(o.reason);
    expect(await archives()).toHaveLength(1);
    const records = await ledgerRecords(path.join(dir, 'backups'));
    expect(records).toHaveLength(1);
    expect(records[0]!.status).toBe('success');
  }, 120_000);

  it("recovers after a process holding the organization's lock was killed", async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/hold-lock.ts'), path.join(dir, 'backups'), '1'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('lock holder exited early')));
    });
    const blocked = await runCli(['auto', '--org', '1', '--json'], { cwd: dir });
    expect(JSON.parse(blocked.stdout)).toMatchObject({ action: 'skipped', reason: 'in_progress' });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    // The dead holder's lock turns stale (10 s without refresh); then the next call takes over.
    let outcome: { action: string } = { action: 'skipped' };
    const deadline = Date.now() + 30_000;
    while (outcome.action !== 'created' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const result = await runCli(['auto', '--org', '1', '--json'], { cwd: dir });
      expect(result.code, result.stderr).toBe(0);
      outcome = JSON.parse(result.stdout);
    }
    expect(outcome.action).toBe('created');
    const records = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout) as { status: string; error_message: string | null }[];
    expect(records.map((r) => r.status).sort()).toEqual(['failed', 'success']);
    expect(records.find((r) => r.status === 'failed')?.error_message).toMatch(/Interrupted/);
  }, 60_000);

  it('--detach returns at once and the detached child records the backup', async () => {
    const started = await runCli(['auto', '--org', '1', '--detach', '--json'], { cwd: dir });
    const returnedAt = new Date();
    expect(started.code, started.stderr).toBe(0);
    const info = JSON.parse(started.stdout) as { action: string; log_file: string; pid: number };
    expect(info.action).toBe('started');
    expect(info.log_file.startsWith(path.join(dir, 'backups/logs/'))).toBe(true);
    let record: { status: string; updated_at: string } | undefined;
    const deadline = Date.now() + 30_000;
    while (record?.status !== 'success' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      record = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout)[0];
    }
    expect(record?.status).toBe('success');
    expect(Date.parse(record!.updated_at)).toBeGreaterThan(returnedAt.getTime() - 1000);
    // One line per event, each with its time and the pid of the process that wrote it.
    const log = (await readFile(info.log_file, 'utf8')).trim().split('\n');
    for (const line of log) expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z pid \d+ /);
    expect(log[0]).toMatch(new RegExp(`detached the automatic backup of organization 1 into child pid ${info.pid}$`));
    expect(log.some((line) => new RegExp(`^\\S+ pid ${info.pid} created org_acme_[a-z]+_backup\\.zip`).test(line))).toBe(true);
    // Once done, --detach is a plain skip: nothing is started.
    const again = await runCli(['auto', '--org', '1', '--detach', '--json'], { cwd: dir });
    expect(JSON.parse(again.stdout)).toMatchObject({ action: 'skipped', reason: 'already_done' });
  }, 60_000);

  it('loads no database driver and opens no connection when there is nothing to do', async () => {
    expect((await runCli(['auto', '--org', '1', '--json'], { cwd: dir })).code).toBe(0);
    for (const args of [
      ['auto', '--org', '1', '--role', 'admin'],
      ['auto', '--org', '2', '--role', 'super_admin'],
      ['auto', '--org', '2', '--role', 'cashier'],
    ]) {
      const trace = path.join(dir, `trace-${args.join('-')}.txt`);
      const result = await runCli([...args, '--json'], { cwd: dir, env: { TB_TRACE_FILE: trace }, nodeArgs: ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs')] });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).action).toBe('skipped');
      const loaded = await readFile(trace, 'utf8');
      // The launcher's shortcut answered (one bundle), not the full CLI.
      expect(loaded).toContain('dist/cli/fast-auto.bundle.js');
      expect(loaded).not.toContain('dist/cli/main.js');
      expect(loaded).not.toMatch(DRIVERS);
      // Nor the S3 store and its SDK (a local store): the bundle leaves them outside.
      expect(loaded).not.toMatch(/node_modules\/@aws-sdk\/|dist\/store\/s3/);
    }
  });

  it('loads no notifier when nothing is due, even with every channel configured', async () => {
    const notifications = {
      webhook: { url: 'http://127.0.0.1:9/hook', on: ['failure', 'success'] },
      ping: { organizations: { '1': 'http://127.0.0.1:9/ping' } },
      email: { host: '127.0.0.1', port: 9, from: 'f@example.test', to: ['t@example.test'], on: ['failure', 'success'] },
    };
    // Today's backup exists (made before notifications are configured): every call below is a skip.
    expect((await runCli(['auto', '--org', '1', '--json'], { cwd: dir })).code).toBe(0);
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify({ ...raw, notifications }));
    for (const args of [
      ['auto', '--org', '1', '--role', 'admin'],
      ['auto', '--org', '1'],
      ['auto', '--org', '2', '--role', 'cashier'],
    ]) {
      const trace = path.join(dir, `trace-notify-${args.join('-')}.txt`);
      const result = await runCli([...args, '--json'], { cwd: dir, env: { TB_TRACE_FILE: trace }, nodeArgs: ['--import', path.join(ROOT, 'test/helpers/trace-loads.mjs')] });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).action).toBe('skipped');
      const loaded = await readFile(trace, 'utf8');
      expect(loaded).toContain('dist/cli/fast-auto.bundle.js');
      expect(loaded).not.toContain('dist/cli/main.js');
      expect(loaded).not.toMatch(/dist\/notify\/|node_modules\/nodemailer\//);
      expect(loaded).not.toMatch(DRIVERS);
    }
  });

  it('auto --all backs up every organization and prints a summary', async () => {
    // --json: one JSON object per line as each organization finishes, then the summary.
    const result = await runCli(['auto', '--all', '--concurrency', '2', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { time: string; summary?: Record<string, number>; organization_id?: string; action?: string });
    expect(lines.at(-1)?.summary).toEqual({ created: 2, skipped: 1, failed: 0 });
    const items = lines.slice(0, -1).sort((a, b) => a.organization_id!.localeCompare(b.organization_id!));
    expect(items.map((r) => [r.organization_id, r.action])).toEqual([
      ['1', 'created'],
      ['2', 'created'],
      ['3', 'skipped'],
    ]);
    for (const line of lines) expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // Not a terminal (cron): one line per organization with its time, never a table.
    const cron = await runCli(['auto', '--all'], { cwd: dir });
    const cronLines = cron.stdout.trim().split('\n');
    expect(cronLines).toHaveLength(4);
    for (const line of cronLines.slice(0, 3)) expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z organization \d+ skipped (already_done|disabled): /);
    expect(cronLines[3]).toMatch(/summary 0 created, 3 skipped, 0 failed$/);
    expect(cron.stdout).not.toMatch(/[┌│─]/);
  }, 60_000);
});
