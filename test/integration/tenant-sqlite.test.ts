/**
 * Database-per-tenant backup and restore on real SQLite files: the archive holds the database
 * file (entry `database.sqlite`), restores copy it into the live file in one SQLite transaction.
 * The contract every tenant database engine keeps runs from
 * test/contract/database-engine.contract.ts with this file's schema. The cases below are SQLite's
 * own (open application connections see a restore, busy applications, no temp file left beside
 * the database) and the core rules that are cheapest to cover here: names and same-second
 * collisions, weekday rotation, retention.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import knexFactory from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { pruneTenantBackups } from '../../src/core/prune.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { sqliteDumpEngine } from '../../src/engines/sqlite/dump.js';
import { ArchiveError, OperationError } from '../../src/errors.js';
import { describeDatabaseEngineContract, type TenantDatabases } from '../contract/database-engine.contract.js';
import { createTenantBed, handMadeArchive, type TenantBed } from '../helpers/tenant.js';

function createSchema(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE items (
      id INTEGER PRIMARY KEY AUTOINCREMENT, big INTEGER, amount NUMERIC, exact TEXT, ts TEXT,
      data BLOB, doc JSON, label TEXT, ratio REAL
    );
    CREATE TABLE audit (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items (id), action TEXT NOT NULL);
    CREATE VIEW labelled AS SELECT id, label FROM items WHERE label IS NOT NULL;
    CREATE TRIGGER items_audit AFTER INSERT ON items BEGIN INSERT INTO audit (item_id, action) VALUES (NEW.id, 'insert'); END;
    CREATE INDEX items_label ON items (label);
    PRAGMA user_version = 7;
  `);
  const insert = db.prepare('INSERT INTO items (big, amount, exact, ts, data, doc, label, ratio) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  insert.run(
    9223372036854775807n,
    '12345678901234567890.123456789',
    '3.14159265358979323846264338327950288',
    '2026-01-02 03:04:05.123456',
    Buffer.from([0x00, 0xff, 0x00, 0x7f]),
    '{"a":[1,2,{"b":null}],"e":"é"}',
    'emoji 😀 ctl \u0001\u0007\t\n tail',
    0.1,
  );
  insert.run(-9223372036854775808n, null, '', '1970-01-01 00:00:00.000001', Buffer.alloc(0), 'null', '', -0.0);
  insert.run(9007199254740993n, 1e-300, null, null, null, null, null, null);
  insert.run(1n, 2, 'text with NUL \u0000 inside', 'x', Buffer.from('ff00', 'hex'), '[]', 'ünïcödé ✓', 1.5e300);
  db.close();
}

/** Exact content of every table (SQLite `quote()`, ordered by rowid), the schema and user_version. */
function fingerprint(file: string): Record<string, string> {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    const out: Record<string, string> = {};
    const schema = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name').all();
    out['(schema)'] = JSON.stringify(schema);
    out['(user_version)'] = String(db.pragma('user_version', { simple: true }));
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
    for (const { name } of tables) {
      const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as Array<{ name: string }>).map((c) => c.name);
      const expr = columns.map((c) => `quote("${c}") || ':' || typeof("${c}")`).join(` || ',' || `);
      const row = db.prepare(`SELECT count(*) AS n, group_concat(r, char(10)) AS rows FROM (SELECT ${expr} AS r FROM "${name}" ORDER BY rowid)`).get() as {
        n: bigint;
        rows: string | null;
      };
      out[name] = `${row.n}:${row.rows ?? ''}`;
    }
    return out;
  } finally {
    db.close();
  }
}

function mutate(file: string): void {
  const db = new Database(file);
  db.exec(`
    UPDATE items SET label = 'changed', big = 42 WHERE id = 1;
    DELETE FROM audit WHERE item_id = 2;
    DELETE FROM items WHERE id = 2;
    INSERT INTO items (label) VALUES ('new row');
    DROP VIEW labelled;
    CREATE TABLE added_later (id INTEGER PRIMARY KEY);
    PRAGMA user_version = 8;
  `);
  db.close();
}

