/**
 * A tenant archive is untrusted input: its dump.sql must never run a client meta-command on this
 * host (shell, files) or move the load to another database. Crafted archives (checksums valid)
 * against the real psql / mariadb clients and real servers: each is refused (ArchiveError, exit 5)
 * or neutralised (a server-side syntax error, rolled back); no file is created, the other tenant's
 * database is untouched, the tenant's own data is unchanged. Dumps whose DATA merely looks like
 * meta-commands (a backslash line in a COPY block or a dollar-quoted body) still round-trip.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { DumpRestrictPairFilter, hasRestrictedMode } from '../../src/engines/postgres/dump.js';
import { TenantBackupError, ToolMissingError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { runCli } from '../helpers/cli.js';
import { adminKnex, createTestDatabase, withTempDir, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { entryBytes, handMadeArchive } from '../helpers/tenant.js';
import { tenantFingerprint } from '../helpers/tenant-fingerprint.js';

type Engine = 'postgres' | 'mysql';
const client = (engine: Engine) => (engine === 'postgres' ? 'pg' : 'mysql2');

interface Bed {
  acme: TestDatabase;
  globex: TestDatabase;
  dir: string;
  storage: string;
  clock: ReturnType<typeof frozenClock>;
  /** Where a command that escaped would write. Must never exist. */
  canary: string;
  /** A SQL file a `source` / `\i` would read (it would create a table). */
  sqlFile: string;
  cleanup: () => Promise<void>;
  tick: number;
}

async function createBed(engine: Engine): Promise<Bed> {
  const { dir, cleanup } = await withTempDir(`tb-dumpsec-${engine}-`);
  const [acme, globex] = await Promise.all([createTestDatabase(engine, 'acme'), createTestDatabase(engine, 'globex')]);
  for (const db of [acme, globex]) await createSchema(db.knex(), engine);
  const sqlFile = path.join(dir, 'included.sql');
  fs.writeFileSync(sqlFile, 'CREATE TABLE pwned_by_include (id INT);\n');
  return { acme, globex, dir, storage: path.join(dir, 'storage'), clock: frozenClock('2026-11-21T19:00:00Z'), canary: path.join(dir, 'canary'), sqlFile, cleanup, tick: 0 };
}

async function createSchema(k: Knex, engine: Engine): Promise<void> {
  const statements =
    engine === 'postgres'
      ? [
          `CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)`,
          // body first: its COPY data lines start with the value.
          `CREATE TABLE notes (body text, id int PRIMARY KEY)`,
          `CREATE FUNCTION shout(t text) RETURNS text LANGUAGE sql AS $body$
SELECT upper(t) || '
\\! touch /nonexistent/never
\\connect postgres'
$body$`,
          `INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g`,
          // In COPY text format CR + "estrict abc" is written as the line `\restrict abc`, and a
          // backslash as `\\`: data lines that look like meta-commands.
          `INSERT INTO notes VALUES (E'\\restrict abc', 1), (E'\\\\! touch /nonexistent/never', 2), (E'line\\n\\\\connect other', 3)`,
        ]
      : [
          `CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL)`,
          `CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)`,
          `INSERT INTO customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_50`,
          `INSERT INTO notes VALUES (1, '\\\\! touch /nonexistent/never'), (2, CONCAT('a', CHAR(10), 'system touch /nonexistent/never')), (3, 'source /etc/passwd')`,
        ];
  for (const sql of statements) await k.raw(sql);
}

const fingerprint = tenantFingerprint;

async function makeDeps(bed: Bed, engine: Engine, acmeConnection?: ServerConnection): Promise<Deps> {
  const config = resolveConfig(
    {
      storage: { dir: bed.storage },
      timezone: 'UTC',
      tenants: {
        acme: { client: client(engine), connection: { ...(acmeConnection ?? (bed.acme.connection as ServerConnection)) } },
        globex: { client: client(engine), connection: { ...(bed.globex.connection as ServerConnection) } },
      },
    },
    path.join(bed.dir, '.backuprc'),
  );
  return createDeps({ config, clock: bed.clock });
}

