/**
 * Notifications through the real CLI, against real receivers on loopback: a webhook that answers
 * 500 twice then 200, healthchecks-style pings, a receiver that never answers (the backup still
 * ends with its own exit code, within the delivery bound), `backup --all` with one failing tenant,
 * `auto --org` on the demo database, and `notify test`. Tenants are real SQLite databases.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { startHttpRecorder, startSilentServer, type HttpRecorder } from '../helpers/notify-servers.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const HOOK = '/services/T0001/B0002/slackTOKEN0123456789';
const ACME_PING = '/ping/0d8f6c1e-acme-4f7a-9e51-7c2b3a4d5e6f';
const RUN_PING = '/ping/9a8b7c6d-run0-4e3f-8a2b-1c0d9e8f7a6b';
const ORG_PING = '/ping/1b2c3d4e-org1-4f5a-8b6c-7d8e9f0a1b2c';
const SECRETS = ['slackTOKEN0123456789', '0d8f6c1e-acme-4f7a-9e51-7c2b3a4d5e6f', '9a8b7c6d-run0-4e3f-8a2b-1c0d9e8f7a6b', '1b2c3d4e-org1-4f5a-8b6c-7d8e9f0a1b2c'];

let dir: string;
let servers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await makeTempDir('tb-notify-cli-');
  for (const tenant of ['acme', 'globex']) {
    const db = new Database(path.join(dir, `${tenant}.sqlite`));
    db.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO notes (note) VALUES ('${tenant} 1'), ('${tenant} 2');`);
    db.close();
  }
  await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
  return removeTempDirs;
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function configure(notifications: Record<string, unknown>): Promise<void> {
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({
      storage: { dir: './backups' },
      timezone: 'UTC',
      tenants: {
        acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } },
        globex: { client: 'better-sqlite3', connection: { filename: './globex.sqlite' } },
        broken: { client: 'better-sqlite3', connection: { filename: './missing/broken.sqlite' } },
      },
      organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
      notifications: { retryDelaySeconds: 0.05, ...notifications },
    }),
  );
}

async function recorder(plan?: Parameters<typeof startHttpRecorder>[0]): Promise<HttpRecorder> {
  const server = await startHttpRecorder(plan);
  servers.push(server);
  return server;
}

const cli = (args: string[]) => runCli(args, { cwd: dir });
const newest = async (tenant: string) =>
  (JSON.parse((await cli(['list', tenant, '--json'])).stdout) as { status: string; error_message: string | null; backup_filename: string }[])[0];
const noSecrets = (...texts: string[]) => {
  for (const text of texts) for (const secret of SECRETS) expect(text).not.toContain(secret);
};

describe('notifications from the CLI', () => {
  it('backup <tenant>: pings start and success, and the webhook is retried after 500, 500 until 200', async () => {
    const server = await recorder((n, request) => (request.path === HOOK && server.requests.filter((r) => r.path === HOOK).length <= 2 ? 500 : 200));
    await configure({ webhook: { url: server.url(HOOK), on: ['failure', 'success'] }, ping: { tenants: { acme: server.url(ACME_PING) } } });
    const result = await cli(['backup', 'acme']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const record = await newest('acme');
    expect(record).toMatchObject({ status: 'success', error_message: null });

    const pings = server.requests.filter((r) => r.path.startsWith('/ping/'));
    expect(pings.map((r) => [r.method, r.path])).toEqual([
      ['POST', `${ACME_PING}/start`],
      ['POST', ACME_PING],
    ]);
    expect(pings[1]!.body).toContain(`Backup of tenant "acme" succeeded on `);
    const hooks = server.requests.filter((r) => r.path === HOOK);
    expect(hooks).toHaveLength(3);
    expect(new Set(hooks.map((r) => r.body)).size).toBe(1); // the same event, three times
    expect(JSON.parse(hooks[2]!.body)).toMatchObject({
      event: 'success',
      target: 'tenant "acme"',
      kind: 'database',
      tenant: 'acme',
      file: record!.backup_filename,
      size: expect.any(Number),
      error: null,
      host: expect.any(String),
      time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      text: expect.stringContaining(`:white_check_mark: Backup of tenant "acme" succeeded`),
    });
  });

  it('a receiver that never answers: the backup keeps its own exit code, stderr and the ledger say the delivery failed', async () => {
    const silent = await startSilentServer();
    servers.push(silent);
    await configure({ timeoutSeconds: 1, retries: 1, webhook: { url: silent.url(HOOK), on: ['failure', 'success'] } });
    const ok = await cli(['backup', 'acme', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ action: 'created', record: { status: 'success' } });
    expect(ok.stderr).toMatch(/^warning: notification failed: webhook http:\/\/127\.0\.0\.1:\d+\/… \(success, 2 attempts\): no answer within 1 s\n$/);
    const record = await newest('acme');
    expect(record!.status).toBe('success');
    expect(record!.error_message).toMatch(/^notification failed: webhook http:\/\/127\.0\.0\.1:\d+\/… \(success, 2 attempts\): no answer within 1 s$/);
    expect(silent.requests()).toBe(2);

    const broken = await cli(['backup', 'broken']);
    const plain = await runCli(['backup', 'broken', '--config', await plainConfig()], { cwd: dir });
    expect(broken.code).toBe(plain.code);
    expect(broken.code).toBe(8);
    expect(broken.stderr).toContain('notification failed: webhook');
    expect(broken.stderr).toContain(plain.stderr.trim());
    noSecrets(ok.stdout, ok.stderr, broken.stdout, broken.stderr, JSON.stringify(record));
  });

  it('a failed backup sends its error and the command to retry; its exit code is unchanged', async () => {
    const server = await recorder();
    await configure({ webhook: { url: server.url(HOOK) } });
    const result = await cli(['backup', 'broken']);
    expect(result.code).toBe(8);
    const [hook] = server.requests;
    const event = JSON.parse(hook!.body) as Record<string, string>;
    expect(event).toMatchObject({ event: 'failure', tenant: 'broken', retry: `tenant-backup --config ${path.join(dir, '.backuprc')} backup broken` });
    expect(event.error).toMatch(/^CONNECTION: The SQLite database file of tenant "broken" does not exist/);
    expect(server.requests).toHaveLength(1);
    // A typo is refused (exit 2) before anything is attempted: nothing to report.
    const typo = await cli(['backup', 'acmee']);
    expect(typo.code).toBe(2);
    expect(server.requests).toHaveLength(1);
  });

  it('backup --all: every tenant, one summary, exit 1, each failure recorded; the run pings its own URL', async () => {
    const server = await recorder();
    await configure({ webhook: { url: server.url(HOOK) }, ping: { backupAll: server.url(RUN_PING), tenants: { acme: server.url(ACME_PING) } } });
    const result = await cli(['backup', '--all', '--concurrency', '2']);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(
      lines
        .slice(0, 3)
        .map((line) => line.split(' ').slice(1, 4).join(' '))
        .sort(),
    ).toEqual(['tenant acme created', 'tenant broken failed', 'tenant globex created']);
    expect(lines[3]).toMatch(/^\S+Z summary 2 created, 1 failed$/);
    expect(result.stderr).toMatch(/1 of 3 tenants failed/);
    // The broken tenant could not even start: its failure is in the ledger all the same.
    expect(await newest('broken')).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/does not exist/) });

    const paths = server.requests.map((r) => r.path);
    expect(paths[0]).toBe(`${RUN_PING}/start`);
    expect(paths.filter((p) => p.startsWith(ACME_PING))).toEqual([`${ACME_PING}/start`, ACME_PING]);
    const fail = server.requests.find((r) => r.path === `${RUN_PING}/fail`);
    expect(fail?.body).toMatch(/^:x: backup --all on .*: 2 created, 1 failed\.\n• tenant "broken": CONNECTION: /);
    // The run's end comes after every tenant's own ping.
    expect(paths.indexOf(`${RUN_PING}/fail`)).toBeGreaterThan(paths.lastIndexOf(ACME_PING));
    // Webhook: one summary for the run, not one message per tenant.
    const hooks = server.requests.filter((r) => r.path === HOOK).map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(hooks).toHaveLength(1);
    expect(hooks[0]).toMatchObject({ event: 'failure', kind: 'run', target: 'backup --all', summary: { created: 2, skipped: 0, failed: 1 } });

    const json = await cli(['backup', '--all', '--json']);
    const objects = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(objects.at(-1)).toMatchObject({ summary: { created: 2, failed: 1 } });
    expect(objects.slice(0, -1).map((o) => [o.tenant, o.action])).toEqual([
      ['acme', 'created'],
      ['globex', 'created'],
      ['broken', 'failed'],
    ]);
  });

  it('auto --org: pings the organization when a backup was made; a skip sends nothing', async () => {
    const server = await recorder();
    await configure({ webhook: { url: server.url(HOOK), on: ['failure', 'success'] }, ping: { organizations: { '1': server.url(ORG_PING) } } });
    const made = await cli(['auto', '--org', '1', '--role', 'admin']);
    expect(made.code, made.stderr).toBe(0);
    expect(server.requests.map((r) => r.path)).toEqual(expect.arrayContaining([ORG_PING, HOOK]));
    expect(server.requests).toHaveLength(2);
    expect(JSON.parse(server.requests.find((r) => r.path === HOOK)!.body)).toMatchObject({
      event: 'success',
      kind: 'organization',
      organization_id: '1',
      file: expect.stringMatching(/^org_acme_\w+_backup\.zip$/),
    });
    const skipped = await cli(['auto', '--org', '1', '--role', 'admin', '--json']);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ action: 'skipped', reason: 'already_done' });
    expect(server.requests).toHaveLength(2);
  });

  it('auto --detach: the detached child sends the notification of the backup it made', async () => {
    const server = await recorder();
    await configure({ ping: { organizations: { '2': server.url(ORG_PING) } } });
    const started = await cli(['auto', '--org', '2', '--detach', '--json']);
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ action: 'started' });
    const deadline = Date.now() + 30_000;
    while (server.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.requests.map((r) => r.path)).toEqual([ORG_PING]);
    expect(server.requests[0]!.body).toMatch(/^:white_check_mark: Backup of organization 2 succeeded on .*: org_\w+_\w+_backup\.zip \(/);
  });

  it('notify test: reports each channel, exit 1 when one fails, no secret printed', async () => {
    const server = await recorder();
    const silent = await startSilentServer();
    servers.push(silent);
    await configure({ timeoutSeconds: 0.5, retries: 0, webhook: { url: server.url(HOOK) }, ping: { tenants: { acme: silent.url(ACME_PING) } } });
    const result = await cli(['notify', 'test']);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      `ok      webhook ${server.url('/…')} (1 attempt)`,
      `FAILED  ping ping.tenants.acme ${silent.url('/…')} (1 attempt): no answer within 0.5 s`,
    ]);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ event: 'test', kind: 'test' });
    const json = await cli(['notify', 'test', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      results: [
        { kind: 'webhook', ok: true },
        { kind: 'ping', ok: false },
      ],
    });
    noSecrets(result.stdout, result.stderr, json.stdout);

    await configure({});
    const none = await cli(['notify', 'test']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/No notification channel is configured/);
  });
});

/** The same configuration without notifications (to compare exit codes and messages). */
async function plainConfig(): Promise<string> {
  const file = path.join(dir, 'plain.json');
  await writeFile(
    file,
    JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', tenants: { broken: { client: 'better-sqlite3', connection: { filename: './missing/broken.sqlite' } } } }),
  );
  return file;
}
