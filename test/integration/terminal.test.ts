/**
 * At a real terminal (a pseudo-terminal, see helpers/pty.ts): Ctrl-C stops a long command while
 * the spinner spins — exit 130, temp file removed, ledger record failed —, a prompt is never drawn
 * over by the spinner, restore shows its progress, NO_COLOR turns colour off; and under --json a
 * signal leaves nothing on stderr but the JSON error object.
 */
import { spawn } from 'node:child_process';
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { runOnTerminal } from '../helpers/pty.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords } from '../helpers/ledger-files.js';

afterAll(removeTempDirs);

const SGR_COLOUR = /\x1b\[(3\d|9\d|38;)[\d;]*m/;

describe('Ctrl-C on a terminal, spinner spinning (PostgreSQL tenant)', () => {
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const ledger = async () => ({ records: await ledgerRecords(path.join(dir, 'backups')) });
  const leftovers = async () => (await readdir(path.join(dir, 'backups/tenant-databases'))).filter((name) => name.endsWith('.tmp') || name.startsWith('.'));

  beforeAll(async () => {
    db = await createTestDatabase('postgres', 'tb_pty');
    await db.knex().raw(`CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS payload FROM generate_series(1, 400000) g`);
    dir = await makeTempDir('tb-pty-');
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

  it('backup: stops at once with exit 130, the temp file removed and the record failed', async () => {
    const run = runOnTerminal(['backup', 'acme'], { cwd: dir, env });
    await run.waitFor(/Tenant acme: [\d.]+ \w+ dumped, \d\d:\d\d elapsed/);
    run.write('\x03');
    expect(await run.exited).toBe(130);
    expect(run.output()).toMatch(/Interrupted/);
    expect(await leftovers()).toEqual([]);
    expect((await ledger()).records.map((r) => r.status)).toEqual(['failed']);
  }, 120_000);

  it('restore --yes: shows its progress, stops at once with exit 130, the database unchanged', async () => {
    const made = await runCli(['backup', 'acme', '--json'], { cwd: dir, env });
    expect(made.code, made.stderr).toBe(0);
    const name = JSON.parse(made.stdout).record.backup_filename as string;
    await db.knex().raw('INSERT INTO big VALUES (0, $$after the backup$$)');
    const run = runOnTerminal(['restore', 'acme', name, '--yes'], { cwd: dir, env });
    await run.waitFor(new RegExp(`Restoring ${name} into tenant acme: [\\d.]+ \\w+ of [\\d.]+ MiB, \\d\\d:\\d\\d elapsed`));
    run.write('\x03');
    expect(await run.exited).toBe(130);
    expect(run.output()).toMatch(/Interrupted/);
    expect(await leftovers()).toEqual([]);
    expect((await ledger()).records.filter((r) => r.status === 'in_progress')).toEqual([]);
    // PostgreSQL rolled the load back: the row added after the backup is still there.
    expect((await db.knex().raw('SELECT count(*)::int AS n FROM big WHERE id = 0')).rows[0].n).toBe(1);
  }, 120_000);

  it('under --json a signal prints only the JSON error object on stderr', async () => {
    const child = spawn(process.execPath, [BIN, 'backup', 'acme', '--json'], {
      cwd: dir,
      env: { ...process.env, ...env, TENANT_BACKUP_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const folder = path.join(dir, 'backups/tenant-databases');
    const deadline = Date.now() + 30_000;
    while (!(await readdir(folder)).some((n) => n.endsWith('.tmp')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stderr)).toMatchObject({ error: { code: 'CANCELLED', exit_code: 130 } });
  }, 120_000);
});

describe('prompts and colour on a terminal (SQLite demo)', () => {
  let dir: string;
  let archive: string;
  beforeAll(async () => {
    dir = await makeTempDir('tb-pty-demo-');
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
    );
    const made = await runCli(['backup', '--org', '2', '--json'], { cwd: dir });
    expect(made.code, made.stderr).toBe(0);
    archive = JSON.parse(made.stdout).record.backup_filename as string;
  });

  it('stops the spinner before asking: the whole question stays on screen until answered', async () => {
    const run = runOnTerminal(['restore', '--org', '2', archive], { cwd: dir });
    const question = `Replace all data of organization 2 with ${archive}`;
    await run.waitFor(/\[y\/N\] /);
    const shown = run.output().length;
    // The spinner redraws every 80 ms while it spins; nothing may be drawn while the prompt waits.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(
      run
        .output()
        .slice(shown)
        .replace(/\x1b\[\d*G/g, ''),
    ).toBe('');
    const screen = run.output();
    expect(screen.slice(screen.lastIndexOf('\x1b[0J'))).toContain(question);
    run.write('n\r');
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/Cancelled; nothing was changed\./);
  });

  it('Ctrl-C at the prompt ends the command with exit 130, nothing changed', async () => {
    const run = runOnTerminal(['restore', '--org', '2', archive], { cwd: dir });
    await run.waitFor(/\[y\/N\] /);
    run.write('\x03');
    expect(await run.exited).toBe(130);
    expect(run.output()).toMatch(/Interrupted at the prompt; nothing was changed/);
  });

  it('shows a coloured spinner, and none of its colour with NO_COLOR', async () => {
    const coloured = runOnTerminal(['restore', '--org', '2', archive, '--dry-run'], { cwd: dir });
    expect(await coloured.exited).toBe(0);
    expect(coloured.output()).toMatch(SGR_COLOUR);
    const plain = runOnTerminal(['restore', '--org', '2', archive, '--dry-run'], { cwd: dir, env: { NO_COLOR: '1' } });
    expect(await plain.exited).toBe(0);
    expect(plain.output()).toMatch(/Verifying/);
    expect(plain.output()).not.toMatch(SGR_COLOUR);
  });
});