/** Moves the frozen clock on, so every safety backup gets its own timestamped name. */
function nextSecond(bed: Bed): void {
  bed.tick += 1;
  bed.clock.set(new Date(Date.parse('2026-11-21T19:00:00Z') + bed.tick * 1000));
}

interface Case {
  name: string;
  /** The crafted dump, from the tenant's real dump. */
  dump: (real: string, bed: Bed) => string;
  /** ARCHIVE_INVALID: refused by the client; OPERATION_FAILED: neutralised (the server rejected it as SQL). */
  code: 'ARCHIVE_INVALID' | 'OPERATION_FAILED';
}

/** Runs one crafted archive and checks: the expected refusal, no canary, no pwned table, both databases unchanged. */
async function expectRefused(bed: Bed, engine: Engine, deps: Deps, c: Case, real: string): Promise<void> {
  const name = `acme_2026-11-20_10-${String(bed.tick % 60).padStart(2, '0')}-00.zip`;
  await handMadeArchive(deps, { name, tenant: 'acme', engine, entryPath: 'dump.sql', data: Buffer.from(c.dump(real, bed)) });
  const before = await fingerprint(bed.acme.knex(), engine);
  const other = await fingerprint(bed.globex.knex(), engine);
  nextSecond(bed);
  const error = await restoreTenant(deps, { tenant: 'acme', backup: name }).catch((e: unknown) => e);
  expect(error, c.name).toBeInstanceOf(TenantBackupError);
  expect((error as TenantBackupError).code, `${c.name}: ${(error as Error).message}`).toBe(c.code);
  if (c.code === 'ARCHIVE_INVALID') expect((error as Error).message, c.name).toMatch(/meta-command|client command|LOCAL INFILE/);
  expect(fs.existsSync(bed.canary), `${c.name}: the canary file was created`).toBe(false);
  expect(await fingerprint(bed.acme.knex(), engine), c.name).toEqual(before);
  expect(await fingerprint(bed.globex.knex(), engine), c.name).toEqual(other);
}

/** Set-up and tear-down of a bed in the calling describe; the fields are filled by beforeAll. */
function useBed(engine: Engine): { bed: Bed; deps: Deps; real: string; original: Record<string, unknown> } {
  const t = {} as { bed: Bed; deps: Deps; real: string; original: Record<string, unknown> };
  beforeAll(async () => {
    t.bed = await createBed(engine);
    t.deps = await makeDeps(t.bed, engine);
    t.original = await fingerprint(t.bed.acme.knex(), engine);
    t.real = (await entryBytes((await backupTenant(t.deps, { tenant: 'acme' })).record.backup_path, 'dump.sql')).toString('utf8');
  });
  afterAll(async () => {
    await Promise.all([t.bed.acme.drop(), t.bed.globex.drop()]);
    await t.bed.cleanup();
  });
  return t;
}

