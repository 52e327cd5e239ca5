/**
 * The PostgreSQL engine's NDJSON wire form, value for value: the export reads COPY's text format
 * and converts it in Node (src/engines/postgres/export-codec.ts, NdjsonEncoder). Every line must hold
 * exactly the values the server's own JSON encoder gives for the same row with the column
 * expressions earlier versions exported (`json_build_array(jsonExpression(…))`), in canonical
 * JSON (`JSON.stringify` of those values: no spaces, the shortest escapes). Edge values cover
 * every escape COPY can produce, every timestamp form (BC, infinity, years past 9999, offsets),
 * bytea of all sizes, types whose text cast differs from their output (bpchar, inet, cidr, name,
 * "char"), domains, arrays, a table without a primary key and one wider than 100 columns, and a
 * table large enough that COPY's chunks cut rows at arbitrary bytes.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationsSchema } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import { jsonExpression } from '../../src/engines/postgres/export.js';
import { postgresEngine } from '../../src/engines/postgres/index.js';
import type { OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { exportTables } from '../helpers/org-engine.js';

const ALL_CONTROL = Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('');

const SCHEMA_SQL = String.raw`
  CREATE DOMAIN stamp AS timestamptz;
  CREATE DOMAIN blob AS bytea;
  CREATE DOMAIN flag AS boolean;
  CREATE DOMAIN small AS int2;
  CREATE TABLE organizations (id bigint PRIMARY KEY, name text, code text);
  CREATE TABLE wire (
    id bigint PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id),
    ts timestamptz, ts6 timestamptz(6), ts0 timestamptz(0), ts_plain timestamp, ts_dom stamp, d date,
    tm time, tmtz timetz, iv interval,
    i2 int2, i4 int4, i8 int8, dom_small small, n numeric, f4 float4, f8 float8, cash money,
    b boolean, dom_flag flag, bytes bytea, dom_blob blob,
    txt text, vc varchar(20), ch char(8), nm name, chr "char", addr inet, net cidr, mac macaddr,
    doc json, docb jsonb, uid uuid, tags text[], stamps timestamptz[], span tsrange, x xml, bits bit varying(12), pt point
  );
  CREATE TABLE nokey (organization_id bigint NOT NULL, txt text, ts timestamptz, b boolean);
  CREATE TABLE bulk (id int PRIMARY KEY, organization_id bigint NOT NULL, txt text, ts timestamptz, bytes bytea, n numeric);
`;

// $1: every control character; the rest are SQL literals.
const ROWS_SQL = String.raw`
  INSERT INTO organizations VALUES (1, 'One', 'one'), (2, 'Two', NULL);
  SET TimeZone = 'Asia/Kolkata';
  INSERT INTO wire VALUES
  (1, 1, '2020-01-01 12:34:56.123456+05:30', '2020-01-01 00:00:00+00', '2020-06-30 23:59:59.5+02', '9999-12-31 23:59:59.999999',
   '2021-06-30 23:59:59.999999+00', '0001-01-01', '24:00:00', '12:00:00.000001+05:30', '1 year 2 mons -3 days 04:05:06.789',
   -32768, 2147483647, 9223372036854775807, 7, 12345678901234567890.123456789012345678901234567890, 3.4028235e38, 0.1, 1234.56,
   true, false, '\x00ff0a0d5c22010200', '\x',
   $1, 'vc "q" \ back', 'ab', 'name', 'c', '::1', '10.0.0.0/8', '08:00:2b:01:02:03',
   E'{ "a" :1,\n "a": 2 ,"x":"\\u0000", "big": 123456789012345678901234567890.000 }', '{"k": [1, 2.50, 1e40], "s": "x\\ny\\t\\u0001"}',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['a,b', 'c"d', NULL, '', 'x\y', 'NULL', ' sp ', E'tab\tnl\n'],
   ARRAY['2020-01-01 00:00:00+00'::timestamptz, NULL], '[2020-01-01 00:00, 2021-01-01 00:00)', '<a b="1">t&amp;</a>', B'101', '(1.5,-2)'),
  (2, 1, 'infinity', '-infinity', '0044-03-15 12:00:00+00 BC', '0044-03-15 12:00:00 BC', '4713-01-01 00:00:00+00 BC', '4713-01-01 BC',
   '00:00:00', '23:59:59.999999-15:59', '-178000000 years', 32767, -2147483648, -9223372036854775808, -1, 'NaN', 'NaN', '-Infinity', -0.01,
   false, true, decode(repeat('00ff7f80', 100), 'hex'), '\x7f',
   E'\\N', '', '', '', '', '192.168.0.1/24', '::/0', NULL,
   '[]', 'null', '00000000-0000-0000-0000-000000000000', '{}', '{}', 'empty', '<x/>', B'', '(0,0)'),
  (3, 1, '12345-06-07 08:09:10.000001+00', '294276-12-31 23:59:59.999999+00', '1970-01-01 00:00:00+00', 'infinity', '-infinity', '5874897-12-31',
   '00:00:00.000001', '00:00:00+00', '0', 0, 0, 0, NULL, '-0.000000000000000000000000000001', 'Infinity', 5e-324, 0,
   NULL, NULL, decode(repeat('ab', 100000), 'hex'), decode('', 'hex'),
   E'\\', E'\\\\N', '  ', NULL, NULL, NULL, NULL, NULL,
   '"str"', '"str"', NULL, '{{1,2},{3,4}}', NULL, NULL, NULL, NULL, NULL),
  (4, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, E'\t', E'\n', E'\\t', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, 2, '2022-02-02 02:02:02+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, 2, 2, 2, 2.5, 2.5, 2.5, 2,
   true, true, '\x02', '\x02', 'other org', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  RESET TimeZone;
  INSERT INTO nokey VALUES (1, 'b', '2020-01-01 00:00:00+00', true), (1, 'a', NULL, false), (1, NULL, 'infinity', NULL),
    (1, 'a', '2020-01-01 00:00:00+00', true), (2, 'z', NULL, NULL);
  INSERT INTO bulk
    SELECT i, 1 + (i % 7 = 0)::int,
           CASE WHEN i % 11 = 0 THEN NULL ELSE repeat(chr(33 + i % 90), i % 300) || E'\t"\\' || chr(1 + i % 31) || 'ü😀' END,
           timestamptz '2000-01-01 00:00:00+00' + i * interval '1.000001 seconds',
           CASE WHEN i % 5 = 0 THEN NULL ELSE decode(repeat(to_hex(i % 240 + 16), i % 50), 'hex') END,
           i * 1.5
    FROM generate_series(1, 20000) i;
`;

let db: TestDatabase;
let knex: Knex;
let session: OrganizationSession;
let plans: TablePlan[];

beforeAll(async () => {
  db = await createTestDatabase('postgres', 'pg_wire');
  knex = db.knex();
  await knex.raw(SCHEMA_SQL);
  const wide = Array.from({ length: 120 }, (_, i) => `c${i} ${['text', 'int4', 'timestamptz', 'bytea', 'boolean'][i % 5]}`).join(', ');
  await knex.raw(`CREATE TABLE wide (id int PRIMARY KEY, organization_id bigint NOT NULL, ${wide})`);
  const wideValues = (i: number) =>
    Array.from({ length: 120 }, (_, c) => [`'v${c}\\'`, String(c * i), `'2020-01-0${1 + (c % 9)} 00:00:00+00'`, `'\\x0${c % 10}'`, c % 2 === 0 ? 'true' : 'NULL'][c % 5]);
  await knex.raw(`INSERT INTO wide VALUES (1, 1, ${wideValues(1).join(', ')}), (2, 1, ${wideValues(2).join(', ')})`);
  await knex.raw(ROWS_SQL.replaceAll('$1', `'${ALL_CONTROL.replaceAll("'", "''")} "q" \\ \\\\ \\N end'`));
  const config = organizationsSchema.parse({ client: 'pg', connection: db.connection });
  session = await postgresEngine.connect(config);
  plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
});

afterAll(async () => {
  await session?.close();
  await db?.drop();
});

/** Every table, through slow consumers: back-pressure all the way to COPY. */
async function exportAll(): Promise<Map<string, string>> {
  return new Map([...(await exportTables(session, plans))].map(([table, data]) => [table, data.toString('utf8')]));
}