/** A file that starts like a SQLite database and is not one. */
const brokenDatabase = () => Buffer.from('SQLite format 3\0 but then garbage '.repeat(200));

/** acme and globex, each a database file with the schema above, in `dir`. */
async function createDatabases(dir: string): Promise<TenantDatabases> {
  const files = { acme: path.join(dir, 'acme.sqlite'), globex: path.join(dir, 'globex.sqlite') };
  createSchema(files.acme);
  createSchema(files.globex);
  return {
    tenants: {
      acme: { client: 'better-sqlite3', connection: { filename: files.acme } },
      globex: { client: 'better-sqlite3', connection: { filename: files.globex } },
    },
    fingerprint: async (tenant) => fingerprint(files[tenant]),
    mutate: async (tenant) => mutate(files[tenant]),
    drop: async () => undefined, // the files go with the test's folder
  };
}

describeDatabaseEngineContract('sqlite', {
  engine: sqliteDumpEngine,
  client: 'better-sqlite3',
  create: createDatabases,
  dumpTool: /^SQLite [\d.]+ online backup API/,
  // The entry is a standalone copy of the database.
  checkDump: async (dump, databases, dir) => {
    const copy = path.join(dir, 'copy.sqlite');
    fs.writeFileSync(copy, dump);
    expect(fingerprint(copy)).toEqual(await databases.fingerprint('acme'));
  },
  brokenDump: brokenDatabase,
  failedLoad: /not a healthy SQLite database[\s\S]*Nothing was changed: the SQLite file was not replaced\./,
  // The archive's content is what is wrong: "archive invalid" (exit 5), not an operation failure.
  failedLoadError: ArchiveError,
  unreachable: async (_databases, dir) => ({ filename: path.join(dir, 'missing.sqlite') }),
});

