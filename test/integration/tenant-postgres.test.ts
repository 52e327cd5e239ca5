/**
 * Database-per-tenant backup and restore on a real PostgreSQL 15 with the real pg_dump / psql.
 * The contract every tenant database engine keeps (round trip of schemas, tables, a view,
 * sequences, an enum, a function, a procedure, a trigger and exotic values; failed loads that
 * change nothing; other tenants' archives; unreachable servers) runs from
 * test/contract/database-engine.contract.ts with this file's schema. The cases below are
 * PostgreSQL's own: exact values and sequences as the driver sees them, the password never on an
 * argv, cancelling pg_dump, URLs and wrong passwords, missing or old tools, the argument builders.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import type { Progress } from '../../src/core/context.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { serverParams } from '../../src/engines/connection.js';
import { PG_DUMP_ARGS, PSQL_RESTORE_ARGS, libpqEnv, postgresDumpEngine } from '../../src/engines/postgres/dump.js';
import { ConfigError, ConnectionError, TenantBackupError, ToolMissingError } from '../../src/errors.js';
import { describeDatabaseEngineContract } from '../contract/database-engine.contract.js';
import { serverInfo, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { watchCommandLines } from '../helpers/processes.js';
import { freePort } from '../helpers/servers.js';
import { backupChangeRestore, entryBytes, serverTenantDatabases, tenantBedPerTest, type TenantBed } from '../helpers/tenant.js';
import { ledgerText } from '../helpers/ledger-files.js';

const password = () => serverInfo('postgres').password;

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

/** acme and globex, each a database with the schema above. */
const createDatabases = () => serverTenantDatabases('postgres', { schema: createSchema, fingerprint, mutate });

describeDatabaseEngineContract('postgres', {
  engine: postgresDumpEngine,
  client: 'pg',
  create: createDatabases,
  dumpTool: /^pg_dump \(PostgreSQL\) 15\./,
  checkDump: async (dump) => {
    const sql = dump.toString('utf8');
    expect(sql).toContain('DROP TABLE IF EXISTS billing.invoices;');
    expect(sql).not.toMatch(/OWNER TO|GRANT /);
  },
  // Cut before the last COPY: by then tables were dropped, recreated and partly loaded.
  brokenDump: (good) => {
    const sql = good.toString('utf8');
    const cut = sql.lastIndexOf('\nCOPY ');
    expect(cut).toBeGreaterThan(sql.indexOf('DROP TABLE IF EXISTS'));
    return Buffer.from(`${sql.slice(0, cut)}\nSELECT this_function_does_not_exist();\n`);
  },
  failedLoad: /psql failed \(exit code 3\)[\s\S]*this_function_does_not_exist[\s\S]*Nothing was changed: PostgreSQL rolled the whole load back\./,
  unreachable: async (databases) => ({ ...(databases.tenants.acme.connection as ServerConnection), port: await freePort() }),
});