/** The server's JSON for every selected row, in the export's order, as earlier versions built it. */
async function serverJsonLines(plan: TablePlan): Promise<string[]> {
  const types = await knex.raw(
    `SELECT a.attname AS name, coalesce(nullif(ty.typbasetype, 0), ty.oid)::int AS base
       FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
      WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [`"${plan.table}"`],
  );
  const base = new Map((types.rows as Array<{ name: string; base: number }>).map((r) => [r.name, r.base]));
  const expressions = plan.columns.map((c) => jsonExpression(c, base.get(c.name)!));
  const chunks: string[] = [];
  for (let i = 0; i < expressions.length; i += 100) {
    chunks.push(`left(substr(json_build_array(${expressions.slice(i, i + 100).join(', ')})::text, 2), -1)`);
  }
  const line = `('[' || ${chunks.join(` || ', ' || `)} || ']')`;
  const order = plan.primaryKey.length > 0 ? plan.primaryKey.map((c) => `t."${c}"`).join(', ') : `${line} COLLATE "C"`;
  // The engine's session settings: the JSON encoder's output depends on them.
  return knex.transaction(async (trx) => {
    await trx.raw(`SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres';
                   SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'`);
    const result = await trx.raw(`SELECT ${line} AS line FROM "${plan.table}" t WHERE ${plan.where} ORDER BY ${order}`);
    return (result.rows as Array<{ line: string }>).map((r) => r.line);
  });
}

