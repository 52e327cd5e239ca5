/**
 * Secrets in error messages and in the configuration file (issue 18, points 4 and 6), on the
 * real PostgreSQL server:
 * - a password with unencoded `@ / #` substituted into a connection URL made drivers read part of
 *   it as a host name and echo it ("getaddrinfo ENOTFOUND …"): such a URL is refused (exit 2)
 *   before any connection, and no piece of the password shows anywhere;
 * - a `.backuprc` holding a password in clear and readable by others gets one warning;
 * - a server message quoting a 2 MiB value back is redacted in linear time and shown capped.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import { backupOrganization } from '../../src/core/backup-organization.js';
import { MAX_MESSAGE_CHARS } from '../../src/errors.js';
import { checksumOrganization } from '../helpers/checksums.js';
import { runCli } from '../helpers/cli.js';
import { type ServerConnection } from '../helpers/databases.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords as storedRecords } from '../helpers/ledger-files.js';

/** Pieces a driver could take for a host, a path or a fragment: none may show anywhere. */
const PIECES = ['Zq7xAlpha', 'evilhostKp9', 'Wx3zFrag'];
const SPECIAL_PASSWORD = `${PIECES[0]}@${PIECES[1]}/${PIECES[2]}#tail`;

describe('secrets of connection URLs', () => {
  let bed: OrgBed;
  let server: ServerConnection;
  beforeAll(async () => {
    bed = await createOrgBed('postgres');
    server = bed.db.connection as ServerConnection;
  }, 120_000);
  afterAll(async () => {
    await bed?.db.drop();
    await removeTempDirs();
  });

  /** A store with a config whose connections are the given URLs (`${DB_PW}` substituted). */
  async function configWith(organizationsUrl: string, tenantUrl: string): Promise<string> {
    const dir = await makeTempDir('tb-secret-');
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({
        storage: { dir: './store' },
        timezone: 'UTC',
        organizations: { client: 'pg', connection: organizationsUrl },
        tenants: { acme: { client: 'pg', connection: tenantUrl } },
      }),
      { mode: 0o600 },
    );
    return dir;
  }

  const ledgerRecords = async (dir: string) => storedRecords(path.join(dir, 'store'));

  it('refuses a URL whose password holds unencoded @ / # (exit 2), showing no piece of it, recording nothing', async () => {
    const url = `postgres://${server.user}:\${DB_PW}@${server.host}:${server.port}/${server.database}`;
    const dir = await configWith(url, url);
    for (const args of [
      ['backup', '--org', '1'],
      ['backup', 'acme'],
      ['restore', 'acme', 'acme_2026-01-01_00-00-00.zip', '--yes'],
      ['auto', '--org', '1'],
    ]) {
      for (const json of [[], ['--json']]) {
        const result = await runCli([...args, ...json], { cwd: dir, env: { DB_PW: SPECIAL_PASSWORD } });
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toMatch(/is not a usable connection URL: the user name or password holds an unencoded /);
        for (const piece of PIECES) expect(result.stdout + result.stderr).not.toContain(piece);
      }
    }
    expect(await ledgerRecords(dir)).toEqual([]);
  });

  it('connects with the same password percent-encoded, and never shows it', async () => {
    const encoded = encodeURIComponent(SPECIAL_PASSWORD);
    const url = (database: string) => `postgres://${server.user}:\${DB_PW}@${server.host}:${server.port}/${database}`;
    const dir = await configWith(url(server.database), url('no_such_database_here'));
    // The server's password is not this one: authentication fails (exit 8), the message names
    // the server but no piece of the password, in any form.
    const refused = await runCli(['backup', '--org', '1'], { cwd: dir, env: { DB_PW: encoded } });
    expect(refused.code, refused.stderr).toBe(8);
    for (const piece of [...PIECES, encoded]) expect(refused.stderr).not.toContain(piece);
    const records = JSON.stringify(await ledgerRecords(dir));
    for (const piece of [...PIECES, encoded]) expect(records).not.toContain(piece);
  });

  it('refuses an organizations URL with an invalid port like a tenant one: exit 2, nothing recorded', async () => {
    for (const port of ['99999', '54x2', '0']) {
      const url = `postgres://${server.user}:\${DB_PW}@${server.host}:${port}/${server.database}`;
      const dir = await configWith(url, url);
      for (const args of [
        ['backup', '--org', '1'],
        ['auto', '--org', '1'],
        ['backup', 'acme'],
      ]) {
        const result = await runCli(args, { cwd: dir, env: { DB_PW: server.password } });
        expect(result.code, `${port} ${args.join(' ')}: ${result.stderr}`).toBe(2);
        expect(result.stderr).toMatch(/connection is not a usable connection URL: the port is not a number from 1 to 65535/);
        expect(result.stderr).not.toContain(server.password);
      }
      expect(await ledgerRecords(dir)).toEqual([]);
    }
    // The object form: a port that is not one is refused the same way.
    const dir = await makeTempDir('tb-secret-');
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify({ storage: { dir: './store' }, organizations: { client: 'pg', connection: { ...server, port: 'abc' } } }), {
      mode: 0o600,
    });
    const result = await runCli(['backup', '--org', '1'], { cwd: dir });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/organizations\.connection\.port is not a port number/);
    expect(await ledgerRecords(dir)).toEqual([]);
  });

  it('warns once when .backuprc holds a password in clear and others may read it', async () => {
    const warning = /^warning: .*\.backuprc holds a password in clear and is readable by other users \(mode 0644\): run chmod 600/m;
    const literal = await configWith(`postgres://${server.user}:${server.password}@${server.host}:${server.port}/${server.database}`, 'postgres://u@h/db');
    const file = path.join(literal, '.backuprc');
    await chmod(file, 0o644);
    const readable = await runCli(['list'], { cwd: literal });
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stderr).toMatch(warning);
    expect(readable.stderr.match(/^warning:/gm)).toHaveLength(1);
    expect(readable.stderr).not.toContain(server.password);
    // Under --json stderr stays JSON: the warning is an object on its own line.
    const json = await runCli(['list', '--json'], { cwd: literal });
    expect(json.code, json.stderr).toBe(0);
    const objects = json.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { warning?: string });
    expect(objects).toHaveLength(1);
    expect(objects[0]!.warning).toMatch(/holds a password in clear and is readable by other users/);
    await chmod(file, 0o600);
    expect((await runCli(['list'], { cwd: literal })).stderr).toBe('');

    // The object form, and a password taken from the environment (no warning).
    const objectForm = await makeTempDir('tb-secret-');
    const write = (password: string) =>
      writeFile(path.join(objectForm, '.backuprc'), JSON.stringify({ storage: { dir: './store' }, organizations: { client: 'pg', connection: { ...server, password } } }), {
        mode: 0o644,
      });
    await write(server.password);
    await chmod(path.join(objectForm, '.backuprc'), 0o644);
    expect((await runCli(['list'], { cwd: objectForm })).stderr).toMatch(/^warning: .* holds a password in clear/m);
    await write('${DB_PW}');
    await chmod(path.join(objectForm, '.backuprc'), 0o644);
    expect((await runCli(['list'], { cwd: objectForm })).stderr).toBe('');
  });
});

