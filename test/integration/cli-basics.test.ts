import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { frozenClock } from '../../src/retention/clock.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const DRIVERS = /node_modules\/(pg|pg-copy-streams|mysql2|better-sqlite3|knex)\//;

let dir: string;
let storage: string;

beforeEach(async () => {
  dir = await makeTempDir('tb-cli-');
  storage = path.join(dir, 'backups');
  await writeFile(path.join(dir, '.backuprc'), JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', tenants: {} }));
});
afterEach(removeTempDirs);

async function seed(): Promise<void> {
  const ledger = new JsonFileLedger(storage, frozenClock('2026-11-23T08:00:00Z'));
  await mkdir(path.join(storage, 'organizations'), { recursive: true });
  for (const [org, code] of [
    ['42', 'ACME'],
    ['7', 'GLOBEX'],
  ] as const) {
    const name = `org_${code}_monday_backup.zip`;
    const file = path.join(storage, 'organizations', name);
    await writeFile(file, 'zip bytes', { mode: 0o600 });
    const record = await ledger.begin({
      kind: 'organization',
      organization_id: org,
      tenant: null,
      user_id: null,
      day_of_week: 'monday',
      backup_filename: name,
      backup_path: file,
      backup_date: '2026-11-23',
    });
    await ledger.finish(record.id, { status: 'success', backup_size: 2048, sha256: 'a'.repeat(64) });
  }
}

describe('help, version and usage errors', () => {
  it('prints help with examples and exit codes for the program and each command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['backup', 'restore', 'list', 'delete', 'auto']) expect(top.stdout).toContain(command);
    for (const command of ['backup', 'restore', 'list', 'delete', 'auto']) {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
      expect(help.stdout).toContain('Exit codes:');
      expect(help.stdout).toMatch(/4 +the backup belongs to another tenant or organization/);
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it('answers usage errors with exit 2, as JSON on stderr under --json', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    const json = await runCli(['list', '--bogus', '--json']);
    expect(json.code).toBe(2);
    expect(json.stdout).toBe('');
    const lines = json.stderr.trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ error: { code: 'USAGE', exit_code: 2 } });
  });

  it('reports a missing configuration clearly, without a stack trace', async () => {
    const empty = await makeTempDir('tb-cli-empty-');
    const result = await runCli(['list'], { cwd: empty });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: No configuration found/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('stops quietly when its reader goes away (`--help | true`): no EPIPE stack trace', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    // `true` exits without reading: every write of the help meets a closed pipe.
    const result = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --help | true; "${process.execPath}" "${BIN}" --help | head -c 1 >/dev/null`], { encoding: 'utf8' });
    expect(result.stderr).not.toMatch(/EPIPE|Error|at .*\.js:\d+/);
  });

  it('loads no database driver for --help and list', async () => {
    await seed();
    for (const args of [['--help'], ['list'], ['list', '--org', '42', '--json'], ['delete', '--org', '42', 'org_ACME_monday_backup.zip', '--yes']]) {
      const trace = path.join(dir, `trace-${args.join('_').replace(/[^a-z0-9]/gi, '')}.txt`);
      const result = await runCli(args, { cwd: dir, env: { TB_TRACE_FILE: trace }, nodeArgs: ['--import', path.resolve(import.meta.dirname, '../helpers/trace-loads.mjs')] });
      expect(result.code, result.stderr).toBe(0);
      const loaded = await readFile(trace, 'utf8');
      expect(loaded).toContain('dist/cli/main.js');
      expect(loaded).not.toMatch(DRIVERS);
    }
  });
});

describe('list', () => {
  it('prints nothing but a JSON array under --json', async () => {
    const empty = await runCli(['list', '--json'], { cwd: dir });
    expect(empty).toMatchObject({ code: 0, stdout: '[]\n' });
    await seed();
    const all = await runCli(['list', '--json'], { cwd: dir });
    const records = JSON.parse(all.stdout);
    expect(records.map((r: { organization_id: string }) => r.organization_id)).toEqual(['7', '42']);
    expect(Object.keys(records[0]).sort()).toEqual([
      'backup_date',
      'backup_filename',
      'backup_path',
      'backup_size',
      'backup_type',
      'created_at',
      'day_of_week',
      'error_message',
      'id',
      'kind',
      'organization_code',
      'organization_id',
      'organization_name',
      'sha256',
      'status',
      'tenant',
      'updated_at',
      'user_id',
    ]);
    const one = JSON.parse((await runCli(['list', '--org', '42', '--json'], { cwd: dir })).stdout);
    expect(one.map((r: { backup_filename: string }) => r.backup_filename)).toEqual(['org_ACME_monday_backup.zip']);
  });

  it('prints a table per owner with file, type, time made and human size', async () => {
    await seed();
    const result = await runCli(['list'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Organization 42\b[^\n]*\n {2}File +Type +Made +Size \/ status\n {2}org_ACME_monday_backup\.zip +\S+ +2026-11-23 \d\d:\d\d +2\.00 KiB$/m);
  });

  it('refuses a corrupt ledger with its file name (exit 6) and leaves it as it was', async () => {
    await mkdir(storage, { recursive: true });
    await writeFile(path.join(storage, 'ledger.json'), '{oops');
    const result = await runCli(['list'], { cwd: dir });
    expect(result.code).toBe(6);
    expect(result.stderr).toContain(path.join(storage, 'ledger.json'));
    expect(await readFile(path.join(storage, 'ledger.json'), 'utf8')).toBe('{oops');
  });
});

describe('delete', () => {
  it('needs --yes when there is no terminal, and changes nothing without it', async () => {
    await seed();
    const result = await runCli(['delete', '--org', '42', 'org_ACME_monday_backup.zip'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--yes');
    await expect(stat(path.join(storage, 'organizations/org_ACME_monday_backup.zip'))).resolves.toBeTruthy();
  });

  it('removes the archive and its record', async () => {
    await seed();
    const result = await runCli(['delete', '--org', '42', 'org_ACME_monday_backup.zip', '--yes', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ action: 'deleted', backup_filename: 'org_ACME_monday_backup.zip' });
    await expect(stat(path.join(storage, 'organizations/org_ACME_monday_backup.zip'))).rejects.toThrow();
    const remaining = JSON.parse((await runCli(['list', '--json'], { cwd: dir })).stdout);
    expect(remaining.map((r: { organization_id: string }) => r.organization_id)).toEqual(['7']);
  });

  it('accepts a path to the archive inside the store', async () => {
    await seed();
    const result = await runCli(['delete', '--org', '42', './backups/organizations/org_ACME_monday_backup.zip', '--yes'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
  });

  it("refuses another organization's backup (exit 4), a path traversal (exit 2) and an unknown name (exit 3)", async () => {
    await seed();
    const foreign = await runCli(['delete', '--org', '42', 'org_GLOBEX_monday_backup.zip', '--yes'], { cwd: dir });
    expect(foreign.code).toBe(4);
    expect(foreign.stderr).toMatch(/does not belong to organization 42/);
    const traversal = await runCli(['delete', '--org', '42', '../ledger.json', '--yes'], { cwd: dir });
    expect(traversal.code).toBe(2);
    const outside = await runCli(['delete', '--org', '42', path.join(dir, '.backuprc'), '--yes'], { cwd: dir });
    expect(outside.code).toBe(2);
    const missing = await runCli(['delete', '--org', '42', 'org_ACME_friday_backup.zip', '--yes'], { cwd: dir });
    expect(missing.code).toBe(3);
    expect(JSON.parse((await runCli(['list', '--json'], { cwd: dir })).stdout)).toHaveLength(2);
    await expect(stat(path.join(storage, 'organizations/org_GLOBEX_monday_backup.zip'))).resolves.toBeTruthy();
  });

  it("refuses a tenant's file for another tenant by its exact name", async () => {
    await mkdir(path.join(storage, 'tenant-databases'), { recursive: true });
    await writeFile(path.join(storage, 'tenant-databases/acme-eu_2026-11-21_19-04-00.zip'), 'x');
    const result = await runCli(['delete', 'acme', 'acme-eu_2026-11-21_19-04-00.zip', '--yes'], { cwd: dir });
    expect(result.code).toBe(4);
    const own = await runCli(['delete', 'acme-eu', 'acme-eu_2026-11-21_19-04-00.zip', '--yes'], { cwd: dir });
    expect(own.code, own.stderr).toBe(0);
  });
});
