/**
 * Schema drift between a backup and its restore (issue 9, point 2): each migration below runs
 * after the backup. Those that keep every value exact are accepted — the restored table is then
 * exactly what the migration made of the backed-up rows (ALTER TABLE converts them the canonical
 * way), and `--dry-run` lists the drift; those that could change or lose a value are refused
 * before any change, naming the column and both types.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import type { Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { OperationError } from '../../src/errors.js';
import { checksumTable } from '../helpers/checksums.js';
import { adminKnex, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { orgDepsFor } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

type Engine = 'postgres' | 'mysql' | 'sqlite';
interface Migration {
  name: string;
  /** The column `v` as the backup sees it, and the values of its three rows (SQL literals). */
  type: string;
  values: [string, string, string];
  /** Statements run after the backup. */
  migrate: string[];
  /** Accepted (the drift note the dry run lists must match) or refused (the message must match). */
  accepted?: RegExp;
  refused?: RegExp;
}

const PG: Migration[] = [
  { name: 'integer → bigint', type: 'integer', values: ['2147483647', '-5', '0'], migrate: ['ALTER TABLE things ALTER COLUMN v TYPE bigint'], accepted: /integer → bigint/ },
  {
    name: 'integer → numeric(12,0)',
    type: 'integer',
    values: ['-2147483648', '7', '1'],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE numeric(12,0)'],
    accepted: /integer → numeric\(12,0\)/,
  },
  {
    name: 'varchar(20) → varchar(40)',
    type: 'varchar(20)',
    values: ["'héllo wörld 12345678'", "''", "'x'"],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE varchar(40)'],
    accepted: /character varying\(20\) → character varying\(40\)/,
  },
  {
    name: 'varchar(20) → text',
    type: 'varchar(20)',
    values: ["'a'", "'b'", "'c'"],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE text'],
    accepted: /character varying\(20\) → text/,
  },
  {
    name: 'numeric(10,2) → numeric(14,4)',
    type: 'numeric(10,2)',
    values: ['12345678.91', '-0.01', '0'],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE numeric(14,4)'],
    accepted: /numeric\(10,2\) → numeric\(14,4\)/,
  },
  {
    name: 'timestamp → timestamptz (local times read in the database zone)',
    type: 'timestamp(6)',
    values: ["'2024-03-01 12:34:56.123456'", "'2024-07-01 00:00:00'", "'1999-12-31 23:59:59.999999'"],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE timestamptz(6)'],
    accepted: /timestamp\(6\) without time zone → timestamp\(6\) with time zone, local times read in the database's time zone/,
  },
  { name: 'a new nullable column', type: 'integer', values: ['1', '2', '3'], migrate: ['ALTER TABLE things ADD COLUMN extra text'], accepted: /new column \(text, NULL/ },
  {
    name: 'a new column with a default',
    type: 'integer',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things ADD COLUMN flag integer NOT NULL DEFAULT 7'],
    accepted: /new column \(integer, filled by its default\)/,
  },
  {
    name: 'bigint → integer (refused)',
    type: 'bigint',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE integer'],
    refused: /column "things"\."v": bigint → integer could change or lose a value/,
  },
  {
    name: 'varchar(40) → varchar(10) (refused)',
    type: 'varchar(40)',
    values: ["'a'", "'b'", "'c'"],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE varchar(10)'],
    refused: /column "things"\."v": character varying\(40\) → character varying\(10\) could change or lose a value/,
  },
  {
    name: 'numeric(10,2) → numeric(10,1) (refused)',
    type: 'numeric(10,2)',
    values: ['1.5', '2', '3'],
    migrate: ['ALTER TABLE things ALTER COLUMN v TYPE numeric(10,1)'],
    refused: /numeric\(10,2\) → numeric\(10,1\)/,
  },
  {
    name: 'a new NOT NULL column without a default (refused)',
    type: 'integer',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things ADD COLUMN must integer NOT NULL DEFAULT 0', 'ALTER TABLE things ALTER COLUMN must DROP DEFAULT'],
    refused: /column "things"\."must": new column integer NOT NULL without a default/,
  },
];

const MYSQL: Migration[] = [
  {
    name: 'INT UNSIGNED → BIGINT UNSIGNED (Laravel id widening)',
    type: 'INT UNSIGNED',
    values: ['4294967295', '0', '17'],
    migrate: ['ALTER TABLE things MODIFY v BIGINT UNSIGNED'],
    accepted: /int(\(10\))? unsigned → bigint(\(20\))? unsigned/,
  },
  {
    name: 'INT → DECIMAL(12,0)',
    type: 'INT',
    values: ['-2147483648', '7', '1'],
    migrate: ['ALTER TABLE things MODIFY v DECIMAL(12,0)'],
    accepted: /int(\(11\))? → decimal\(12,0\)/,
  },
  {
    name: 'VARCHAR(20) → VARCHAR(40)',
    type: 'VARCHAR(20)',
    values: ["'héllo wörld 12345678'", "''", "'x'"],
    migrate: ['ALTER TABLE things MODIFY v VARCHAR(40)'],
    accepted: /varchar\(20\) → varchar\(40\)/,
  },
  { name: 'VARCHAR(20) → TEXT', type: 'VARCHAR(20)', values: ["'a'", "'b'", "'c'"], migrate: ['ALTER TABLE things MODIFY v TEXT'], accepted: /varchar\(20\) → text/ },
  {
    name: 'DECIMAL(10,2) → DECIMAL(14,4)',
    type: 'DECIMAL(10,2)',
    values: ['12345678.91', '-0.01', '0'],
    migrate: ['ALTER TABLE things MODIFY v DECIMAL(14,4)'],
    accepted: /decimal\(10,2\) → decimal\(14,4\)/,
  },
  { name: 'a new nullable column', type: 'INT', values: ['1', '2', '3'], migrate: ['ALTER TABLE things ADD COLUMN extra TEXT NULL'], accepted: /new column \(text, NULL/ },
  {
    name: 'a new column with a default',
    type: 'INT',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things ADD COLUMN flag INT NOT NULL DEFAULT 7'],
    accepted: /new column \(int(\(11\))?, filled by its default\)/,
  },
  {
    name: 'BIGINT → INT (refused)',
    type: 'BIGINT',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things MODIFY v INT'],
    refused: /column "things"\."v": bigint(\(20\))? → int(\(11\))? could change or lose a value/,
  },
  {
    name: 'VARCHAR(40) → VARCHAR(10) (refused)',
    type: 'VARCHAR(40)',
    values: ["'a'", "'b'", "'c'"],
    migrate: ['ALTER TABLE things MODIFY v VARCHAR(10)'],
    refused: /varchar\(40\) → varchar\(10\) could change or lose a value/,
  },
  {
    name: 'INT → INT UNSIGNED (refused)',
    type: 'INT',
    values: ['1', '2', '3'],
    migrate: ['ALTER TABLE things MODIFY v INT UNSIGNED'],
    refused: /int(\(11\))? → int(\(10\))? unsigned could change or lose a value/,
  },
];

/** SQLite changes a column's type only by rebuilding the table. */
const rebuild = (type: string) => [
  `CREATE TABLE things_new (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL REFERENCES organizations (id), v ${type})`,
  'INSERT INTO things_new SELECT id, organization_id, v FROM things',
  'DROP TABLE things',
  'ALTER TABLE things_new RENAME TO things',
];
const SQLITE: Migration[] = [
  { name: 'INT → BIGINT (same storage class)', type: 'INT', values: ['9223372036854775807', '-1', '0'], migrate: rebuild('BIGINT'), accepted: /INT → BIGINT/ },
  { name: 'VARCHAR(20) → TEXT (same storage class)', type: 'VARCHAR(20)', values: ["'a'", "'b'", "'c'"], migrate: rebuild('TEXT'), accepted: /VARCHAR\(20\) → TEXT/ },
  { name: 'a new nullable column', type: 'INTEGER', values: ['1', '2', '3'], migrate: ['ALTER TABLE things ADD COLUMN extra TEXT'], accepted: /new column \(TEXT, NULL/ },
  {
    name: 'INTEGER → TEXT (refused: the storage class changes)',
    type: 'INTEGER',
    values: ['1', '2', '3'],
    migrate: rebuild('TEXT'),
    refused: /column "things"\."v": INTEGER → TEXT changes the SQLite storage class/,
  },
];

const MIGRATIONS: Record<Engine, Migration[]> = { postgres: PG, mysql: MYSQL, sqlite: SQLITE };

describe.each(['postgres', 'mysql', 'sqlite'] as const)('schema drift between backup and restore on %s', (engine) => {
  let db: TestDatabase;
  let deps: Deps;
  const k = () => db.knex();

  beforeAll(async () => {
    db = await createTestDatabase(engine, 'tb_drift');
    // Local times of a timestamp column become instants in the database's zone (as ALTER TABLE reads them).
    if (engine === 'postgres') {
      const admin = adminKnex('postgres');
      await admin.raw(`ALTER DATABASE "${db.name}" SET TimeZone = 'Europe/Paris'`).finally(() => admin.destroy());
    }
    deps = await orgDepsFor(db);
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDirs();
  });

  it.each(MIGRATIONS[engine])('$name', async (migration) => {
    const knex = k();
    for (const table of ['things', 'things_new', 'organizations']) await knex.raw(`DROP TABLE IF EXISTS ${table}`);
    await knex.raw('CREATE TABLE organizations (id INTEGER PRIMARY KEY, code VARCHAR(20))');
    await knex.raw(
      `CREATE TABLE things (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, v ${migration.type}, FOREIGN KEY (organization_id) REFERENCES organizations (id))`,
    );
    await knex.raw("INSERT INTO organizations VALUES (1, 'a'), (2, 'b')");
    const [a, b, c] = migration.values;
    await knex.raw(`INSERT INTO things VALUES (1, 1, ${a}), (2, 1, ${b}), (3, 2, ${c})`);
    const backup = await backupOrganization(deps, { organizationId: '1' });
    for (const statement of migration.migrate) await knex.raw(statement);
    const migrated = await checksumTable(knex, engine, 'things');
    await knex.raw('DELETE FROM things WHERE organization_id = 1');
    const changed = await checksumTable(knex, engine, 'things');

    const options = { organizationId: '1', backup: backup.record.backup_filename };
    if (migration.refused) {
      for (const dryRun of [true, false]) {
        const error = await restoreOrganization(deps, { ...options, dryRun }).catch((e: unknown) => e);
        expect(error, `dryRun ${dryRun}`).toBeInstanceOf(OperationError);
        expect((error as Error).message).toMatch(migration.refused);
        expect(await checksumTable(knex, engine, 'things')).toEqual(changed);
      }
      return;
    }
    const dry = await restoreOrganization(deps, { ...options, dryRun: true });
    expect(dry.action).toBe('dry-run');
    if (dry.action !== 'dry-run') return;
    expect(dry.accepted_drift).toHaveLength(1);
    expect(dry.accepted_drift[0]).toMatchObject({ table: 'things' });
    expect(dry.accepted_drift[0]!.change).toMatch(migration.accepted!);
    expect(await checksumTable(knex, engine, 'things')).toEqual(changed);
    const restored = await restoreOrganization(deps, options);
    expect(restored.action).toBe('restored');
    expect(await checksumTable(knex, engine, 'things')).toEqual(migrated);
  });
});
