/**
 * Database-per-tenant backup and restore on a real PostgreSQL 15 with the real pg_dump / psql.
 * Round trip of schemas, tables, a view, sequences, an enum, a function, a procedure, a trigger
 * and exotic values, compared with checksums computed inside the database; atomic failed
 * restores (broken dump, input failing mid-stream); secrets never on an argv, in the ledger, in
 * errors or in the archive; preflight errors that change nothing.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { resolveConfig } from '../../src/config/load.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps, type Progress } from '../../src/core/context.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { PG_DUMP_ARGS, PSQL_RESTORE_ARGS, libpqEnv, postgresDumpEngine } from '../../src/engines/dump-postgres.js';
import { serverParams } from '../../src/engines/dump-types.js';
import { ConfigError, ConnectionError, ForbiddenTargetError, OperationError, TenantBackupError, ToolMissingError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { createTestDatabase, serverInfo, withTempDir, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/servers.js';
import { archiveWithDump, entryText } from '../helpers/tenant-archives.js';

let acme: TestDatabase;
let globex: TestDatabase;
let dir: string;
let cleanup: () => Promise<void>;
let storage: string;
let clock: ReturnType<typeof frozenClock>;
const password = () => serverInfo('postgres').password;

beforeEach(async () => {
  ({ dir, cleanup } = await withTempDir('tb-tenant-pg-'));
  storage = path.join(dir, 'storage');
  clock = frozenClock('2026-11-21T19:04:00Z');
  [acme, globex] = await Promise.all([createTestDatabase('postgres', 'acme'), createTestDatabase('postgres', 'globex')]);
  await createSchema(acme.knex());
  await createSchema(globex.knex());
});
afterEach(async () => {
  await Promise.all([acme.drop(), globex.drop()]);
  await cleanup();
});

async function makeDeps(tenants?: Record<string, unknown>, progress?: Progress): Promise<Deps> {
  const config = resolveConfig(
    {
      storage: { dir: storage },
      timezone: 'UTC',
      tenants: tenants ?? {
        acme: { client: 'pg', connection: { ...(acme.connection as ServerConnection) } },
        globex: { client: 'pg', connection: { ...(globex.connection as ServerConnection) } },
      },
    },
    path.join(dir, '.backuprc'),
  );
  return createDeps({ config, clock, ...(progress ? { progress } : {}) });
}

async function createSchema(k: Knex): Promise<void> {
  await k.raw(`
    CREATE SCHEMA billing;
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
    CREATE TABLE customers (
      id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE, mood mood, created_at timestamptz(6) NOT NULL
    );
    CREATE TABLE billing.invoices (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      customer_id bigint REFERENCES customers (id),
      no bigint NOT NULL DEFAULT nextval('invoice_no'),
      amount numeric(40, 20), big bigint, data bytea, doc jsonb, raw_doc json,
      ts timestamp(6), tstz timestamptz(6), note text, tags text[]
    );
    CREATE TABLE audit (id serial PRIMARY KEY, invoice_id bigint, action text NOT NULL);
    CREATE FUNCTION audit_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO audit (invoice_id, action) VALUES (NEW.id, TG_OP); RETURN NEW; END
    $$;
    CREATE TRIGGER invoices_audit AFTER INSERT ON billing.invoices FOR EACH ROW EXECUTE FUNCTION audit_invoice();
    CREATE VIEW billing.invoice_totals AS SELECT customer_id, sum(amount) AS total, count(*) AS n FROM billing.invoices GROUP BY customer_id;
    CREATE PROCEDURE rename_customer(p_id bigint, p_name text) LANGUAGE sql AS $$ UPDATE customers SET name = p_name WHERE id = p_id $$;
    CREATE INDEX invoices_doc ON billing.invoices USING gin (doc);
  `);
  await k.raw(`
    INSERT INTO customers (name, email, mood, created_at) VALUES
      ('Ada', 'ada@example.com', 'happy', '2026-01-02 03:04:05.123456+00'),
      ('', NULL, NULL, '1970-01-01 00:00:00.000001+00'),
      (E'emoji 😀 ctl \\x01\\x07\\t\\n tail', 'ünï@example.com', 'sad', '2262-04-11 23:47:16.854775+00');
    INSERT INTO billing.invoices (customer_id, amount, big, data, doc, raw_doc, ts, tstz, note, tags) VALUES
      (1, '12345678901234567890.12345678901234567890', 9223372036854775807, '\\x00ff00ff7f', '{"a": [1, 2, {"b": null}], "e": "é"}',
       '{ "z": 1,   "a": 2 }', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.123456+02', 'note', '{a,"b c",NULL}'),
      (2, '-0.00000000000000000001', -9223372036854775808, '\\x', '{}', 'null', '1970-01-01 00:00:00.000001', NULL, '', '{}'),
      (3, NULL, 9007199254740993, NULL, NULL, NULL, NULL, '2262-04-11 23:47:16.854775+00', NULL, NULL);
  `);
}

/** Everything that must come back: row checksums per table (computed by PostgreSQL), sequences, schema objects. */
async function fingerprint(k: Knex): Promise<Record<string, unknown>> {
  const rows = async (sql: string) => (await k.raw(sql)).rows as Array<Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  const tables = await rows(`SELECT schemaname AS s, tablename AS t FROM pg_tables WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2`);
  for (const { s, t } of tables) {
    const [sum] = await rows(`SELECT count(*) AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS md5 FROM "${s}"."${t}" x`);
    out[`table ${s}.${t}`] = sum;
  }
  const sequences = await rows(`SELECT schemaname AS s, sequencename AS q FROM pg_sequences WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2`);
  for (const { s, q } of sequences) out[`sequence ${s}.${q}`] = (await rows(`SELECT last_value, is_called FROM "${s}"."${q}"`))[0];
  out.relations = await rows(
    `SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'billing', 'added_later') ORDER BY 1, 2`,
  );
  out.columns = await rows(
    `SELECT table_schema, table_name, column_name, data_type, column_default, is_nullable, is_identity FROM information_schema.columns WHERE table_schema IN ('public', 'billing') ORDER BY 1, 2, ordinal_position`,
  );
  out.functions = await rows(
    `SELECT p.proname, pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'billing') ORDER BY 1`,
  );
  out.views = await rows(`SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname IN ('public', 'billing') ORDER BY 1, 2`);
  out.triggers = await rows(`SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`);
  out.enum = await rows(`SELECT enumlabel FROM pg_enum ORDER BY enumsortorder`);
  out.schemas = await rows(`SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' ORDER BY 1`);
  return out;
}

