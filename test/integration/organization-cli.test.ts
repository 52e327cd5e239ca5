/**
 * Organization backups through the real CLI, as operators, cron and scripts use it: exit codes,
 * --json output, secrets, and a backup killed with SIGKILL half-way.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { loadBillingFixture } from '../helpers/fixtures.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerText } from '../helpers/ledger-files.js';

afterAll(removeTempDirs);

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('organization commands on the SQLite demo database', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('tb-orgcli-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
    );
  });

  it('backs up with --json: the result on stdout, nothing else', async () => {
    const result = await runCli(['backup', '--org', '1', '--user', '9', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed).toMatchObject({ action: 'created', organization: { id: '1', code: 'acme' }, record: { status: 'success', user_id: '9' } });
    expect(parsed.tables.map((t: { table: string }) => t.table)).toContain('sale_transaction_items');
    expect(parsed.tables.map((t: { table: string }) => t.table)).not.toContain('currencies');
  });

  it('maps refusals to documented exit codes and changes nothing', async () => {
    const [backup] = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout) as { backup_filename: string }[];
    const name = backup!.backup_filename;
    const before = await sha(path.join(dir, 'app.sqlite'));

    const missingOrg = await runCli(['backup', '--org', '404', '--json'], { cwd: dir });
    expect(missingOrg.code).toBe(3);
    expect(JSON.parse(missingOrg.stderr.trim())).toMatchObject({ error: { code: 'NOT_FOUND', exit_code: 3 } });

    const wrongOrg = await runCli(['restore', '--org', '2', name, '--yes'], { cwd: dir });
    expect(wrongOrg.code).toBe(4);
    expect(wrongOrg.stderr).toMatch(/backup of organization 1; refusing to restore it into organization 2/);

    const noYes = await runCli(['restore', '--org', '1', name], { cwd: dir });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain('--yes');

    const badId = await runCli(['backup', '--org', '1;drop table x'], { cwd: dir });
    expect(badId.code).toBe(2);

    const corrupt = path.join(dir, 'backups/organizations/org_acme_sunday_backup.zip');
    const bytes = await readFile(path.join(dir, 'backups/organizations', name));
    bytes[Math.floor(bytes.length / 4)]! ^= 0x55;
    await writeFile(corrupt, bytes);
    const corrupted = await runCli(['restore', '--org', '1', 'org_acme_sunday_backup.zip', '--yes'], { cwd: dir });
    expect(corrupted.code).toBe(5);
    expect(corrupted.stderr).not.toMatch(/\n\s+at /);

    expect(await sha(path.join(dir, 'app.sqlite'))).toBe(before);
  });

  it('restores with --yes and reports per table', async () => {
    const [backup] = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout) as { backup_filename: string }[];
    const result = await runCli(['restore', '--org', '1', backup!.backup_filename, '--yes'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Restored organization 1 from/);
    expect(result.stdout).toMatch(/sale_transaction_items/);
  });
});

describe('organization backups on PostgreSQL through the CLI', () => {
  let db: TestDatabase;
  let dir: string;
  let password: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres', 'tb_orgcli');
    await loadBillingFixture(db.knex(), 'postgres');
    // Enough rows that a backup takes a moment: the kill test needs to catch one half-way.
    await db.knex().raw(`INSERT INTO customers (organization_id, name, currency_code, balance)
      SELECT 1, 'bulk ' || g || repeat('x', 200), 'EUR', g FROM generate_series(1, 300000) g`);
    dir = await makeTempDir('tb-orgcli-pg-');
    password = (db.connection as ServerConnection).password;
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({
        storage: { dir: './backups' },
        timezone: 'UTC',
        compressionLevel: 6,
        organizations: { client: 'pg', connection: { ...(db.connection as ServerConnection), password: '${APP_DB_PASSWORD}' } },
      }),
    );
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('a backup killed with SIGKILL half-way leaves the previous archive and its record intact', async () => {
    const env = { APP_DB_PASSWORD: password };
    const first = await runCli(['backup', '--org', '1', '--json'], { cwd: dir, env });
    expect(first.code, first.stderr).toBe(0);
    const previous = JSON.parse(first.stdout).record as { backup_path: string; id: number; sha256: string };
    const previousSha = await sha(previous.backup_path);
    expect(previousSha).toBe(previous.sha256);
    const folder = path.dirname(previous.backup_path);

    const child = spawn(process.execPath, [BIN, 'backup', '--org', '1'], { cwd: dir, env: { ...process.env, ...env }, stdio: 'ignore' });
    // Wait until the new archive is being written (its temp file exists and grows), then kill.
    const deadline = Date.now() + 30_000;
    let temp: string | undefined;
    while (!temp && Date.now() < deadline) {
      temp = (await readdir(folder)).find((name) => name.endsWith('.tmp'));
      if (!temp) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(temp, 'the second backup never started writing').toBeDefined();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    expect(await sha(previous.backup_path)).toBe(previousSha);
    const listed = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir, env })).stdout) as {
      id: number;
      status: string;
      sha256: string;
      error_message: string;
    }[];
    expect(listed.find((r) => r.id === previous.id)).toMatchObject({ status: 'success', sha256: previousSha });
    const interrupted = listed.find((r) => r.id !== previous.id);
    expect(interrupted).toMatchObject({ status: 'failed' });
    expect(interrupted!.error_message).toMatch(/Interrupted/);

    // The next run cleans the dead run's temp file and succeeds.
    const again = await runCli(['backup', '--org', '1', '--json'], { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect((await readdir(folder)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('keeps the password out of output, errors and the ledger, and maps a wrong one to exit 8', async () => {
    const ok = await runCli(['backup', '--org', '2', '--json'], { cwd: dir, env: { APP_DB_PASSWORD: password } });
    expect(ok.code, ok.stderr).toBe(0);
    const wrong = await runCli(['backup', '--org', '2', '--json'], { cwd: dir, env: { APP_DB_PASSWORD: `${password}-wrong` } });
    expect(wrong.code).toBe(8);
    expect(JSON.parse(wrong.stderr.trim()).error.code).toBe('CONNECTION');
    for (const text of [ok.stdout, ok.stderr, wrong.stdout, wrong.stderr, await ledgerText(path.join(dir, 'backups'))]) {
      expect(text).not.toContain(password);
    }
    // The refused attempt is recorded as failed (cron's failures show in list and status).
    const records = JSON.parse((await runCli(['list', '--org', '2', '--json'], { cwd: dir })).stdout) as { status: string; error_message: string | null }[];
    expect(records.map((r) => r.status)).toEqual(['failed', 'success']);
    expect(records[0]!.error_message).not.toContain(password);
    const missingVar = await runCli(['backup', '--org', '2'], { cwd: dir, env: { APP_DB_PASSWORD: undefined } });
    expect(missingVar.code).toBe(2);
    expect(missingVar.stderr).toContain('APP_DB_PASSWORD');
  }, 60_000);
});
