/**
 * `tenant-backup ledger init` and `ledger migrate --from json` on PostgreSQL, MariaDB and SQLite:
 * a JSON ledger of a few thousand records (generated in the tool's format) is copied once — every
 * record, its backup type, its host and the organizations' switches — a second run copies nothing
 * more, and `list --json` prints the same records from either ledger.
 */
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { frozenClock } from '../../src/retention/clock.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase, type TestEngine } from '../helpers/databases.js';
import { generateJsonLedger } from '../helpers/ledger-generator.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
  await removeTempDirs();
});

for (const engine of ['postgres', 'mysql', 'sqlite'] as TestEngine[]) {
  describe(`ledger migrate --from json into ${engine}`, () => {
    it('copies every record once, keeps ids, types, hosts and switches; list --json is unchanged', async () => {
      const db = await createTestDatabase(engine, 'tb_migrate');
      databases.push(db);
      const dir = await makeTempDir('tb-migrate-');
      const store = path.join(dir, 'backups');
      const generated = await generateJsonLedger(store, { records: 3000, organizations: 40, tenants: 10, host: (await import('node:os')).hostname() });
      const json = new JsonFileLedger(store, frozenClock('2026-11-27T08:00:00Z'));
      await json.setOrganizationSettings('3', { auto_backup_enabled: false });
      const secret = engine === 'sqlite' ? undefined : (db.connection as ServerConnection).password;
      const connection = engine === 'sqlite' ? db.connection : { ...(db.connection as ServerConnection), password: '${LEDGER_PW}' };
      const env = secret ? { LEDGER_PW: secret } : {};
      const base = { storage: { dir: './backups' }, timezone: 'UTC' };
      await writeFile(path.join(dir, 'json.backuprc'), JSON.stringify(base), { mode: 0o600 });
      await writeFile(path.join(dir, 'db.backuprc'), JSON.stringify({ ...base, ledger: { type: 'database', client: db.client, connection } }), { mode: 0o600 });
      const cli = (args: string[], config: string) => runCli([...args, '--config', config], { cwd: dir, env });

      const sql = await cli(['ledger', 'init', '--sql'], 'db.backuprc');
      expect(sql.code, sql.stderr).toBe(0);
      expect(sql.stdout).toMatch(/CREATE TABLE IF NOT EXISTS ["`]auto_backup_logs["`]/);
      expect((await cli(['ledger', 'init', '--json'], 'json.backuprc')).code).toBe(2);

      const first = await cli(['ledger', 'migrate', '--from', 'json', '--json'], 'db.backuprc');
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ copied: generated.records, skipped: 0, settings: 1 });
      const again = await cli(['ledger', 'migrate', '--from', 'json', '--json'], 'db.backuprc');
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, skipped: generated.records, settings: 0 });
      expect(Number(((await db.knex()('auto_backup_logs').count({ n: '*' }).first()) as { n: number | string }).n)).toBe(generated.records);

      // Every record, as `list --json` prints it, from either ledger.
      const fromJson = await cli(['list', '--json'], 'json.backuprc');
      const fromDb = await cli(['list', '--json'], 'db.backuprc');
      expect(fromDb.code, fromDb.stderr).toBe(0);
      expect(fromDb.stdout).toBe(fromJson.stdout);
      expect(JSON.parse(fromDb.stdout)).toHaveLength(generated.records);
      const status = await cli(['status', '--org', '3', '--json'], 'db.backuprc');
      expect(JSON.parse(status.stdout)).toMatchObject({ auto_backup_enabled: false });
      // New records continue after the copied ids.
      const next = await db.knex()('auto_backup_logs').max({ id: 'id' }).first();
      expect(Number((next as { id: number | string }).id)).toBe(generated.nextId - 1);
      if (secret) expect(`${first.stdout}${first.stderr}${fromDb.stderr}`).not.toContain(secret);
    }, 120_000);
  });
}

describe('ledger migrate --from json without a JSON ledger', () => {
  it('says there was none to copy (exit 0, found: false), and creates no JSON ledger', async () => {
    const dir = await makeTempDir('tb-migrate-none-');
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', ledger: { type: 'database', client: 'better-sqlite3', connection: { filename: './ledger.sqlite' } } }),
    );
    const text = await runCli(['ledger', 'migrate', '--from', 'json'], { cwd: dir });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^No JSON ledger at .*ledger\.json: nothing to copy\.$/m);
    const json = await runCli(['ledger', 'migrate', '--from', 'json', '--json'], { cwd: dir });
    expect(JSON.parse(json.stdout)).toMatchObject({ found: false, copied: 0, skipped: 0, settings: 0 });
    expect(existsSync(path.join(dir, 'backups', 'ledger.json'))).toBe(false);
  });
});

describe('the database ledger inside the organizations database', () => {
  it("SQLite: refused unless the database is in WAL mode; then backups never include the ledger's own tables", async () => {
    const dir = await makeTempDir('tb-inside-');
    const { copyFile } = await import('node:fs/promises');
    const BetterSqlite3 = (await import('better-sqlite3')).default;
    await copyFile(path.join(import.meta.dirname, '../../fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await writeFile(
      path.join(dir, '.backuprc'),
      JSON.stringify({
        storage: { dir: './backups' },
        timezone: 'UTC',
        organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
        ledger: { type: 'database' },
      }),
    );
    const refused = await runCli(['backup', '--org', '1', '--json'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot share the organizations database .* WAL/);
    const db = new BetterSqlite3(path.join(dir, 'app.sqlite'));
    db.pragma('journal_mode = WAL');
    db.close();
    for (let i = 0; i < 2; i += 1) {
      const backup = await runCli(['backup', '--org', '1', '--json'], { cwd: dir });
      expect(backup.code, backup.stderr).toBe(0);
      const tables = (JSON.parse(backup.stdout) as { tables: Array<{ table: string }> }).tables.map((t) => t.table);
      expect(tables).toContain('customers');
      expect(tables).not.toContain('auto_backup_logs');
      expect(tables).not.toContain('auto_backup_settings');
    }
    const restored = await runCli(['restore', '--org', '1', 'latest', '--yes', '--json'], { cwd: dir });
    expect(restored.code, restored.stderr).toBe(0);
    const list = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout) as Array<{ status: string }>;
    // The restore left the ledger as it was: both backups and the restore's own record are there.
    expect(list.filter((r) => r.status === 'success').length).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