describe('PostgreSQL export wire form', () => {
  it('plans the tables under test', () => {
    expect(plans.map((p) => p.table).sort()).toEqual(['bulk', 'nokey', 'organizations', 'wide', 'wire']);
  });

  it('writes, for every row, exactly the values of the server JSON encoder, in canonical JSON', async () => {
    const exported = await exportAll();
    for (const plan of plans) {
      const expected = await serverJsonLines(plan);
      const lines = exported.get(plan.table)!.split('\n');
      expect(lines.pop(), plan.table).toBe('');
      expect(lines.length, plan.table).toBe(expected.length);
      for (const [i, line] of lines.entries()) {
        expect(line, `${plan.table} row ${i + 1}`).toBe(JSON.stringify(JSON.parse(expected[i]!)));
      }
    }
  });

  it('keeps the edge values of the wire form', async () => {
    const exported = await exportAll();
    const rows = exported
      .get('wire')!
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown[]);
    const plan = plans.find((p) => p.table === 'wire')!;
    const at = (row: number, column: string) => rows[row]![plan.columns.findIndex((c) => c.name === column)];
    expect(at(0, 'ts')).toBe('2020-01-01T07:04:56.123456+00:00');
    expect(at(0, 'ts_plain')).toBe('9999-12-31T23:59:59.999999');
    expect(at(1, 'ts')).toBe('infinity');
    expect(at(1, 'ts6')).toBe('-infinity');
    expect(at(1, 'ts0')).toBe('0044-03-15T12:00:00+00:00 BC');
    expect(at(1, 'ts_plain')).toBe('0044-03-15T12:00:00 BC');
    expect(at(2, 'ts')).toBe('12345-06-07T08:09:10.000001+00:00');
    expect(at(0, 'i2')).toBe(-32768);
    expect(at(0, 'b')).toBe(true);
    expect(at(0, 'dom_flag')).toBe(false);
    expect(at(0, 'bytes')).toBe(Buffer.from('00ff0a0d5c22010200', 'hex').toString('base64'));
    expect(at(0, 'dom_blob')).toBe('');
    expect(at(2, 'bytes')).toBe(Buffer.from('ab'.repeat(100000), 'hex').toString('base64'));
    expect(at(0, 'txt')).toBe(`${ALL_CONTROL} "q" \\ \\\\ \\N end`);
    expect(at(1, 'txt')).toBe('\\N');
    expect(at(2, 'txt')).toBe('\\');
    expect(at(2, 'vc')).toBe('\\\\N');
    expect(at(3, 'txt')).toBe('\t');
    expect(at(3, 'ch')).toBe('\\t');
    expect(at(0, 'ch')).toBe('ab'); // bpchar's text cast, as before
    expect(at(0, 'addr')).toBe('::1/128'); // inet's text cast, as before
    expect(rows).toHaveLength(4); // organization 2's row is not exported
  });
});
