/**
 * The CLI as an operator and cron meet it (issue 10), on a copy of the shipped SQLite demo
 * database: `--org` by code, `latest`, `list` filters and its stable JSON format, tables that fit
 * 80 columns, `status` for tenants and unknown organizations, `status --check --json`, which
 * switch disables automatic backups, roles in any case, `--detach` deciding in the parent, and
 * the note that a same-day backup replaced an earlier one.
 */
import { spawn } from 'node:child_process';
import { copyFile, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { localDate, localWeekday, systemClock } from '../../src/retention/clock.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const DEMO = path.join(ROOT, 'fixtures/demo/demo.sqlite');
const WHOLE_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

let dir: string;
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { cwd: dir, env });
const json = async <T>(args: string[]): Promise<T> => {
  const result = await cli([...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
};

beforeEach(async () => {
  dir = await makeTempDir('tb-operator-');
  await copyFile(DEMO, path.join(dir, 'app.sqlite'));
  await copyFile(DEMO, path.join(dir, 'tenant.sqlite'));
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({
      storage: { dir: './backups' },
      timezone: 'UTC',
      organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
      tenants: { shop: { client: 'better-sqlite3', connection: { filename: './tenant.sqlite' } } },
      auto: { allowedRoles: ['admin', 'owner'] },
    }),
  );
});
afterEach(removeTempDirs);

/** A failed attempt in the ledger, as a backup that failed midway leaves it. */
async function recordFailure(organizationId: string, message: string): Promise<void> {
  const ledger = new JsonFileLedger(path.join(dir, 'backups'), systemClock);
  const now = new Date();
  const weekday = localWeekday(now, 'UTC');
  const name = `org_acme_${weekday}_backup.zip`;
  const record = await ledger.begin(
    {
      kind: 'organization',
      organization_id: organizationId,
      tenant: null,
      user_id: null,
      day_of_week: weekday,
      backup_filename: name,
      backup_path: path.join(dir, 'backups/organizations', name),
      backup_date: localDate(now, 'UTC'),
    },
    { backupType: 'manual' },
  );
  await ledger.finish(record.id, { status: 'failed', error_message: message });
}

interface Listed {
  id: number;
  backup_filename: string;
  backup_type: string | null;
  organization_id: string | null;
  organization_code: string | null;
  organization_name: string | null;
  status: string;
  error_message: string | null;
  created_at: string;
  updated_at: string;
}

describe('--org by code, and latest', () => {
  it('takes an organization code wherever it takes an id', async () => {
    const byCode = await json<{ record: { organization_id: string; backup_filename: string } }>(['backup', '--org', 'globex']);
    expect(byCode.record.organization_id).toBe('2');
    expect((await json<Listed[]>(['list', '--org', 'globex'])).map((r) => r.backup_filename)).toEqual([byCode.record.backup_filename]);
    const restored = await json<{ action: string; organization_id: string }>(['restore', '--org', 'globex', byCode.record.backup_filename, '--dry-run']);
    expect(restored).toMatchObject({ action: 'dry-run', organization_id: '2' });
    const unknown = await cli(['backup', '--org', 'nosuch']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/No organization has the id or code "nosuch"/);
  });

  it('refuses a code that names two organizations (exit 2), changing nothing', async () => {
    // Names as codes: not unique, so two organizations can share one.
    const rc = JSON.parse(await readFile(path.join(dir, '.backuprc'), 'utf8'));
    rc.organizations.codeColumn = 'name';
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(rc));
    const db = new Database(path.join(dir, 'app.sqlite'));
    db.prepare("UPDATE organizations SET name = 'Twin' WHERE id IN (1, 2)").run();
    db.close();
    const result = await cli(['backup', '--org', 'Twin']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/"Twin" names more than one organization: id 1 \(code Twin\), id 2 \(code Twin\)/);
    expect(await readdir(path.join(dir, 'backups/organizations')).catch(() => [])).toEqual([]);
  });

  it('restores and deletes `latest`: the newest successful backup of that owner', async () => {
    const first = await json<{ record: { backup_filename: string } }>(['backup', 'shop']);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // timestamped names have one-second resolution
    const second = await json<{ record: { backup_filename: string } }>(['backup', 'shop']);
    expect(second.record.backup_filename).not.toBe(first.record.backup_filename);
    const dry = await json<{ backup_filename: string }>(['restore', 'shop', 'latest', '--dry-run']);
    expect(dry.backup_filename).toBe(second.record.backup_filename);
    await json(['backup', '--org', '1']);
    expect((await json<{ backup_filename: string }>(['restore', '--org', '1', 'latest', '--dry-run'])).backup_filename).toMatch(/^org_acme_/);
    const deleted = await json<{ backup_filename: string }>(['delete', 'shop', 'latest', '--yes']);
    expect(deleted.backup_filename).toBe(second.record.backup_filename);
    const none = await cli(['restore', '--org', '2', 'latest', '--dry-run']);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/"latest" names nothing: organization 2 has no successful backup/);
  });
});

