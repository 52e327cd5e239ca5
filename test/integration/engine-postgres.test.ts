/**
 * The PostgreSQL organization engine against a real server. The contract every organization
 * engine keeps (round trips, rollbacks, back-pressure, abandoned exports, passwords) runs from
 * test/contract/organization-engine.contract.ts on this file's schema; the cases below are
 * PostgreSQL's own: catalog details, the exact NDJSON forms, sequences, strict COPY input, wide
 * and key-less tables, partitions and inheritance, foreign-key cycles. Rows are compared with
 * PostgreSQL's own text form of the row (`t::text`).
 */
import { Readable, Writable } from 'node:stream';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationsSchema, type OrganizationsConfig } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import { postgresEngine } from '../../src/engines/postgres/index.js';
import type { OrganizationSession } from '../../src/engines/types.js';
import { OperationError, UsageError } from '../../src/errors.js';
import { describeOrganizationEngineContract, type OrganizationEngineBed } from '../contract/organization-engine.contract.js';
import { adminKnex, createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { collector, exportTables, failingAtEnd, ndjsonRows, restoreTables, withPlannedSession } from '../helpers/org-engine.js';

const SCHEMA_SQL = String.raw`
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN amount AS numeric(40, 20) CHECK (VALUE IS NULL OR VALUE > -1e15);
  CREATE DOMAIN stamp AS timestamptz;

  CREATE TABLE organizations (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    code text,
    auto_backup_enabled boolean NOT NULL DEFAULT true
  );

  -- A reserved word as table name; an identity column; a self-reference; every edge type.
  CREATE TABLE "order" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id),
    "parent order" bigint REFERENCES "order" (id),
    big int8,
    small int2,
    regular int4,
    exact numeric,
    dom amount,
    f8 float8,
    f4 float4,
    cash money,
    ts timestamptz,
    ts_dom stamp,
    ts_plain timestamp(6),
    d date,
    tm time,
    tmtz timetz,
    iv interval,
    flag boolean,
    blob bytea,
    doc json,
    docb jsonb,
    uid uuid,
    tags text[],
    feeling mood,
    feelings mood[],
    addr inet,
    span int4range,
    txt text,
    "Weird ""col"" name" text,
    total numeric GENERATED ALWAYS AS (exact * 2) STORED
  );

  -- A child without the tenant column (reached through its foreign key); a serial key.
  CREATE TABLE "line-Items" (
    id serial PRIMARY KEY,
    "order" bigint NOT NULL REFERENCES "order" (id),
    qty int NOT NULL,
    note text,
    UNIQUE ("order", qty)
  );
`;

const NASTY_TEXT = 'ctl:\x01\x02\x03\x1f\x7f nl:\n cr:\r crlf:\r\n tab:\t bs:\\ \\\\ \\n quote:" \' emoji:😀👩‍👩‍👧 ls:\u2028 ps:\u2029 bom:\ufeff ünï';

/** Org 1 gets every edge value; org 2 gets some rows too. Values are SQL literals. */
const ORDER_ROWS_SQL = String.raw`
  INSERT INTO organizations (name, code, auto_backup_enabled) VALUES ('Acme', 'acme', true), ('Other', NULL, false);

  INSERT INTO "order" (organization_id, big, small, regular, exact, dom, f8, f4, cash, ts, ts_dom, ts_plain, d, tm, tmtz, iv,
                       flag, blob, doc, docb, uid, tags, feeling, feelings, addr, span, txt, "Weird ""col"" name")
  VALUES
  (1, 9223372036854775807, -32768, 2147483647, 12345678901234567890.123456789012345678901234567890, 12345678901234567890.12345678901234567890,
   0.1, 3.4028235e38, 1234.56, '2020-01-01 12:34:56.123456+05:30', '2021-06-30 23:59:59.999999+00', '9999-12-31 23:59:59.999999',
   '0001-01-01', '24:00:00', '12:00:00.000001+05:30', '1 year 2 mons -3 days 04:05:06.789',
   true, '\x00ff0a0d5c22010200', E'{ "a" :1,\n "a": 2 ,"x":"\\u0000", "big": 123456789012345678901234567890.000 }',
   '{"k": [1, 2.50, 1e40], "s": "x\\ny"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   ARRAY['a,b', 'c"d', NULL, '', 'x\y', 'NULL', ' sp '], 'happy', '{sad,happy}', '192.168.0.1/24', '[1,10)', $1, 'weird'),
  (1, -9223372036854775808, 32767, -2147483648, 'NaN', 0.00000000000000000001,
   'NaN', 'NaN', -0.01, 'infinity', '-infinity', '0001-01-01 00:00:00', '9999-12-31', '00:00:00.000001', '23:59:59.999999-15:59',
   '-178000000 years', false, '\x', '[]', 'null', '00000000-0000-0000-0000-000000000000',
   '{}', 'sad', '{}', '::1', 'empty', '', ''),
  (1, 9007199254740993, 0, 0, '-0.000000000000000000000000000001', NULL,
   'Infinity', '-Infinity', 0, '0001-01-01 00:00:00+00 BC', NULL, '2000-02-29 12:00:00.5', '4713-01-01 BC', '12:34:56', '00:00:00+00', '0',
   NULL, NULL, 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (1, NULL, NULL, NULL, '1.10', NULL, '-Infinity', 1.1, NULL, '1970-01-01 00:00:00+00', NULL, NULL, 'infinity', NULL, NULL, 'PT0.000001S',
   NULL, NULL, '"str"', '"str"', NULL, '{{1,2},{3,4}}', NULL, NULL, NULL, NULL, '\', NULL),
  (1, 0, 1, 1, '1e-20', NULL, 5e-324, 1.17549435e-38, NULL, '2038-01-19 03:14:07.999999+00', NULL, NULL, '2000-01-01', NULL, NULL, NULL,
   NULL, NULL, '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL, E'\n', NULL),
  (2, 42, 2, 2, '2.5', 1, 2.5, 2.5, 2, '2022-02-02 02:02:02+00', NULL, NULL, '2022-02-02', NULL, NULL, NULL,
   true, '\x02', '{"org": 2}', '{"org": 2}', NULL, '{two}', 'ok', '{ok}', NULL, NULL, 'other org', 'o2');

  -- Self-references: row 1 points at row 3 (a later row), row 3 at row 1 (a cycle inside the table).
  UPDATE "order" SET "parent order" = 3 WHERE id = 1;
  UPDATE "order" SET "parent order" = 1 WHERE id = 3;
  -- A long bytea: encode(..., 'base64') would break it into 76-character lines.
  UPDATE "order" SET blob = decode(repeat('00ff7f80', 100), 'hex') WHERE id = 3;

  INSERT INTO "line-Items" ("order", qty, note) VALUES
    (1, 1, 'first'), (1, 2, NULL), (2, 1, ''), (3, 7, $1), (6, 1, 'org 2 item');
`;

/** Every row of every table of the schema, as PostgreSQL's own text form, in a stable order. */
async function rowsOf(k: Knex, schema = 'public'): Promise<Record<string, string[]>> {
  const tables = (await k.raw(`SELECT tablename FROM pg_tables WHERE schemaname = ? ORDER BY 1`, [schema])).rows as Array<{ tablename: string }>;
  const out: Record<string, string[]> = {};
  for (const { tablename } of tables) {
    const result = await k.raw(`SELECT t::text AS r FROM ??.?? t ORDER BY t::text COLLATE "C"`, [schema, tablename]);
    out[tablename] = (result.rows as Array<{ r: string }>).map((row) => row.r);
  }
  return out;
}

/** A database with the schema above; `db` for the cases that need the server itself. */
async function createBed(): Promise<OrganizationEngineBed & { db: TestDatabase }> {
  const db = await createTestDatabase('postgres', 'engine_pg');
  const knex = db.knex();
  await knex.raw(SCHEMA_SQL);
  // $1 in the data script: text nobody would dare to put in a CSV (as a standard SQL literal).
  await knex.raw(ORDER_ROWS_SQL.replaceAll('$1', `'${NASTY_TEXT.replaceAll("'", "''")}'`));
  return {
    db,
    config: organizationsSchema.parse({ client: 'pg', connection: db.connection }),
    exec: async (sql) => void (await knex.raw(sql)),
    rows: () => rowsOf(knex),
    drop: () => db.drop(),
  };
}

describeOrganizationEngineContract('postgres', {
  engine: postgresEngine,
  create: createBed,
  tables: { parent: 'order', child: 'line-Items' },
  organizations: [
    { id: '1', name: 'Acme', code: 'acme', autoBackupEnabled: true },
    { id: '2', name: 'Other', code: null, autoBackupEnabled: false },
  ],
  mutation: [
    `UPDATE "order" SET txt = 'changed', big = 1 WHERE organization_id = 1`,
    `DELETE FROM "line-Items" WHERE "order" = 3`,
    `INSERT INTO "line-Items" ("order", qty) VALUES (2, 99)`,
    `UPDATE organizations SET name = 'Renamed' WHERE id = 1`,
  ],
  bulk: (rows) => [
    `CREATE TABLE bulk (id int PRIMARY KEY, organization_id bigint NOT NULL, filler text)`,
    `INSERT INTO bulk SELECT g, 1, repeat('x', 200) FROM generate_series(1, ${rows}) g`,
  ],
  bulkRows: 50_000,
  // CopyToNdjson pushes NDJSON in pieces of at least 1 MiB (PUSH_BYTES), plus the row that crossed it.
  outputPieceBytes: 1.5 * 1024 * 1024,
  wrongPassword: {
    scheme: 'postgres',
    password: 'Wr0ng-Pa55w0rd-!@#',
    message: (c) => new RegExp(`:${c.port}, database "${c.database}", user "${c.user}": .*password authentication failed`),
  },
});

let bed: Awaited<ReturnType<typeof createBed>>;
let knex: Knex;
let config: OrganizationsConfig;
let session: OrganizationSession;

const allRows = () => rowsOf(knex);

describe('postgres engine', () => {
  beforeAll(async () => {
    bed = await createBed();
    knex = bed.db.knex();
    config = bed.config;
    session = await postgresEngine.connect(config);
  });

  afterAll(async () => {
    await session?.close();
    await bed?.drop();
  });

  it('introspects tables, columns, encodings, keys and foreign keys', async () => {
    const schema = await session.introspect();
    expect(schema.tables.map((t) => t.name).sort()).toEqual(['line-Items', 'order', 'organizations']);
    const order = schema.tables.find((t) => t.name === 'order')!;
    const col = (name: string) => order.columns.find((c) => c.name === name)!;
    expect(order.columns.map((c) => c.name)[0]).toBe('id');
    expect(order.primaryKey).toEqual(['id']);
    expect(col('id')).toMatchObject({ type: 'bigint', encoding: 'string', autoIncrement: true, nullable: false, generated: false });
    expect(col('small')).toMatchObject({ type: 'smallint', encoding: 'number' });
    expect(col('regular')).toMatchObject({ type: 'integer', encoding: 'number' });
    expect(col('flag')).toMatchObject({ type: 'boolean', encoding: 'boolean' });
    expect(col('blob')).toMatchObject({ type: 'bytea', encoding: 'base64' });
    expect(col('ts')).toMatchObject({ type: 'timestamp with time zone', encoding: 'string' });
    expect(col('ts_plain')).toMatchObject({ type: 'timestamp(6) without time zone' });
    expect(col('dom')).toMatchObject({ type: 'amount', encoding: 'string' });
    expect(col('feelings')).toMatchObject({ type: 'mood[]', encoding: 'string' });
    expect(col('doc')).toMatchObject({ type: 'json', encoding: 'string' });
    expect(col('docb')).toMatchObject({ type: 'jsonb', encoding: 'string' });
    expect(col('total')).toMatchObject({ generated: true });
    expect(col('Weird "col" name')).toMatchObject({ type: 'text', nullable: true });
    expect(order.foreignKeys).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ columns: ['organization_id'], referencedTable: 'organizations', referencedColumns: ['id'], deferrable: false }),
        expect.objectContaining({ columns: ['parent order'], referencedTable: 'order', referencedColumns: ['id'] }),
      ]),
    );
    const items = schema.tables.find((t) => t.name === 'line-Items')!;
    expect(items.columns.find((c) => c.name === 'id')).toMatchObject({ type: 'integer', autoIncrement: true });
    expect(await session.serverVersion()).toMatch(/^\d+\.\d+/);
  });

  it('compares organization ids with the column\'s type: an id invalid for it is a usage error, not "not found"', async () => {
    await expect(session.withSnapshot((reader) => reader.findOrganization(config, 'not-a-number'))).rejects.toBeInstanceOf(UsageError);
    // The session is still usable afterwards (the failed lookup ended only its own snapshot).
    expect((await session.withSnapshot((reader) => reader.findOrganization(config, '1')))?.id).toBe('1');
  });

  it('exports exact NDJSON and restores every row byte for byte', async () => {
    const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
    expect(plans.map((p) => p.table)).toEqual(['organizations', 'order', 'line-Items']);
    const exported = await exportTables(session, plans);

    // --- The NDJSON itself.
    const orderPlan = plans.find((p) => p.table === 'order')!;
    expect(orderPlan.columns.map((c) => c.name)).not.toContain('total');
    const raw = exported.get('order')!;
    // Verbatim lines: no control character of the CSV trick (nor any raw CR/LF) inside a line.
    expect(raw.includes(0x01)).toBe(false);
    expect(raw.includes(0x02)).toBe(false);
    expect(raw.includes(0x0d)).toBe(false);
    const lines = raw.toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(5);
    const rows = lines.map((line) => JSON.parse(line) as unknown[]);
    const at = (row: number, column: string) => rows[row]![orderPlan.columns.findIndex((c) => c.name === column)];
    expect(at(0, 'id')).toBe('1');
    expect(at(0, 'big')).toBe('9223372036854775807');
    expect(at(1, 'big')).toBe('-9223372036854775808');
    expect(at(2, 'big')).toBe('9007199254740993');
    expect(at(0, 'small')).toBe(-32768);
    expect(at(0, 'regular')).toBe(2147483647);
    expect(at(0, 'exact')).toBe('12345678901234567890.123456789012345678901234567890');
    expect(at(1, 'exact')).toBe('NaN');
    expect(at(0, 'f8')).toBe('0.1');
    expect(at(2, 'f8')).toBe('Infinity');
    expect(at(4, 'f8')).toBe('5e-324');
    expect(at(0, 'ts')).toBe('2020-01-01T07:04:56.123456+00:00');
    expect(at(1, 'ts')).toBe('infinity');
    expect(at(0, 'ts_plain')).toBe('9999-12-31T23:59:59.999999');
    expect(at(0, 'd')).toBe('0001-01-01');
    expect(at(0, 'tm')).toBe('24:00:00');
    expect(at(0, 'flag')).toBe(true);
    expect(at(1, 'flag')).toBe(false);
    expect(at(2, 'flag')).toBeNull();
    expect(at(0, 'blob')).toBe(Buffer.from('00ff0a0d5c22010200', 'hex').toString('base64'));
    expect(at(1, 'blob')).toBe('');
    expect(at(2, 'blob')).toBe(Buffer.from('00ff7f80'.repeat(100), 'hex').toString('base64'));
    expect(at(0, 'doc')).toBe('{ "a" :1,\n "a": 2 ,"x":"\\u0000", "big": 123456789012345678901234567890.000 }');
    expect(at(1, 'docb')).toBe('null'); // JSON null inside jsonb …
    expect(at(2, 'docb')).toBeNull(); // … is not SQL NULL.
    expect(at(0, 'tags')).toBe('{"a,b","c\\"d",NULL,"","x\\\\y","NULL"," sp "}');
    expect(at(0, 'feeling')).toBe('happy');
    expect(at(0, 'txt')).toBe(NASTY_TEXT);
    expect(at(1, 'txt')).toBe('');
    expect(at(3, 'txt')).toBe('\\');
    expect(at(0, 'Weird "col" name')).toBe('weird');
    const items = exported
      .get('line-Items')!
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown[]);
    expect(items.map((r) => r[1])).toEqual(['1', '1', '2', '3']);
    expect(items[3]![3]).toBe(NASTY_TEXT);
  });

  it('moves sequences and identities past the restored ids, never backwards', async () => {
    const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
    const exported = await exportTables(session, plans);
    // As if restoring into a fresh database: counters back at the start (organizations stays far ahead).
    await knex.raw(`SELECT setval(pg_get_serial_sequence('"order"', 'id'), 1, false)`);
    await knex.raw(`SELECT setval(pg_get_serial_sequence('"line-Items"', 'id'), 1, false)`);
    await knex.raw(`SELECT setval(pg_get_serial_sequence('organizations', 'id'), 1000)`);
    await restoreTables(session, plans, exported);

    const maxOrder = Number((await knex.raw(`SELECT max(id) AS m FROM "order"`)).rows[0].m);
    const newOrder = await knex.raw(`INSERT INTO "order" (organization_id) VALUES (2) RETURNING id`);
    expect(Number(newOrder.rows[0].id)).toBe(maxOrder + 1);
    const maxItem = Number((await knex.raw(`SELECT max(id) AS m FROM "line-Items"`)).rows[0].m);
    const newItem = await knex.raw(`INSERT INTO "line-Items" ("order", qty) VALUES (6, 5) RETURNING id`);
    expect(Number(newItem.rows[0].id)).toBe(maxItem + 1);
    const newOrg = await knex.raw(`INSERT INTO organizations (name) VALUES ('Third') RETURNING id`);
    expect(Number(newOrg.rows[0].id)).toBe(1001);
    await knex.raw(`DELETE FROM "line-Items" WHERE id = ?`, [newItem.rows[0].id]);
    await knex.raw(`DELETE FROM "order" WHERE id = ?`, [newOrder.rows[0].id]);
    await knex.raw(`DELETE FROM organizations WHERE id = 1001`);
  });

  it('refuses lines that do not fit the columns (strict COPY input) and rolls back', async () => {
    const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
    const before = await allRows();
    const exported = await exportTables(session, plans);
    const items = exported.get('line-Items')!.toString('utf8');
    // A duplicate key says so.
    const duplicate = new Map(exported).set('line-Items', Buffer.from(items + items.trimEnd().split('\n').at(-1)! + '\n'));
    await expect(restoreTables(session, plans, duplicate)).rejects.toThrow(/line-Items.*duplicate key/);
    expect(await allRows()).toEqual(before);

    // A NOT NULL violation (qty null), and a line that is not an array of the right width.
    for (const bad of ['["999", "1", null, "x"]\n', '["999", "1", 5]\n', '{"id": 1}\n', 'not json\n', '["999", "1", "5", "x"]\n']) {
      const data = new Map(exported);
      data.set('line-Items', Buffer.from(items + bad));
      await expect(restoreTables(session, plans, data)).rejects.toBeInstanceOf(OperationError);
      expect(await allRows()).toEqual(before);
    }
  });

  it("passes the caller's own stream errors through unchanged (not as a database error)", async () => {
    const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
    const exported = await exportTables(session, plans);
    const data = new Map<string, Buffer | (() => Readable)>(exported).set('order', () => failingAtEnd(exported.get('order')!, 'checksum mismatch in order'));
    const error = await restoreTables(session, plans, data).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(OperationError);
    expect((error as Error).message).toBe('checksum mismatch in order');

    await knex.raw(`CREATE TABLE bulk (id int PRIMARY KEY, organization_id bigint NOT NULL, filler text)`);
    await knex.raw(`INSERT INTO bulk SELECT g, 1, repeat('x', 200) FROM generate_series(1, 50000) g`);
    try {
      await withPlannedSession(postgresEngine, config, async (s, all) => {
        const plan = all.find((p) => p.table === 'bulk')!;
        let written = 0;
        const out = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            written += chunk.length;
            callback(written > 200_000 ? new Error('disk full') : null);
          },
        });
        const full = await s.withSnapshot((reader) => reader.exportTable(plan, out)).catch((e: unknown) => e);
        expect(full).not.toBeInstanceOf(OperationError);
        expect((full as Error).message).toBe('disk full');
        // The same session is fine afterwards, and all 50,000 rows come out.
        const sink = collector({ slow: true });
        await s.withSnapshot((reader) => reader.exportTable(plan, sink.stream));
        expect(sink.stream.writableFinished).toBe(true); // resolved only once the output has finished
        expect(ndjsonRows(sink.bytes())).toHaveLength(50_000);
      });
    } finally {
      await knex.raw('DROP TABLE bulk');
    }
  });

  it('imports a subset of the columns (the rest take their defaults), visible only inside the transaction', async () => {
    const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
    const plan = plans.find((p) => p.table === 'line-Items')!;
    const before = await allRows();
    // The manifest's columns in another order (and a subset: id left to its default).
    const columns = [plan.columns[3]!, plan.columns[2]!, plan.columns[1]!];
    await session
      .withRestoreTransaction(plans, async (writer) => {
        await writer.deleteRows(plan);
        const n = await writer.importTable(plan, columns, Readable.from(['["a note", 1, "1"]\n["b", 2, "1"]\n', '["c\\n", 3, "2"]\n']));
        expect(n).toBe(3);
        expect(await writer.countRows(plan)).toBe(3);
        const rows = await knex.raw(`SELECT count(*)::int AS n FROM "line-Items"`);
        expect(rows.rows[0].n).toBe(before['line-Items']!.length); // not visible outside the transaction
        throw new Error('roll back');
      })
      .catch((e: Error) => expect(e.message).toBe('roll back'));
    expect(await allRows()).toEqual(before);
  });

  it('handles tables without a primary key and with more than 100 columns', async () => {
    const wide = Array.from({ length: 130 }, (_, i) => `c${i} ${i % 3 === 0 ? 'text' : i % 3 === 1 ? 'int' : 'bytea'}`).join(', ');
    await knex.raw(`CREATE TABLE wide (organization_id bigint NOT NULL, ${wide})`);
    const values = (org: number, salt: string) =>
      Array.from({ length: 130 }, (_, i) => (i % 3 === 0 ? `'${salt}${i}\\'` : i % 3 === 1 ? String(i * org) : `'\\x${(i % 256).toString(16).padStart(2, '0')}'`));
    await knex.raw(`INSERT INTO wide VALUES (1, ${values(1, 'a').join(', ')}), (1, ${values(1, 'b').join(', ')}), (2, ${values(2, 'z').join(', ')})`);
    await knex.raw(`INSERT INTO wide (organization_id, c0) VALUES (1, NULL), (1, '')`);
    try {
      const plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
      const plan = plans.find((p) => p.table === 'wide')!;
      expect(plan.columns).toHaveLength(131);
      expect(plan.primaryKey).toEqual([]);
      const before = await allRows();
      const exported = await exportTables(session, plans);
      const lines = exported.get('wide')!.toString('utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(4);
      for (const line of lines) expect(JSON.parse(line)).toHaveLength(131);
      await knex.raw(`DELETE FROM wide WHERE organization_id = 1`);
      await restoreTables(session, plans, exported);
      expect(await allRows()).toEqual(before);
    } finally {
      await knex.raw('DROP TABLE wide');
    }
  });

  it('reads partitioned tables through their parent and inherited tables one by one', async () => {
    await knex.raw(String.raw`
      CREATE TABLE events (organization_id bigint NOT NULL, id int NOT NULL, what text, PRIMARY KEY (organization_id, id)) PARTITION BY LIST (organization_id);
      CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
      CREATE TABLE events_rest PARTITION OF events DEFAULT;
      CREATE TABLE notes (id serial PRIMARY KEY, organization_id bigint NOT NULL, body text);
      CREATE TABLE special_notes (extra text) INHERITS (notes);
      INSERT INTO events VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'z');
      INSERT INTO notes (organization_id, body) VALUES (1, 'plain'), (2, 'other');
      INSERT INTO special_notes (organization_id, body, extra) VALUES (1, 'special', 'x');
    `);
    try {
      const schema = await session.introspect();
      expect(schema.tables.map((t) => t.name)).not.toContain('events_1');
      const plans = planOrganizationTables(schema, config, session.dialect, '1');
      expect(plans.map((p) => p.table)).toEqual(expect.arrayContaining(['events', 'notes', 'special_notes']));
      const before = await allRows();
      const exported = await exportTables(session, plans);
      expect(exported.get('events')!.toString('utf8').trimEnd().split('\n')).toHaveLength(2);
      expect(exported.get('notes')!.toString('utf8').trimEnd().split('\n')).toHaveLength(1);
      await knex.raw(`DELETE FROM events WHERE organization_id = 1; DELETE FROM notes WHERE organization_id = 1`);
      await restoreTables(session, plans, exported);
      expect(await allRows()).toEqual(before);
      const onlyNotes = await knex.raw(`SELECT body FROM ONLY notes ORDER BY id`);
      expect(onlyNotes.rows.map((r: { body: string }) => r.body)).toEqual(['plain', 'other']);
    } finally {
      await knex.raw('DROP TABLE events, special_notes, notes');
    }
  });
});

