/**
 * `restore --org … --dry-run` runs every check the restore runs and ends as it would (issue 9,
 * point 0b), and rows a restore would remove without putting them back — a table created after the
 * backup — are named, and need --allow-removing-new-tables (point 3). Through the real CLI: exit
 * codes, warnings above the table, the compact table, --file for an archive outside the store.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const SCHEMA = [
  'CREATE TABLE organizations (id INTEGER PRIMARY KEY, code VARCHAR(20))',
  'CREATE TABLE notes (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, body VARCHAR(40), FOREIGN KEY (organization_id) REFERENCES organizations (id))',
  'CREATE TABLE tags (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, FOREIGN KEY (organization_id) REFERENCES organizations (id))',
  "INSERT INTO organizations VALUES (1, 'acme'), (2, 'globex')",
  "INSERT INTO notes VALUES (1, 1, 'one'), (2, 1, 'two'), (3, 2, 'other')",
];

describe.each(['postgres', 'mysql', 'sqlite'] as const)('organization restore dry runs on %s', (engine) => {
  let db: TestDatabase;
  let dir: string;
  let archive: string;
  const k = () => db.knex();
  const cli = (...args: string[]) => runCli([...args, '--config', path.join(dir, '.backuprc')], { cwd: dir });
  const rows = async () => ({ notes: await k()('notes').select().orderBy('id'), organizations: await k()('organizations').select().orderBy('id') });

  beforeAll(async () => {
    db = await createTestDatabase(engine, 'tb_dry');
    for (const statement of SCHEMA) await k().raw(statement);
    dir = await makeTempDir('tb-dry-');
    const raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: db.client, connection: db.connection } };
    await writeFile(path.join(dir, '.backuprc'), JSON.stringify(raw), { mode: 0o600 });
    const backup = await cli('backup', '--org', '1', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    archive = JSON.parse(backup.stdout).record.backup_filename as string;
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDirs();
  });

  it('a table created after the backup: named in a warning above the table, refused without the flag, removed with it', async () => {
    await k().raw('CREATE TABLE client_notes (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, FOREIGN KEY (organization_id) REFERENCES organizations (id))');
    await k().raw('INSERT INTO client_notes VALUES (1, 1), (2, 1), (3, 2)');
    await k().raw("UPDATE notes SET body = 'edited' WHERE id = 1");
    const before = { ...(await rows()), client_notes: await k()('client_notes').select().orderBy('id') };

    const dry = await cli('restore', '--org', '1', archive, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const flat = (text: string) => text.replace(/\s*\n\s*/g, ' ');
    expect(flat(dry.stdout)).toMatch(/^warning: table client_notes is not in the archive \(created after the backup\?\): 2 rows of organization 1 would be removed/);
    expect(dry.stdout).toMatch(/client_notes \(not in archive\)\s+2\s+0/);
    // Compact: no rules between rows; tables without rows either way folded into one line.
    expect(dry.stdout).not.toMatch(/[─│┼]/);
    expect(dry.stdout).toMatch(/1 more table without rows of the organization, before or after: tags\./);
    const dryJson = JSON.parse((await cli('restore', '--org', '1', archive, '--dry-run', '--json')).stdout);
    expect(dryJson.removed_tables).toEqual([{ table: 'client_notes', rows: 2 }]);

    const refused = await cli('restore', '--org', '1', archive, '--yes');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not hold table "client_notes" \(2 rows\).*--allow-removing-new-tables.*Nothing was changed/s);
    expect({ ...(await rows()), client_notes: await k()('client_notes').select().orderBy('id') }).toEqual(before);

    const allowed = await cli('restore', '--org', '1', archive, '--yes', '--allow-removing-new-tables');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(flat(allowed.stdout)).toMatch(/^warning: table client_notes is not in the archive .* 2 rows of organization 1 were removed and not put back\./);
    expect((await k()('client_notes').select('id').orderBy('id')).map((r: { id: number }) => r.id)).toEqual([3]);
    expect((await k()('notes').where({ id: 1 }).first()).body).toBe('one');
    await k().raw('DROP TABLE client_notes');
  });

  it('a column renamed after the backup: the dry run fails exactly as the restore would', async () => {
    await k().raw(engine === 'mysql' ? 'ALTER TABLE notes CHANGE body text_body VARCHAR(40)' : 'ALTER TABLE notes RENAME COLUMN body TO text_body');
    const before = await k()('notes').select().orderBy('id');
    const dry = await cli('restore', '--org', '1', archive, '--dry-run');
    const real = await cli('restore', '--org', '1', archive, '--yes');
    expect(dry.code).toBe(1);
    expect(real.code).toBe(1);
    for (const result of [dry, real]) expect(result.stderr).toMatch(/table "notes" has no column "body" any more/);
    expect(await k()('notes').select().orderBy('id')).toEqual(before);
    await k().raw(engine === 'mysql' ? 'ALTER TABLE notes CHANGE text_body body VARCHAR(40)' : 'ALTER TABLE notes RENAME COLUMN text_body TO body');
  });

  it('an archive outside the store: refused with the way to restore it, accepted with --file (and still checked)', async () => {
    const outside = path.join(dir, 'copy.zip');
    await copyFile(path.join(dir, 'backups/organizations', archive), outside);
    const refused = await cli('restore', '--org', '1', './copy.zip', '--dry-run');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not inside the store folder .*--file \.\/copy\.zip/s);
    const dry = await cli('restore', '--org', '1', '--file', './copy.zip', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: copy\.zip/);
    const wrongOrg = await cli('restore', '--org', '2', '--file', outside, '--yes');
    expect(wrongOrg.code).toBe(4);
    await k().raw("UPDATE notes SET body = 'changed' WHERE id = 2");
    const restored = await cli('restore', '--org', '1', '--file', outside, '--yes');
    expect(restored.code, restored.stderr).toBe(0);
    expect((await k()('notes').where({ id: 2 }).first()).body).toBe('two');
  });
});