async function mutate(k: Knex): Promise<void> {
  await k.raw(`
    UPDATE customers SET name = 'changed', mood = 'ok' WHERE id = 1;
    DELETE FROM billing.invoices WHERE id = 2;
    INSERT INTO billing.invoices (customer_id, amount) VALUES (1, 1);
    SELECT nextval('invoice_no'), nextval('invoice_no');
    DROP VIEW billing.invoice_totals;
    DROP TABLE audit CASCADE;
    CREATE TABLE audit (id int);
    CREATE OR REPLACE FUNCTION audit_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    ALTER TYPE mood ADD VALUE 'angry';
    CREATE SCHEMA added_later;
    CREATE TABLE added_later.t (id int);
    CREATE TABLE later_child (id int PRIMARY KEY, customer_id bigint REFERENCES customers (id));
    CREATE VIEW later_view AS SELECT c.name, i.amount FROM customers c JOIN billing.invoices i ON i.customer_id = c.id;
    CREATE FUNCTION later_fn(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1';
  `);
}

/** A `tenant` archive whose dump.sql is `sql`, with valid checksums (as the tool would write it). */
async function storageSnapshot(): Promise<string[]> {
  const files = await fsp.readdir(storage, { recursive: true }).catch(() => [] as string[]);
  return files.filter((f) => !f.startsWith('locks')).sort();
}