describe('postgres engine: foreign-key cycles between tables, in a non-default schema', () => {
  let cdb: TestDatabase;
  let ck: Knex;

  beforeAll(async () => {
    cdb = await createTestDatabase('postgres', 'engine_pg_cycle');
    ck = cdb.knex();
    await ck.raw(String.raw`
      CREATE SCHEMA "App Data";
      SET search_path = "App Data";
      CREATE TABLE orgs (id int PRIMARY KEY, name text);
      -- teams.lead → members, members.team → teams: a cycle, neither key DEFERRABLE.
      CREATE TABLE teams (id int PRIMARY KEY, organization_id int NOT NULL REFERENCES orgs, lead int);
      CREATE TABLE members (id int PRIMARY KEY, organization_id int NOT NULL REFERENCES orgs, team int REFERENCES teams);
      ALTER TABLE teams ADD CONSTRAINT teams_lead_fkey FOREIGN KEY (lead) REFERENCES members;
      INSERT INTO orgs VALUES (1, 'one'), (2, 'two');
      INSERT INTO teams VALUES (10, 1, NULL), (20, 2, NULL);
      INSERT INTO members VALUES (100, 1, 10), (101, 1, 10), (200, 2, 20);
      UPDATE teams SET lead = 101 WHERE id = 10;
      UPDATE teams SET lead = 200 WHERE id = 20;
      CREATE ROLE ${cdb.name}_app LOGIN PASSWORD 'app-secret';
      GRANT USAGE ON SCHEMA "App Data" TO ${cdb.name}_app;
      GRANT SELECT, INSERT, DELETE, UPDATE ON ALL TABLES IN SCHEMA "App Data" TO ${cdb.name}_app;
    `);
  });

  afterAll(async () => {
    await ck?.raw(`DROP OWNED BY ${cdb.name}_app`).catch(() => undefined);
    await cdb?.drop();
    // Roles are cluster-wide: drop it from the maintenance database.
    const admin = adminKnex('postgres');
    await admin.raw(`DROP ROLE IF EXISTS ${cdb.name}_app`).finally(() => admin.destroy());
  });

  const snapshot = async () => ({
    teams: await ck.raw(`SELECT t::text FROM "App Data".teams t ORDER BY id`).then((r) => r.rows),
    members: await ck.raw(`SELECT t::text FROM "App Data".members t ORDER BY id`).then((r) => r.rows),
  });

  /** Backs up organization 1, lets `change` modify it, restores the backup. */
  async function roundTrip(connection: ServerConnection, change: () => Promise<unknown>) {
    const cfg = organizationsSchema.parse({ client: 'pg', connection, table: 'orgs', schema: 'App Data' });
    const s = await postgresEngine.connect(cfg);
    try {
      const plans = planOrganizationTables(await s.introspect(), cfg, s.dialect, '1');
      expect(plans.map((p) => p.table)).toEqual(['orgs', 'members', 'teams']);
      const exported = await exportTables(s, plans);
      await change();
      await restoreTables(s, plans, exported);
    } finally {
      await s.close();
    }
  }

  it('restores as a superuser (replication role for the transaction only)', async () => {
    const before = await snapshot();
    await roundTrip(cdb.connection as ServerConnection, () => ck.raw(`UPDATE "App Data".teams SET lead = 100 WHERE id = 10`));
    expect(await snapshot()).toEqual(before);
    // Foreign keys are enforced again afterwards.
    await expect(ck.raw(`INSERT INTO "App Data".members VALUES (300, 1, 999)`)).rejects.toThrow(/foreign key/);
  });

  it('explains the options to a non-superuser when the keys are not DEFERRABLE', async () => {
    const app = { ...(cdb.connection as ServerConnection), user: `${cdb.name}_app`, password: 'app-secret' };
    const before = await snapshot();
    const error = await roundTrip(app, async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/DEFERRABLE/);
    expect((error as Error).message).toMatch(/superuser/);
    expect(await snapshot()).toEqual(before);

    // With DEFERRABLE keys the same role can restore: checks wait for the commit.
    await ck.raw(`ALTER TABLE "App Data".teams ALTER CONSTRAINT teams_lead_fkey DEFERRABLE`);
    await ck.raw(`ALTER TABLE "App Data".members ALTER CONSTRAINT members_team_fkey DEFERRABLE`);
    await roundTrip(app, () => ck.raw(`UPDATE "App Data".members SET team = NULL WHERE id = 101`));
    expect(await snapshot()).toEqual(before);
  });
});