describe('PostgreSQL: psql runs in restricted mode, a dump cannot run meta-commands', () => {
  const engine = 'postgres';
  const t = useBed(engine);

  it("the real dump carries pg_dump's own \\restrict pair and round-trips data that looks like meta-commands", async () => {
    const key = /^\\restrict ([A-Za-z0-9]+)$/m.exec(t.real)?.[1];
    expect(key, 'pg_dump 15.14+ writes \\restrict').toBeDefined();
    expect(t.real.trimEnd().split('\n').at(-1)).toBe(`\\unrestrict ${key}`);
    expect(t.real).toContain('\n\\restrict abc\t1\n'); // a COPY data line of notes
    await t.bed.acme.knex().raw(`DELETE FROM notes; UPDATE customers SET name = 'changed'`);
    nextSecond(t.bed);
    const backupName = (await t.deps.ledger.find({ kind: 'database', tenant: 'acme' })).find((r) => r.status === 'success')!.backup_filename;
    await restoreTenant(t.deps, { tenant: 'acme', backup: backupName });
    expect(await fingerprint(t.bed.acme.knex(), engine)).toEqual(t.original);
    expect(fs.existsSync(t.bed.canary)).toBe(false);
  });

  const afterHeader = (real: string, inject: string) => real.replace(/^(\\restrict [A-Za-z0-9]+\n)/m, `$1${inject}`);
  const cases: Case[] = [
    { name: '\\! first line', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\! touch ${b.canary}\n${real}` },
    { name: '\\connect to another database', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\connect ${b.globex.name}\nDROP TABLE customers CASCADE;\n${real}` },
    { name: '\\o to a file', code: 'ARCHIVE_INVALID', dump: (real, b) => afterHeader(real, `\\o ${b.canary}\nSELECT 1;\n`) },
    { name: '\\copy … PROGRAM', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\copy (SELECT 1) TO PROGRAM 'touch ${b.canary}'\n${real}` },
    { name: '\\i a local file', code: 'ARCHIVE_INVALID', dump: (real, b) => afterHeader(real, `\\i ${b.sqlFile}\n`) },
    {
      name: '\\! after SQL on the same line',
      code: 'ARCHIVE_INVALID',
      dump: (real, b) => real.replace('SET statement_timeout = 0;', `SET statement_timeout = 0; \\! touch ${b.canary}`),
    },
    {
      name: "leaving restricted mode with the dump's own key",
      code: 'ARCHIVE_INVALID',
      dump: (real, b) => afterHeader(real, `\\unrestrict ${/^\\restrict ([A-Za-z0-9]+)$/m.exec(real)![1]}\n\\! touch ${b.canary}\n`),
    },
    { name: '\\! at the very end, after the closing \\unrestrict', code: 'ARCHIVE_INVALID', dump: (real, b) => `${real}\\! touch ${b.canary}\n` },
    { name: 'USE other_db (not SQL in PostgreSQL)', code: 'OPERATION_FAILED', dump: (real, b) => `USE ${b.globex.name};\nDROP TABLE customers CASCADE;\n${real}` },
  ];
  it.each(cases)('refuses: $name', async (c) => {
    await expectRefused(t.bed, engine, t.deps, c, t.real);
  });

  it('through the CLI: exit 5 and a JSON error, nothing changed', async () => {
    const configFile = path.join(t.bed.dir, 'cli.backuprc');
    fs.writeFileSync(configFile, JSON.stringify({ storage: { dir: t.bed.storage }, timezone: 'UTC', tenants: { acme: { client: 'pg', connection: t.bed.acme.connection } } }), {
      mode: 0o600,
    });
    await handMadeArchive(t.deps, {
      name: 'acme_2026-11-19_10-00-00.zip',
      tenant: 'acme',
      engine,
      entryPath: 'dump.sql',
      data: Buffer.from(`\\! touch ${t.bed.canary}\n${t.real}`),
    });
    const before = await fingerprint(t.bed.acme.knex(), engine);
    const result = await runCli(['restore', 'acme', 'acme_2026-11-19_10-00-00.zip', '--yes', '--json', '--config', configFile]);
    expect(result.code, result.stderr).toBe(5);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'ARCHIVE_INVALID' } });
    expect(result.stderr).toMatch(/meta-command/);
    expect(fs.existsSync(t.bed.canary)).toBe(false);
    expect(await fingerprint(t.bed.acme.knex(), engine)).toEqual(before);
  });

  it('refuses a psql without restricted mode before anything is done', async () => {
    const bin = path.join(t.bed.dir, 'old-psql-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync('/usr/bin/pg_dump', path.join(bin, 'pg_dump'));
    fs.writeFileSync(path.join(bin, 'psql'), '#!/bin/sh\necho "psql (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)"\n', { mode: 0o755 });
    const records = await t.deps.ledger.find();
    const backupName = records.find((r) => r.status === 'success')!.backup_filename;
    const error = await restoreTenant(t.deps, { tenant: 'acme', backup: backupName, searchPath: bin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolMissingError);
    expect((error as Error).message).toMatch(/no restricted mode.*15\.13/);
    expect(await t.deps.ledger.find()).toEqual(records);
    expect(hasRestrictedMode('psql (PostgreSQL) 15.14')).toBe(true);
    expect(hasRestrictedMode('psql (PostgreSQL) 17.5')).toBe(false);
    expect(hasRestrictedMode('psql (PostgreSQL) 16.10 (Ubuntu 16.10-1)')).toBe(true);
    expect(hasRestrictedMode('psql (PostgreSQL) 18beta1')).toBe(true);
    expect(hasRestrictedMode('psql (PostgreSQL) 12.22')).toBe(false);
  });
});

describe("the filter that removes pg_dump's own \\restrict pair", () => {
  const filterAll = async (input: string, chunk: number) => {
    const pieces: Buffer[] = [];
    const bytes = Buffer.from(input);
    for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
    return text(Readable.from(pieces).pipe(new DumpRestrictPairFilter()));
  };
  const key = 'Ab3'.repeat(21);
  const body = `SET x = 1;\nCOPY t (a) FROM stdin;\n\\restrict ${key}\n\\unrestrict ${key}\n\\.\nSELECT $$\n\\unrestrict ${key}\n$$;\n`;

  it('drops exactly the header \\restrict and the final \\unrestrict, at every chunk size, and nothing else', async () => {
    const dump = `--\n-- PostgreSQL database dump\n--\n\n\\restrict ${key}\n\n${body}\n\\unrestrict ${key}\n\n`;
    for (const chunk of [1, 2, 3, 7, 64, 100_000]) {
      expect(await filterAll(dump, chunk), `chunk ${chunk}`).toBe(`--\n-- PostgreSQL database dump\n--\n\n\n${body}\n`);
    }
  });

  it('keeps both lines where they are not the dump tool’s pair (psql then refuses them)', async () => {
    const cases = [
      `SELECT 1;\n\\restrict ${key}\n`, // not in the header
      `\\restrict ${key}\n\\unrestrict ${key}\nSELECT 1;\n`, // not the last line
      `\\restrict ${key}\nSELECT 1;\n\\unrestrict other${key}\n`, // another key
      `\\unrestrict ${key}\n`, // no \restrict before it
      `\\restrict ${key}x${'y'.repeat(300)}\nSELECT 1;\n`, // too long to be the pair
    ];
    for (const dump of cases) {
      const out = await filterAll(dump, 5);
      const kept = dump.startsWith(`\\restrict ${key}\n`) ? dump.slice(`\\restrict ${key}\n`.length) : dump;
      expect(out, JSON.stringify(dump)).toBe(kept);
    }
  });

  it('streams long lines through without holding them', async () => {
    const long = `INSERT INTO t VALUES ('${'x'.repeat(5_000_000)}');\n`;
    const filter = new DumpRestrictPairFilter();
    const out: Buffer[] = [];
    filter.on('data', (b: Buffer) => out.push(b));
    filter.write(Buffer.from(long.slice(0, 4_000_000)));
    expect(Buffer.concat(out).length).toBe(4_000_000); // passed on before the line ended
    filter.end(Buffer.from(long.slice(4_000_000)));
    await new Promise((resolve) => filter.on('end', resolve));
    expect(Buffer.concat(out).toString()).toBe(long);
  });
});

describe('MariaDB: the client runs no client command of a dump', () => {
  const engine = 'mysql';
  const t = useBed(engine);

  it('round-trips data that looks like client commands', async () => {
    await t.bed.acme.knex().raw(`DELETE FROM notes`);
    nextSecond(t.bed);
    const backupName = (await t.deps.ledger.find({ kind: 'database', tenant: 'acme' })).find((r) => r.status === 'success')!.backup_filename;
    await restoreTenant(t.deps, { tenant: 'acme', backup: backupName });
    expect(await fingerprint(t.bed.acme.knex(), engine)).toEqual(t.original);
    expect(fs.existsSync(t.bed.canary)).toBe(false);
  });

  const cases: Case[] = [
    { name: '\\! (shell)', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\! touch ${b.canary}\n${real}` },
    { name: 'system (shell)', code: 'OPERATION_FAILED', dump: (real, b) => `system touch ${b.canary}\n${real}` },
    { name: '\\. (source a file)', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\. ${b.sqlFile}\n${real}` },
    { name: 'SOURCE a file', code: 'OPERATION_FAILED', dump: (real, b) => `source ${b.sqlFile}\n${real}` },
    { name: '\\T (tee to a file)', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\T ${b.canary}\n${real}` },
    { name: 'tee to a file', code: 'OPERATION_FAILED', dump: (real, b) => `tee ${b.canary}\n${real}` },
    { name: 'pager through a shell', code: 'OPERATION_FAILED', dump: (real, b) => `pager touch ${b.canary}\n${real}` },
    { name: '\\u other database', code: 'ARCHIVE_INVALID', dump: (real, b) => `\\u ${b.globex.name}\nDROP TABLE customers;\n${real}` },
    { name: 'connect other database', code: 'OPERATION_FAILED', dump: (real, b) => `connect ${b.globex.name}\nDROP TABLE customers;\n${real}` },
    { name: '\\! after SQL on the same line', code: 'ARCHIVE_INVALID', dump: (real, b) => `${real}SELECT 1; \\! touch ${b.canary}\n` },
    { name: 'LOAD DATA LOCAL INFILE', code: 'ARCHIVE_INVALID', dump: (real) => `${real}LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE notes;\n` },
  ];
  it.each(cases)('refuses or neutralises: $name', async (c) => {
    await expectRefused(t.bed, engine, t.deps, c, t.real);
    const [tables] = await t.bed.acme.knex().raw(`SHOW TABLES LIKE 'pwned%'`);
    expect(tables, c.name).toEqual([]);
  });

  it('USE other_db as SQL stops at the privileges of a tenant user granted its own database only', async () => {
    const user = `tb_acme_${crypto.randomBytes(4).toString('hex')}`;
    const secret = crypto.randomBytes(12).toString('hex');
    const admin = adminKnex('mysql');
    try {
      await admin.raw(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [user, secret]);
      await admin.raw(`GRANT ALL ON \`${t.bed.acme.name}\`.* TO ?@'127.0.0.1'`, [user]);
      const own = { ...(t.bed.acme.connection as ServerConnection), user, password: secret };
      const restricted = await makeDeps(t.bed, engine, own);
      await expectRefused(
        t.bed,
        engine,
        restricted,
        { name: 'USE other_db', code: 'OPERATION_FAILED', dump: (r, b) => `USE ${b.globex.name};\nDROP TABLE customers;\n${r}` },
        t.real,
      );
    } finally {
      await admin.raw(`DROP USER IF EXISTS ?@'127.0.0.1'`, [user]).catch(() => undefined);
      await admin.destroy();
    }
  });

  it('refuses a client without --binary-mode before anything is done', async () => {
    const bin = path.join(t.bed.dir, 'old-client-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync('/usr/bin/mariadb-dump', path.join(bin, 'mariadb-dump'));
    fs.writeFileSync(path.join(bin, 'mariadb'), '#!/bin/sh\necho "Usage: mariadb [OPTIONS] [database]"\necho "  --batch  Do not use history"\n', { mode: 0o755 });
    const records = await t.deps.ledger.find();
    const backupName = records.find((r) => r.status === 'success')!.backup_filename;
    const error = await restoreTenant(t.deps, { tenant: 'acme', backup: backupName, searchPath: bin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolMissingError);
    expect((error as Error).message).toMatch(/does not offer --binary-mode/);
    expect(await t.deps.ledger.find()).toEqual(records);
  });
});
