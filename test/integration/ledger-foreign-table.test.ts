/**
 * A table of the ledger's name that is not the ledger's: the application's own `auto_backup_logs`
 * (the record's 15 columns, `unique(organization_id, day_of_week)`, as the original system made it)
 * is refused by `ledger init` and by a backup — exit 2, naming the missing columns and the unique
 * key, pointing at `ledger.table` — and nothing in it changes. With `ledger.table` naming a table
 * of the ledger's own, the backup then works beside it. PostgreSQL, MariaDB and SQLite.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase, type TestEngine } from '../helpers/databases.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const db of databases) await db.drop();
  await removeTempDirs();
});

for (const engine of ['postgres', 'mysql', 'sqlite'] as TestEngine[]) {
  describe(`an application's own auto_backup_logs on ${engine}`, () => {
    it('is refused by ledger init and by a backup (exit 2, what differs named), unchanged; ledger.table gives the ledger its own', async () => {
      const db = await createTestDatabase(engine, 'tb_foreign');
      databases.push(db);
      const knex = db.knex();
      await knex.schema.createTable('auto_backup_logs', (t) => {
        t.increments('id');
        for (const column of ['kind', 'organization_id', 'tenant', 'user_id', 'day_of_week', 'backup_filename', 'backup_path']) t.string(column, 191);
        t.bigInteger('backup_size').defaultTo(0);
        t.string('sha256', 64);
        t.string('status', 16);
        t.text('error_message');
        t.date('backup_date');
        t.timestamps();
        t.unique(['organization_id', 'day_of_week'], { indexName: 'unique_org_day_backup' });
      });
      const row = {
        kind: 'organization',
        organization_id: '1',
        user_id: '7',
        day_of_week: 'monday',
        backup_filename: 'a.zip',
        backup_path: '/x/a.zip',
        backup_size: 5,
        status: 'success',
        backup_date: '2026-11-23',
      };
      await knex('auto_backup_logs').insert(row);
      const snapshot = async () => ({
        columns: Object.keys(await knex('auto_backup_logs').columnInfo()).sort(),
        rows: await knex('auto_backup_logs').select('*'),
        settings: await knex.schema.hasTable('auto_backup_settings'),
      });
      const before = await snapshot();
      expect(before.columns).toHaveLength(15);

      const dir = await makeTempDir('tb-foreign-');
      await copyFile(path.join(import.meta.dirname, '../../fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
      const secret = engine === 'sqlite' ? undefined : (db.connection as ServerConnection).password;
      const connection = engine === 'sqlite' ? db.connection : { ...(db.connection as ServerConnection), password: '${LEDGER_PW}' };
      const config = (ledger: object) => ({
        storage: { dir: './backups' },
        timezone: 'UTC',
        organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
        ledger: { type: 'database', client: db.client, connection, ...ledger },
      });
      await writeFile(path.join(dir, 'theirs.backuprc'), JSON.stringify(config({})), { mode: 0o600 });
      await writeFile(path.join(dir, 'own.backuprc'), JSON.stringify(config({ table: 'tb_backup_logs', settingsTable: 'tb_backup_settings' })), { mode: 0o600 });
      const cli = (args: string[], file: string) => runCli([...args, '--config', file, '--json'], { cwd: dir, env: secret ? { LEDGER_PW: secret } : {} });

      for (const args of [
        ['ledger', 'init'],
        ['backup', '--org', '1'],
      ]) {
        const refused = await cli(args, 'theirs.backuprc');
        expect(refused.code, `${args.join(' ')}: ${refused.stderr}`).toBe(2);
        const error = JSON.parse(refused.stderr.trim().split('\n').at(-1)!) as { error: { message: string } };
        expect(error.error.message).toMatch(/"auto_backup_logs" lacks the columns backup_type, host, run_pid, run_lock, daily_slot/);
        expect(error.error.message).toMatch(/unique key "unique_org_day_backup" \(organization_id, day_of_week\)/);
        expect(error.error.message).toMatch(/"table": "tenant_backup_logs"/);
        expect(error.error.message).toMatch(/ALTER TABLE .auto_backup_logs. ADD COLUMN backup_type/);
        expect(refused.stdout).toBe('');
        if (secret) expect(refused.stderr).not.toContain(secret);
        expect(await snapshot()).toEqual(before);
      }

      const own = await cli(['backup', '--org', '1'], 'own.backuprc');
      expect(own.code, own.stderr).toBe(0);
      const list = JSON.parse((await cli(['list', '--org', '1'], 'own.backuprc')).stdout) as Array<{ status: string }>;
      expect(list.map((r) => r.status)).toEqual(['success']);
      expect(await snapshot()).toEqual(before);
    }, 60_000);
  });
}