describe('PostgreSQL tenant backup and restore', () => {
  it('round trip: every table checksum, sequence and schema object equal after restore; safety backup first', async () => {
    const updates: string[] = [];
    const progress: Progress = { update: (t) => updates.push(t), note: () => undefined, stop: () => undefined };
    const deps = await makeDeps(undefined, progress);
    const original = await fingerprint(acme.knex());
    const backup = await backupTenant(deps, { tenant: 'acme' });
    expect(backup.record).toMatchObject({ kind: 'database', tenant: 'acme', organization_id: null, status: 'success' });
    expect(backup.dump_tool).toMatch(/^pg_dump \(PostgreSQL\) 15\./);
    expect(fs.statSync(backup.record.backup_path).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(backup.record.backup_path)).mode & 0o777).toBe(0o700);
    expect(updates.some((u) => /Tenant acme: .* dumped, \d\d:\d\d elapsed/.test(u))).toBe(true);
    const sql = await entryText(backup.record.backup_path);
    expect(sql).toContain('DROP TABLE IF EXISTS billing.invoices;');
    expect(sql).not.toMatch(/OWNER TO|GRANT /);

    await mutate(acme.knex());
    expect(await fingerprint(acme.knex())).not.toEqual(original);
    const mutated = await fingerprint(acme.knex());

    clock.set('2026-11-21T19:05:00Z');
    const result = await restoreTenant(deps, { tenant: 'acme', backup: backup.record.backup_filename });
    expect(result.action).toBe('restored');
    expect(await fingerprint(acme.knex())).toEqual(original);
    if (result.action !== 'restored') throw new Error('unreachable');
    expect(result.safety_backup?.backup_filename).toBe('acme_2026-11-21_19-05-00.zip');
    expect(await deps.ledger.backupTypeOf(result.safety_backup!.id)).toBe('pre_restore');

    // The values themselves, as the driver sees them.
    const inv = (await acme.knex().raw(`SELECT amount::text, big::text, encode(data, 'hex') AS data, raw_doc::text, ts::text, tstz::text FROM billing.invoices ORDER BY id`)).rows;
    expect(inv[0]).toMatchObject({ amount: '12345678901234567890.12345678901234567890', big: '9223372036854775807', data: '00ff00ff7f', raw_doc: '{ "z": 1,   "a": 2 }' });
    expect(inv[0].ts).toBe('2026-01-02 03:04:05.123456');
    // The sequence continues where it was at backup time.
    expect((await acme.knex().raw(`SELECT nextval('invoice_no') AS v`)).rows[0].v).toBe('1021');

    // The safety backup holds the mutated state.
    clock.set('2026-11-21T19:06:00Z');
    await restoreTenant(deps, { tenant: 'acme', backup: result.safety_backup!.backup_filename, safetyBackup: false });
    expect(await fingerprint(acme.knex())).toEqual(mutated);
  });

  it('a dump that fails half-way leaves the database exactly as before (one transaction)', async () => {
    const deps = await makeDeps();
    const good = await backupTenant(deps, { tenant: 'acme' });
    const sql = await entryText(good.record.backup_path);
    // Cut before the last COPY: by then tables were dropped, recreated and partly loaded.
    const cut = sql.lastIndexOf('\nCOPY ');
    expect(cut).toBeGreaterThan(sql.indexOf('DROP TABLE IF EXISTS'));
    await archiveWithDump(deps, 'acme_2026-11-20_10-00-00.zip', 'acme', `${sql.slice(0, cut)}\nSELECT this_function_does_not_exist();\n`, 'postgres');

    await mutate(acme.knex());
    const before = await fingerprint(acme.knex());
    clock.set('2026-11-21T19:05:00Z');
    const error = await restoreTenant(deps, { tenant: 'acme', backup: 'acme_2026-11-20_10-00-00.zip' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    const message = (error as Error).message;
    expect(message).toMatch(/psql failed \(exit code 3\).*this_function_does_not_exist/s);
    expect(message).toMatch(/Nothing was changed: PostgreSQL rolled the whole load back\. The safety backup taken just before is acme_2026-11-21_19-05-00\.zip/);
    expect(await fingerprint(acme.knex())).toEqual(before);
  });

  it('input failing mid-stream (e.g. a checksum error at its end) never commits: psql is killed first', async () => {
    const deps = await makeDeps();
    const good = await backupTenant(deps, { tenant: 'acme' });
    const sql = await entryText(good.record.backup_path);
    await mutate(acme.knex());
    const before = await fingerprint(acme.knex());
    const failing = new Readable({ read() {} });
    failing.push(sql.slice(0, sql.lastIndexOf('\nCOPY ')));
    setTimeout(() => failing.destroy(new Error('simulated checksum mismatch at the end of dump.sql')), 300);
    const target = { tenant: 'acme', client: 'pg' as const, connection: { ...(acme.connection as ServerConnection) } };
    await expect(postgresDumpEngine.restoreDatabase(target, failing)).rejects.toThrow(/simulated checksum mismatch/);
    expect(await fingerprint(acme.knex())).toEqual(before);
    void deps;
  });

  it('keeps the password off every argv while pg_dump runs, and out of the ledger, archive and errors', async () => {
    await acme.knex().raw(`CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 200000) g`);
    const deps = await makeDeps();
    const secret = password();
    let stop = false;
    let samples = 0;
    let sawDump = 0;
    const leaks: string[] = [];
    const sampler = (async () => {
      while (!stop) {
        samples += 1;
        for (const pid of await fsp.readdir('/proc').catch(() => [] as string[])) {
          if (!/^\d+$/.test(pid)) continue;
          const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmdline.includes('pg_dump')) sawDump += 1;
          if (cmdline.includes(secret)) leaks.push(cmdline.replace(/\0/g, ' '));
        }
      }
    })();
    let backup;
    try {
      backup = await backupTenant(deps, { tenant: 'acme' });
    } finally {
      stop = true;
      await sampler;
    }
    expect(leaks).toEqual([]);
    expect(sawDump).toBeGreaterThan(0); // the sampler did see pg_dump running
    expect(samples).toBeGreaterThan(1);
    expect(fs.readFileSync(path.join(storage, 'ledger.json'), 'utf8')).not.toContain(secret);
    const reader = await ArchiveReader.open(backup.record.backup_path);
    expect(JSON.stringify(reader.manifest)).not.toContain(secret);
    await reader.close();
    expect(await entryText(backup.record.backup_path)).not.toContain(secret);
  });

  it('cancelling a running dump stops pg_dump, removes the temp file and records the failure', async () => {
    await acme.knex().raw(`CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 200000) g`);
    const controller = new AbortController();
    const progress: Progress = { update: (t) => (/dumped/.test(t) ? controller.abort() : undefined), note: () => undefined, stop: () => undefined };
    const deps = await makeDeps(undefined, progress);
    const error = await backupTenant(deps, { tenant: 'acme', signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantBackupError);
    expect((error as TenantBackupError).code).toBe('CANCELLED');
    expect(fs.readdirSync(path.join(storage, 'tenant-databases'))).toEqual([]);
    const [record] = await deps.ledger.find({ tenant: 'acme' });
    expect(record).toMatchObject({ status: 'failed', error_message: expect.stringMatching(/cancel/i) });
    // pg_dump's session ends (it was killed, not left running).
    const sessions = async () =>
      Number((await globex.knex().raw(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ? AND application_name = 'tenant-backup'`, [acme.name])).rows[0].n);
    for (let i = 0; i < 50 && (await sessions()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await sessions()).toBe(0);
  });

  it('works with a URL connection, and a wrong password is a ConnectionError that does not quote it', async () => {
    const c = acme.connection as ServerConnection;
    const url = `postgres://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`;
    const deps = await makeDeps({ acme: { client: 'pg', connection: url } });
    const ok = await backupTenant(deps, { tenant: 'acme' });
    expect(ok.record.status).toBe('success');
    expect(fs.readFileSync(path.join(storage, 'ledger.json'), 'utf8')).not.toContain(c.password);

    const wrong = `Wr0ng-${Math.random().toString(36).slice(2)}-pässword`;
    for (const connection of [{ ...c, password: wrong }, `postgres://${c.user}:${encodeURIComponent(wrong)}@${c.host}:${c.port}/${c.database}`]) {
      const bad = await makeDeps({ acme: { client: 'pg', connection } });
      const before = await storageSnapshot();
      const error = await backupTenant(bad, { tenant: 'acme' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as Error).message).toMatch(/password authentication failed/);
      expect(JSON.stringify({ message: (error as Error).message, details: (error as TenantBackupError).details })).not.toContain(wrong);
      expect(JSON.stringify({ message: (error as Error).message })).not.toContain(encodeURIComponent(wrong));
      expect(await storageSnapshot()).toEqual(before);
    }
  });

  it('preflight errors change nothing: missing tool, old tool, unreachable server, unknown tenant', async () => {
    const deps = await makeDeps();
    const before = await fingerprint(acme.knex());
    const empty = path.join(dir, 'empty-bin');
    fs.mkdirSync(empty);
    const missing = await backupTenant(deps, { tenant: 'acme', searchPath: empty }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ToolMissingError);
    expect((missing as Error).message).toMatch(/"pg_dump" was not found on PATH.*apt-get install postgresql-client-15/);

    // A PATH with pg_dump but no psql: restore needs both, and says so before doing anything.
    const dumpOnly = path.join(dir, 'dump-only');
    fs.mkdirSync(dumpOnly);
    fs.symlinkSync('/usr/bin/pg_dump', path.join(dumpOnly, 'pg_dump'));
    // An archive to restore (made with the normal PATH).
    const good = await backupTenant(deps, { tenant: 'acme' });
    const snapshot = await storageSnapshot();
    const noPsql = await restoreTenant(deps, { tenant: 'acme', backup: good.record.backup_filename, searchPath: dumpOnly }).catch((e: unknown) => e);
    expect(noPsql).toBeInstanceOf(ToolMissingError);
    expect((noPsql as Error).message).toMatch(/"psql" was not found/);

    // A pg_dump older than the server.
    const oldBin = path.join(dir, 'old-bin');
    fs.mkdirSync(oldBin);
    fs.writeFileSync(path.join(oldBin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n', { mode: 0o755 });
    const old = await backupTenant(deps, { tenant: 'acme', searchPath: oldBin }).catch((e: unknown) => e);
    expect(old).toBeInstanceOf(TenantBackupError);
    expect((old as TenantBackupError).code).toBe('TOOL_MISSING');
    expect((old as Error).message).toMatch(/older than the PostgreSQL 15\.[^\n]* server.*postgresql-client-15/);

    const port = await freePort();
    const closed = await makeDeps({ acme: { client: 'pg', connection: { ...(acme.connection as ServerConnection), port } } });
    const unreachable = await backupTenant(closed, { tenant: 'acme' }).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(ConnectionError);
    expect((unreachable as Error).message).toMatch(/ECONNREFUSED/);
    expect((unreachable as Error).message).not.toContain(password());
    const unreachableRestore = await restoreTenant(closed, { tenant: 'acme', backup: good.record.backup_filename }).catch((e: unknown) => e);
    expect(unreachableRestore).toBeInstanceOf(ConnectionError);

    await expect(backupTenant(deps, { tenant: 'initech' })).rejects.toBeInstanceOf(ConfigError);
    await expect(restoreTenant(deps, { tenant: 'initech', backup: good.record.backup_filename })).rejects.toBeInstanceOf(ConfigError);

    expect(await storageSnapshot()).toEqual(snapshot);
    expect(await deps.ledger.find()).toHaveLength(1);
    expect(await fingerprint(acme.knex())).toEqual(before);
  });

  it("refuses another tenant's archive before anything changes", async () => {
    const deps = await makeDeps();
    const other = await backupTenant(deps, { tenant: 'globex' });
    await archiveWithDump(deps, 'acme_2026-11-20_10-00-00.zip', 'globex', await entryText(other.record.backup_path), 'postgres');
    await mutate(acme.knex());
    const before = await fingerprint(acme.knex());
    const snapshot = await storageSnapshot();
    clock.set('2026-11-21T19:05:00Z');
    for (const backup of [other.record.backup_filename, 'acme_2026-11-20_10-00-00.zip']) {
      const error = await restoreTenant(deps, { tenant: 'acme', backup }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForbiddenTargetError);
      expect((error as Error).message).toMatch(/backup of tenant "globex"; refusing to restore it into tenant "acme"/);
    }
    expect(await storageSnapshot()).toEqual(snapshot);
    expect(await fingerprint(acme.knex())).toEqual(before);
  });
});

describe('PostgreSQL argument builders (pure)', () => {
  it('keep connection data in the env and off the argv', () => {
    expect(PG_DUMP_ARGS).toEqual(['--format=plain', '--clean', '--if-exists', '--no-owner', '--no-privileges', '--no-password']);
    expect(PSQL_RESTORE_ARGS).toEqual(['--no-psqlrc', '--quiet', '--no-password', '--set=ON_ERROR_STOP=1']);
    const params = serverParams('postgres://app:p%40ss%3Aw@db.example:6543/acme?sslmode=require', 'acme');
    expect(params).toEqual({ host: 'db.example', port: 6543, user: 'app', password: 'p@ss:w', database: 'acme', sslmode: 'require' });
    expect(libpqEnv(params)).toEqual({
      PGHOST: 'db.example', PGPORT: '6543', PGUSER: 'app', PGDATABASE: 'acme', PGPASSWORD: 'p@ss:w', PGSSLMODE: 'require',
      PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'tenant-backup',
    });
    expect(serverParams({ host: 'h', port: '5433', user: 'u', database: 'd' }, 'acme')).toEqual({ host: 'h', port: 5433, user: 'u', database: 'd' });
    expect(() => serverParams('not a url', 'acme')).toThrow(ConfigError);
  });
});