describe('list', () => {
  it('prints the stable record format: backup type, organization code and name, whole-second times', async () => {
    await json(['backup', '--org', '1', '--user', '7']);
    await json(['auto', '--org', '2']);
    await json(['backup', 'shop']);
    const records = await json<Listed[]>(['list']);
    expect(records.map((r) => [r.backup_type, r.organization_id, r.organization_code, r.organization_name])).toEqual([
      ['manual', null, null, null],
      ['auto_daily', '2', 'globex', 'GLOBEX'],
      ['manual', '1', 'acme', 'ACME'],
    ]);
    for (const record of records) {
      expect(record.created_at).toMatch(WHOLE_SECONDS);
      expect(record.updated_at).toMatch(WHOLE_SECONDS);
      expect(Object.keys(record)).toEqual([
        'id',
        'kind',
        'organization_id',
        'tenant',
        'user_id',
        'day_of_week',
        'backup_filename',
        'backup_path',
        'backup_size',
        'sha256',
        'status',
        'error_message',
        'backup_date',
        'created_at',
        'updated_at',
        'backup_type',
        'organization_code',
        'organization_name',
      ]);
    }
  });

  it('filters by status, age and count', async () => {
    await json(['backup', '--org', '1']);
    await json(['backup', '--org', '2']);
    await recordFailure('1', 'Backup failed: the server went away.');
    expect((await json<Listed[]>(['list', '--status', 'failed'])).map((r) => r.status)).toEqual(['failed']);
    expect((await json<Listed[]>(['list', '--status', 'success'])).map((r) => r.organization_id).sort()).toEqual(['1', '2']);
    expect(await json<Listed[]>(['list', '--limit', '1'])).toHaveLength(1);
    expect(await json<Listed[]>(['list', '--since', '1h'])).toHaveLength(3);
    expect(await json<Listed[]>(['list', '--since', '2999-01-01'])).toEqual([]);
    expect(await json<Listed[]>(['list', '--since', '2000-01-01T00:00:00Z'])).toHaveLength(3);
    for (const [args, message] of [
      [['--status', 'done'], /--status must be one of success, failed, in_progress/],
      [['--since', 'yesterday'], /Invalid --since "yesterday"/],
      [['--limit', '0'], /--limit must be a positive integer/],
    ] as const) {
      const bad = await cli(['list', ...args]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  });

  it('fits 80 columns, failures and long names included; messages go below the table', async () => {
    const long = 'a-very-long-tenant-name-that-would-never-fit-a-column.example';
    const rc = JSON.parse(await readFile(path.join(dir, '.backuprc'), 'utf8'));
    rc.tenants[long] = { client: 'better-sqlite3', connection: { filename: './tenant.sqlite' } };
    rc.tenants.gone = { client: 'pg', connection: { host: '127.0.0.1', port: 1, user: 'x', password: 'x', database: 'x' } };
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(rc));
    await json(['backup', long]);
    await json(['backup', '--org', '1']);
    // A failed organization backup with a long, multi-line message.
    await recordFailure('1', `Backup failed: ${'the connection was reset by the peer while reading table customers; '.repeat(6)}\nsecond line of the message.`);
    const failed = (await json<Listed[]>(['list', '--status', 'failed']))[0]!;
    const table = await cli(['list']);
    expect(table.code, table.stderr).toBe(0);
    for (const line of table.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(table.stdout).toMatch(/failed \[1\]/);
    expect(table.stdout).toMatch(/\n\[1\] org_acme_\w+_backup\.zip \(/);
    // The whole message is there, below the table (wrapped; joined back it is the message).
    const notes = table.stdout.slice(table.stdout.indexOf('\n[1] ')).replace(/\n\s+/g, ' ');
    expect(notes).toContain(failed.error_message!.replace(/\s+/g, ' ').trim());
    const status = await cli(['status', '--org', '1']);
    for (const line of status.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(status.stdout).toMatch(/latest:\s/);
  });
});

describe('status', () => {
  it('covers tenants; an unknown organization is exit 3; --check --json always prints its result', async () => {
    await json(['backup', 'shop']);
    const tenant = await json<{ kind: string; tenant: string; newest_success: Listed; week: unknown[] }>(['status', 'shop']);
    expect(tenant).toMatchObject({ kind: 'database', tenant: 'shop' });
    expect(tenant.week).toHaveLength(7);
    expect((await json<{ ok: boolean }>(['status', 'shop', '--check'])).ok).toBe(true);
    expect((await cli(['status', 'nosuch'])).code).toBe(2);

    const unknown = await cli(['status', '--org', '999']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/Organization 999 was not found/);
    // Known to the organizations table but never backed up: an empty grid, not an error.
    expect((await json<{ history: unknown[] }>(['status', '--org', '2'])).history).toEqual([]);

    const stale = await cli(['status', '--org', '2', '--check', '--json']);
    expect(stale.code).toBe(11);
    expect(JSON.parse(stale.stdout)).toMatchObject({ ok: false, organization_id: '2', age_hours: null });
    expect(stale.stderr).toBe('');
    const text = await cli(['status', '--org', '2', '--check']);
    expect(text.code).toBe(11);
    expect(text.stdout).toMatch(/^STALE: organization 2 has no successful backup/);
  });
});

describe('auto', () => {
  it('says which switch disables automatic backups, and what to change', async () => {
    // Organization 3 of the demo has auto_backup_enabled = 0 in the organizations table.
    const enabled = await json<{ effective: boolean; database_column: boolean; message: string }>(['auto', '--org', '3', '--enable']);
    expect(enabled).toMatchObject({ effective: false, database_column: false });
    const text = await cli(['auto', '--org', '3', '--enable']);
    expect(text.stdout).toMatch(/stay OFF: .*auto_backup_enabled column of table "organizations".*set that column to true/);
    const skipped = await json<{ reason: string; message: string }>(['auto', '--org', '3']);
    expect(skipped.reason).toBe('disabled');
    expect(skipped.message).toMatch(/auto_backup_enabled column/);
    await json(['auto', '--org', '1', '--disable']);
    expect((await json<{ message: string }>(['auto', '--org', '1'])).message).toMatch(/tenant-backup's own switch .*--enable/);
    expect((await cli(['auto', '--org', '999', '--enable'])).code).toBe(3);
  });

  it('compares roles case-insensitively', async () => {
    expect(await json(['auto', '--org', '1', '--role', 'SUPER_ADMIN'])).toMatchObject({ action: 'skipped', reason: 'super_admin' });
    expect(await json(['auto', '--org', '1', '--role', 'Admin'])).toMatchObject({ action: 'created' });
  });

  it('--detach decides in the parent: unknown organization (exit 3), disabled column, a live in_progress run — no child started', async () => {
    const logs = () => readdir(path.join(dir, 'backups/logs')).catch(() => [] as string[]);
    const unknown = await cli(['auto', '--org', '999', '--detach', '--json']);
    expect(unknown.code).toBe(3);
    expect(JSON.parse(unknown.stderr)).toMatchObject({ error: { code: 'NOT_FOUND', exit_code: 3 } });
    expect(await json(['auto', '--org', '3', '--detach'])).toMatchObject({ action: 'skipped', reason: 'disabled' });

    const holder = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/hold-lock.ts'), path.join(dir, 'backups'), '1'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', () => reject(new Error('lock holder exited early')));
      });
      expect(await json(['auto', '--org', '1', '--detach'])).toMatchObject({ action: 'skipped', reason: 'in_progress' });
    } finally {
      holder.kill('SIGKILL');
    }
    expect(await logs()).toEqual([]);
  });

  it('--detach removes log files older than auto.logRetentionDays', async () => {
    const logDir = path.join(dir, 'backups/logs');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(logDir, { recursive: true });
    const old = path.join(logDir, 'auto-org-1-2020-01-01.log');
    const recent = path.join(logDir, 'auto-org-2-2020-01-02.log');
    await writeFile(old, 'old\n');
    await writeFile(recent, 'recent\n');
    const day = 86_400;
    const now = Date.now() / 1000;
    await utimes(old, now - 15 * day, now - 15 * day);
    await utimes(recent, now - 13 * day, now - 13 * day);
    const started = await json<{ action: string; log_file: string }>(['auto', '--org', '1', '--detach']);
    expect(started.action).toBe('started');
    const names = await readdir(logDir);
    expect(names).not.toContain('auto-org-1-2020-01-01.log');
    expect(names).toContain('auto-org-2-2020-01-02.log');
    // Wait for the child to finish, so the folder can be removed.
    const deadline = Date.now() + 30_000;
    while (!/ (created|skipped|failed) /.test(await readFile(started.log_file, 'utf8')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  });
});

describe('backup', () => {
  it('says when a backup replaced an earlier archive of the same name', async () => {
    const first = await cli(['backup', '--org', '1']);
    expect(first.stdout).not.toMatch(/replaced/);
    const second = await cli(['backup', '--org', '1']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/This replaced org_acme_\w+_backup\.zip made at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(earlier today\)\./);
    const result = await json<{ replaced: { backup_filename: string } | null }>(['backup', '--org', '1']);
    expect(result.replaced?.backup_filename).toMatch(/^org_acme_/);
  });
});