describe('a server message quoting a 2 MiB value', () => {
  let bed: OrgBed;
  beforeAll(async () => {
    bed = await createOrgBed('postgres');
  }, 120_000);
  afterAll(async () => {
    await bed?.db.drop();
    await removeTempDirs();
  });

  it('is redacted in linear time and shown capped; the restore changes nothing', async () => {
    const backup = await backupOrganization(bed.deps, { organizationId: '1' });
    const dir = path.dirname(backup.record.backup_path);
    const crafted = 'org_acme_crafted_backup.zip';
    const huge = 'x'.repeat(2 * 1024 * 1024);
    // A numeric column sent to the server as text: PostgreSQL quotes the invalid value back
    // (twice: the message and the COPY context).
    const reader = await ArchiveReader.open(backup.record.backup_path);
    const writer = await ArchiveWriter.open(path.join(dir, crafted));
    const entries = [];
    for (const entry of reader.manifest.entries) {
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.openEntry(entry.path)) chunks.push(chunk as Buffer);
      let text = Buffer.concat(chunks).toString('utf8');
      if (entry.table === 'customers') {
        const column = entry.columns!.findIndex((c) => c.name === 'credit_limit');
        const [first, ...rest] = text.split('\n');
        const row = JSON.parse(first!) as unknown[];
        row[column] = huge;
        text = [JSON.stringify(row), ...rest].join('\n');
      }
      entries.push({ ...entry, ...(await writer.addEntry(entry.path, Buffer.from(text))) });
    }
    await writer.finish({ ...reader.manifest, entries });
    await reader.close();

    const before = await checksumOrganization(bed.db.knex(), 'postgres', '1');
    // Killed after 100 s (a quadratic redaction ran for more than 12 minutes): code -1 then.
    const result = await runCli(['restore', '--org', '1', crafted, '--yes', '--json'], { cwd: bed.dir, timeoutMs: 100_000 });
    expect(result.code, result.stderr.slice(0, 2000)).toBe(1);
    const error = JSON.parse(result.stderr.trim().split('\n').pop()!) as { error: { message: string } };
    expect(error.error.message).toMatch(/invalid input syntax for type numeric/);
    expect(error.error.message).toMatch(/characters not shown/);
    expect(error.error.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 100);
    expect(result.stderr.length).toBeLessThan(3 * MAX_MESSAGE_CHARS);
    expect(await checksumOrganization(bed.db.knex(), 'postgres', '1')).toEqual(before);
  }, 180_000);
});