describe('PostgreSQL tenant backup and restore', () => {
  const current = tenantBedPerTest('tb-tenant-pg-', createDatabases);
  let bed: TenantBed;
  let databases: Awaited<ReturnType<typeof createDatabases>>;
  let acme: TestDatabase;
  let globex: TestDatabase;

  beforeEach(() => {
    bed = current.bed();
    databases = current.databases();
    ({ acme, globex } = databases);
  });

  it('restores exact values, and sequences continue where they were at backup time', async () => {
    await backupChangeRestore(bed, databases);
    // The values themselves, as the driver sees them.
    const inv = (await acme.knex().raw(`SELECT amount::text, big::text, encode(data, 'hex') AS data, raw_doc::text, ts::text, tstz::text FROM billing.invoices ORDER BY id`)).rows;
    expect(inv[0]).toMatchObject({ amount: '12345678901234567890.12345678901234567890', big: '9223372036854775807', data: '00ff00ff7f', raw_doc: '{ "z": 1,   "a": 2 }' });
    expect(inv[0].ts).toBe('2026-01-02 03:04:05.123456');
    // The sequence continues where it was at backup time.
    expect((await acme.knex().raw(`SELECT nextval('invoice_no') AS v`)).rows[0].v).toBe('1021');
  });

  it('keeps the password off every argv while pg_dump runs, and out of the ledger, archive and errors', async () => {
    await acme.knex().raw(`CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 200000) g`);
    const deps = await bed.deps(databases.tenants);
    const secret = password();
    let sawDump = 0;
    const leaks: string[] = [];
    const { result: backup, sweeps } = await watchCommandLines(
      () => backupTenant(deps, { tenant: 'acme' }),
      (cmdline) => {
        if (cmdline.includes('pg_dump')) sawDump += 1;
        if (cmdline.includes(secret)) leaks.push(cmdline.replace(/\0/g, ' '));
      },
    );
    expect(leaks).toEqual([]);
    expect(sawDump).toBeGreaterThan(0); // the sampler did see pg_dump running
    expect(sweeps).toBeGreaterThan(1);
    expect(await ledgerText(bed.storage)).not.toContain(secret);
    const reader = await ArchiveReader.open(backup.record.backup_path);
    expect(JSON.stringify(reader.manifest)).not.toContain(secret);
    await reader.close();
    expect((await entryBytes(backup.record.backup_path, 'dump.sql')).toString('utf8')).not.toContain(secret);
  });

  it('cancelling a running dump stops pg_dump, removes the temp file and records the failure', async () => {
    await acme.knex().raw(`CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 200000) g`);
    const controller = new AbortController();
    const progress: Progress = { update: (t) => (/dumped/.test(t) ? controller.abort() : undefined), note: () => undefined, stop: () => undefined };
    const deps = await bed.deps(databases.tenants, { progress });
    const error = await backupTenant(deps, { tenant: 'acme', signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantBackupError);
    expect((error as TenantBackupError).code).toBe('CANCELLED');
    expect(fs.readdirSync(path.join(bed.storage, 'tenant-databases'))).toEqual([]);
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
    const deps = await bed.deps({ acme: { client: 'pg', connection: url } });
    const ok = await backupTenant(deps, { tenant: 'acme' });
    expect(ok.record.status).toBe('success');
    expect(await ledgerText(bed.storage)).not.toContain(c.password);

    const wrong = `Wr0ng-${Math.random().toString(36).slice(2)}-pässword`;
    for (const connection of [{ ...c, password: wrong }, `postgres://${c.user}:${encodeURIComponent(wrong)}@${c.host}:${c.port}/${c.database}`]) {
      const bad = await bed.deps({ acme: { client: 'pg', connection } });
      const before = await bed.files();
      const error = await backupTenant(bad, { tenant: 'acme' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as Error).message).toMatch(/password authentication failed/);
      expect(JSON.stringify({ message: (error as Error).message, details: (error as TenantBackupError).details })).not.toContain(wrong);
      expect(JSON.stringify({ message: (error as Error).message })).not.toContain(encodeURIComponent(wrong));
      expect(await bed.files()).toEqual(before);
    }
  });

  it('missing or too old tools are preflight errors that change no data and write no archive', async () => {
    const deps = await bed.deps(databases.tenants);
    const before = await fingerprint(acme.knex());
    const empty = path.join(bed.dir, 'empty-bin');
    fs.mkdirSync(empty);
    const missing = await backupTenant(deps, { tenant: 'acme', searchPath: empty }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ToolMissingError);
    expect((missing as Error).message).toMatch(/"pg_dump" was not found on PATH.*apt-get install postgresql-client-15/);
    // A backup that could not start is a failed backup, recorded like an organization backup's.
    expect(await deps.ledger.find()).toEqual([
      expect.objectContaining({ status: 'failed', tenant: 'acme', backup_filename: 'acme_2026-11-21_19-04-00.zip', error_message: (missing as Error).message }),
    ]);

    // A PATH with pg_dump but no psql: restore needs both, and says so before doing anything.
    const dumpOnly = path.join(bed.dir, 'dump-only');
    fs.mkdirSync(dumpOnly);
    fs.symlinkSync('/usr/bin/pg_dump', path.join(dumpOnly, 'pg_dump'));
    // An archive to restore (made with the normal PATH).
    const good = await backupTenant(deps, { tenant: 'acme' });
    const snapshot = await bed.files();
    const noPsql = await restoreTenant(deps, { tenant: 'acme', backup: good.record.backup_filename, searchPath: dumpOnly }).catch((e: unknown) => e);
    expect(noPsql).toBeInstanceOf(ToolMissingError);
    expect((noPsql as Error).message).toMatch(/"psql" was not found/);

    // A pg_dump older than the server.
    const oldBin = path.join(bed.dir, 'old-bin');
    fs.mkdirSync(oldBin);
    fs.writeFileSync(path.join(oldBin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n', { mode: 0o755 });
    const old = await backupTenant(deps, { tenant: 'acme', searchPath: oldBin }).catch((e: unknown) => e);
    expect(old).toBeInstanceOf(TenantBackupError);
    expect((old as TenantBackupError).code).toBe('TOOL_MISSING');
    expect((old as Error).message).toMatch(/older than the PostgreSQL 15\.[^\n]* server.*postgresql-client-15/);

    expect(await bed.files()).toEqual(snapshot);
    // The backups that could not start are recorded failed (a failed attempt stays beside the
    // successful backup of the same name, until the history policy forgets it); the restore is not.
    const records = await deps.ledger.find();
    expect(records.map((r) => [r.status, r.error_message])).toEqual([
      ['failed', (old as Error).message],
      ['success', null],
      ['failed', (missing as Error).message],
    ]);
    expect(JSON.stringify(records)).not.toContain(password());
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
      PGHOST: 'db.example',
      PGPORT: '6543',
      PGUSER: 'app',
      PGDATABASE: 'acme',
      PGPASSWORD: 'p@ss:w',
      PGSSLMODE: 'require',
      PGCONNECT_TIMEOUT: '10',
      PGAPPNAME: 'tenant-backup',
    });
    expect(serverParams({ host: 'h', port: '5433', user: 'u', database: 'd' }, 'acme')).toEqual({ host: 'h', port: 5433, user: 'u', database: 'd' });
    expect(() => serverParams('not a url', 'acme')).toThrow(ConfigError);
  });
});