describe('SQLite tenant databases', () => {
  let bed: TenantBed;
  let dbFile: string;
  const tenants = () => ({
    acme: { client: 'better-sqlite3', connection: { filename: dbFile } },
    globex: { client: 'better-sqlite3', connection: { filename: path.join(bed.dir, 'globex.sqlite') } },
  });

  beforeEach(async () => {
    bed = await createTenantBed('tb-tenant-sqlite-');
    await createDatabases(bed.dir);
    dbFile = path.join(bed.dir, 'acme.sqlite');
  });
  afterEach(async () => bed.cleanup());

  describe('SQLite tenant backup', () => {
    it('refuses a second timestamped backup in the same second instead of overwriting', async () => {
      const deps = await bed.deps(tenants());
      const first = await backupTenant(deps, { tenant: 'acme' });
      const before = fs.readFileSync(first.record.backup_path);
      await expect(backupTenant(deps, { tenant: 'acme' })).rejects.toThrow(/already exists.*refusing to overwrite/);
      expect(fs.readFileSync(first.record.backup_path).equals(before)).toBe(true);
      expect(await deps.ledger.find({ tenant: 'acme' })).toHaveLength(1);
    });

    it("with rotate: weekday replaces last week's archive of the same day", async () => {
      const deps = await bed.deps(tenants());
      const first = await backupTenant(deps, { tenant: 'acme', rotate: 'weekday' });
      expect(first.record.backup_filename).toBe('acme_saturday_backup.zip');
      bed.clock.set('2026-11-28T19:04:00Z');
      const second = await backupTenant(deps, { tenant: 'acme', rotate: 'weekday' });
      expect(second.record.backup_filename).toBe('acme_saturday_backup.zip');
      const records = await deps.ledger.find({ tenant: 'acme' });
      expect(records.map((r) => r.id)).toEqual([second.record.id]);
    });

    it('keepLast after successful backups removes the oldest files and records', async () => {
      const deps = await bed.deps(tenants());
      const made = [];
      for (let day = 1; day <= 4; day++) {
        bed.clock.set(`2026-11-0${day}T10:00:00Z`);
        made.push(await backupTenant(deps, { tenant: 'acme', keepLast: 2 }));
      }
      expect(made[2]!.pruned.map((r) => r.backup_filename)).toEqual(['acme_2026-11-01_10-00-00.zip']);
      expect(made[3]!.pruned.map((r) => r.backup_filename)).toEqual(['acme_2026-11-02_10-00-00.zip']);
      expect((await deps.ledger.find({ tenant: 'acme' })).map((r) => r.backup_filename)).toEqual(['acme_2026-11-04_10-00-00.zip', 'acme_2026-11-03_10-00-00.zip']);
      expect(await bed.files()).toEqual(['ledger.json', 'tenant-databases', 'tenant-databases/acme_2026-11-03_10-00-00.zip', 'tenant-databases/acme_2026-11-04_10-00-00.zip']);
    });

    it('prune applies the configured retention (per tenant over top level), with dry-run', async () => {
      const deps = await bed.deps({ ...tenants(), acme: { ...tenants().acme, retention: { keepLast: 1, keepDaily: 2 } } }, { extra: { retention: { keepLast: 3 } } });
      for (const at of ['2026-11-01T08:00:00Z', '2026-11-01T09:00:00Z', '2026-11-02T08:00:00Z', '2026-11-03T08:00:00Z']) {
        bed.clock.set(at);
        await backupTenant(deps, { tenant: 'acme' }); // retention runs after each: keepDaily 2
        await backupTenant(deps, { tenant: 'globex' }); // top level: keepLast 3
      }
      expect((await deps.ledger.find({ tenant: 'acme' })).map((r) => r.backup_filename)).toEqual(['acme_2026-11-03_08-00-00.zip', 'acme_2026-11-02_08-00-00.zip']);
      expect(await deps.ledger.find({ tenant: 'globex' })).toHaveLength(3);

      const dry = await pruneTenantBackups(deps, { keepLast: 1, dryRun: true });
      expect(dry.dry_run).toBe(true);
      expect(dry.removed.map((r) => r.backup_filename).sort()).toEqual(['globex_2026-11-01_09-00-00.zip', 'globex_2026-11-02_08-00-00.zip']);
      expect(await deps.ledger.find({ tenant: 'globex' })).toHaveLength(3);
      const real = await pruneTenantBackups(deps, { tenant: 'globex', keepLast: 1 });
      expect(real.removed).toHaveLength(2);
      expect((await deps.ledger.find({ tenant: 'globex' })).map((r) => r.backup_filename)).toEqual(['globex_2026-11-03_08-00-00.zip']);
      expect(fs.existsSync(path.join(bed.storage, 'tenant-databases', 'globex_2026-11-02_08-00-00.zip'))).toBe(false);
    });
  });

  describe('SQLite tenant restore', () => {
    it('round trip: restores exactly the backed-up database, after a safety backup, seen by open connections', async () => {
      const deps = await bed.deps(tenants());
      const original = fingerprint(dbFile);
      const backup = await backupTenant(deps, { tenant: 'acme' });
      mutate(dbFile);
      expect(fingerprint(dbFile)).not.toEqual(original);

      // An application connection held open across the restore.
      const app = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
      try {
        expect((await app('items').count({ n: '*' }))[0]).toEqual({ n: 4 });
        bed.clock.set('2026-11-21T19:05:00Z');
        const questions: string[] = [];
        const result = await restoreTenant(deps, {
          tenant: 'acme',
          backup: backup.record.backup_filename,
          confirm: async (q) => {
            questions.push(q);
            return true;
          },
        });
        expect(result.action).toBe('restored');
        expect(questions[0]).toMatch(/Replace the whole database of tenant "acme" with acme_2026-11-21_19-04-00\.zip/);
        expect(fingerprint(dbFile)).toEqual(original);
        expect(await app('items').orderBy('id').pluck('id')).toEqual([1, 2, 3, 4]);
        expect(await app.raw("SELECT name FROM sqlite_schema WHERE name = 'added_later'")).toEqual([]);

        if (result.action !== 'restored') throw new Error('unreachable');
        const safety = result.safety_backup!;
        expect(safety.backup_filename).toBe('acme_2026-11-21_19-05-00.zip');
        expect(await deps.ledger.backupTypeOf(safety.id)).toBe('pre_restore');
        const reader = await ArchiveReader.open(safety.backup_path);
        expect(reader.manifest.backup_type).toBe('pre_restore');
        await reader.close();
        // The safety backup holds the mutated state: restoring it brings that back.
        bed.clock.set('2026-11-21T19:06:00Z');
        await restoreTenant(deps, { tenant: 'acme', backup: safety.backup_path, safetyBackup: false });
        expect(await app('items').where({ id: 5 }).first('label')).toEqual({ label: 'new row' });
      } finally {
        await app.destroy();
      }
      expect(fs.readdirSync(bed.dir).filter((f) => f.includes('.restore'))).toEqual([]);
    });

    it('a broken archive (not a database, valid checksums) leaves the database as it was', async () => {
      const deps = await bed.deps(tenants());
      await handMadeArchive(deps, { name: 'acme_2026-11-20_10-00-00.zip', tenant: 'acme', engine: 'sqlite', entryPath: 'database.sqlite', data: brokenDatabase() });
      const before = fingerprint(dbFile);
      const error = await restoreTenant(deps, { tenant: 'acme', backup: 'acme_2026-11-20_10-00-00.zip' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArchiveError);
      expect((error as Error).message).toMatch(/not a healthy SQLite database[\s\S]*Nothing was changed[\s\S]*safety backup taken just before is acme_2026-11-21_19-04-00\.zip/);
      expect(fingerprint(dbFile)).toEqual(before);
      expect(fs.readdirSync(bed.dir).filter((f) => f.includes('.restore'))).toEqual([]);
    });
  });

  describe('SQLite restore against a busy application', () => {
    it('gives up after the busy limit when the application holds a write lock, changing nothing', async () => {
      const deps = await bed.deps(tenants());
      const backup = await backupTenant(deps, { tenant: 'acme', rotate: 'weekday' });
      mutate(dbFile);
      const mutated = fingerprint(dbFile);
      const app = new Database(dbFile);
      app.exec('BEGIN IMMEDIATE; UPDATE items SET label = label;');
      try {
        const started = Date.now();
        const error = await restoreTenant(deps, { tenant: 'acme', backup: backup.record.backup_filename, safetyBackup: false }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OperationError);
        expect((error as Error).message).toMatch(/stayed locked[\s\S]*Nothing was changed/);
        expect(Date.now() - started).toBeLessThan(30_000);
      } finally {
        app.exec('ROLLBACK');
        app.close();
      }
      expect(fingerprint(dbFile)).toEqual(mutated);
    });

    it('waits for a short application write lock, then restores', async () => {
      const deps = await bed.deps(tenants());
      const original = fingerprint(dbFile);
      const backup = await backupTenant(deps, { tenant: 'acme', rotate: 'weekday' });
      mutate(dbFile);
      const app = new Database(dbFile);
      app.exec('BEGIN IMMEDIATE; UPDATE items SET label = label;');
      const release = setTimeout(() => app.exec('COMMIT'), 700);
      try {
        const result = await restoreTenant(deps, { tenant: 'acme', backup: backup.record.backup_filename, safetyBackup: false });
        expect(result.action).toBe('restored');
      } finally {
        clearTimeout(release);
        if (app.inTransaction) app.exec('ROLLBACK');
        app.close();
      }
      expect(fingerprint(dbFile)).toEqual(original);
    });
  });
});
