/**
 * The MySQL/MariaDB engine's NDJSON wire form, byte for byte: the export converts the text
 * protocol's row packets in place (src/engines/mysql/export-codec.ts, MysqlRowEncoder). Every line must be
 * exactly what the previous encoder wrote from mysql2's per-value Buffers (reimplemented below,
 * as it was): digits for integers (ZEROFILL through Number()), quoted server text for the ASCII
 * types, JSON.stringify of the UTF-8 text, base64 for binary. Values cover every type of the
 * engine's table, every control character, quotes, backslashes, 2/3/4-byte UTF-8, U+2028, and
 * values whose length prefixes take 1, 3 and 4 bytes (≥ 251 bytes, ≥ 64 KiB).
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationsSchema, type OrganizationsConfig } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import { exportSql } from '../../src/engines/mysql/export.js';
import { mysqlEngine } from '../../src/engines/mysql/index.js';
import type { ColumnInfo, OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { exportTables } from '../helpers/org-engine.js';

const ALL_CONTROL = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('');
const TEXT = `${ALL_CONTROL}\u007f "dq" 'sq' back\\slash \\n ü € 😀 𝄞 \u2028\u2029 \u{10FFFF} end`;

let db: TestDatabase;
let conn: mysql.Connection;
let session: OrganizationSession;
let plans: TablePlan[];
let config: OrganizationsConfig;

beforeAll(async () => {
  db = await createTestDatabase('mysql', 'my_wire');
  const c = db.connection as ServerConnection;
  conn = await mysql.createConnection({ ...c, charset: 'utf8mb4', multipleStatements: false });
  await conn.query("SET time_zone = '+00:00'");
  const mariadb = /mariadb/i.test(String(((await conn.query('SELECT VERSION() AS v')) as [Array<{ v: string }>, unknown])[0][0]!.v));
  await conn.query('CREATE TABLE organizations (id INT PRIMARY KEY, name VARCHAR(50), code VARCHAR(50))');
  await conn.query(`CREATE TABLE wire (
    id INT PRIMARY KEY, organization_id INT NOT NULL,
    i_tiny TINYINT, i_bool BOOLEAN, i_uint INT UNSIGNED, i_zf INT(6) UNSIGNED ZEROFILL, i_zf0 SMALLINT UNSIGNED ZEROFILL,
    big BIGINT, ubig BIGINT UNSIGNED, dec1 DECIMAL(65,30), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), yr YEAR,
    txt LONGTEXT, vc VARCHAR(400), ch CHAR(10), lat VARCHAR(50) CHARACTER SET latin1, en ENUM('a','b c','ü'), st SET('x','y'),
    js JSON, ${mariadb ? 'uu UUID, ip INET6,' : ''}
    bin VARBINARY(255), blb LONGBLOB, bt BIT(10), pt POINT
  ) DEFAULT CHARSET=utf8mb4`);
  await conn.query("INSERT INTO organizations VALUES (1, 'one', 'one'), (2, 'two', NULL)");
  const big = 'ü'.repeat(40000) + TEXT; // > 64 KiB of UTF-8: a 3-byte length prefix
  const mid = 'x'.repeat(300) + '"'; // ≥ 251 bytes: a 2-byte length prefix
  await conn.query(
    `INSERT INTO wire (id, organization_id, i_tiny, i_bool, i_uint, i_zf, i_zf0, big, ubig, dec1, f, d, dt, dtm, ts, tm, yr,
                       txt, vc, ch, lat, en, st, js, ${mariadb ? 'uu, ip,' : ''} bin, blb, bt)
     VALUES (1, 1, -128, 1, 4294967295, 42, 0, '-9223372036854775808', '18446744073709551615', '-1.000000000000000000000000000001',
             '123456789', '0.30000000000000004', '0000-00-00', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '-838:59:59', 2155,
             ?, ?, 'abc', 'caf\xe9 \xa3', 'ü', 'x,y', ?, ${mariadb ? "'123e4567-e89b-12d3-a456-426614174000', '::1'," : ''} ?, ?, b'1010101010'),
            (2, 1, 0, 0, 0, 7, 65535, '0', '0', '0', '-0.001', '1.7976931348623157e308', '2020-02-29', '2020-02-29 12:00:00.5', NULL, '00:00:00.000001', 0,
             ?, ?, '', '', 'b c', '', '[]', ${mariadb ? 'NULL, NULL,' : ''} ?, ?, b'0'),
            (3, 2, 1, 1, 1, 1, 1, '1', '1', '1', '1', '1', '2020-01-01', '2020-01-01 00:00:00', NULL, '00:00:00', 1999,
             'org 2', 'org 2', 'x', 'x', 'a', 'x', '{}', ${mariadb ? 'NULL, NULL,' : ''} NULL, NULL, NULL),
            (4, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, ${mariadb ? 'NULL, NULL,' : ''} NULL, NULL, NULL)`,
    [TEXT, mid, '{"a": [1, 2.50], "t": "\\u00e9\\n"}', Buffer.from([0, 255, 10, 13, 39, 92, 34]), Buffer.alloc(70000, 7), big, '', '', Buffer.alloc(0), Buffer.from([1])],
  );
  await conn.query("UPDATE wire SET pt = ST_GeomFromText('POINT(1.5 -2.25)') WHERE id = 1");
  await conn.query(`CREATE TABLE bulk (id INT PRIMARY KEY, organization_id INT NOT NULL, t TEXT, b BLOB, n DECIMAL(12,3))`);
  await conn
    .query(
      `INSERT INTO bulk SELECT seq, 1 + (seq % 7 = 0), REPEAT(CHAR(32 + seq % 90), seq % 500), IF(seq % 5 = 0, NULL, UNHEX(REPEAT(HEX(seq % 256), seq % 40))), seq / 8
                    FROM seq_1_to_20000`,
    )
    .catch(async () => {
      // MySQL has no sequence engine: fewer rows, built by a recursive CTE.
      await conn.query(`INSERT INTO bulk WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 1000)
                      SELECT seq, 1 + (seq % 7 = 0), REPEAT(CHAR(32 + seq % 90), seq % 500), IF(seq % 5 = 0, NULL, UNHEX(REPEAT(HEX(seq % 256), seq % 40))), seq / 8 FROM s`);
    });
  config = organizationsSchema.parse({ client: 'mysql2', connection: db.connection });
  session = await mysqlEngine.connect(config);
  plans = planOrganizationTables(await session.introspect(), config, session.dialect, '1');
});

afterAll(async () => {
  await session?.close();
  await conn?.end();
  await db?.drop();
});

/** The previous encoder, from mysql2's raw per-value Buffers (typeCast: false). */
function previousEncoder(column: ColumnInfo): (raw: Buffer) => string {
  const type = column.type.toLowerCase();
  const base = /^[a-z]+/.exec(type)?.[0] ?? type;
  if (column.encoding === 'number') return /\bzerofill\b/.test(type) ? (raw) => String(Number(raw.toString('latin1'))) : (raw) => raw.toString('latin1');
  if (column.encoding === 'base64') return (raw) => `"${raw.toString('base64')}"`;
  if (['bigint', 'decimal', 'float', 'double', 'date', 'datetime', 'timestamp', 'time', 'year'].includes(base)) return (raw) => `"${raw.toString('latin1')}"`;
  return (raw) => JSON.stringify(raw.toString('utf8'));
}

async function previousLines(plan: TablePlan): Promise<string[]> {
  const c = db.connection as ServerConnection;
  const raw = await mysql.createConnection({ ...c, charset: 'utf8mb4', supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  try {
    await raw.query("SET time_zone = '+00:00'");
    const [rows] = (await raw.query({ sql: exportSql(plan), rowsAsArray: true, typeCast: false })) as unknown as [Array<Array<Buffer | null>>];
    const encoders = plan.columns.map(previousEncoder);
    return rows.map((row) => `[${row.map((value, i) => (value === null ? 'null' : encoders[i]!(value))).join(',')}]`);
  } finally {
    await raw.end();
  }
}

describe('MySQL/MariaDB export wire form', () => {
  it('writes every line exactly as the previous encoder did', async () => {
    expect(plans.map((p) => p.table).sort()).toEqual(['bulk', 'organizations', 'wire']);
    const exported = new Map([...(await exportTables(session, plans))].map(([table, data]) => [table, data.toString('utf8')]));
    for (const plan of plans) {
      const expected = await previousLines(plan);
      const lines = exported.get(plan.table)!.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.length, plan.table).toBe(expected.length);
      for (const [i, line] of lines.entries()) expect(line, `${plan.table} row ${i + 1}`).toBe(expected[i]);
    }
    const wire = exported
      .get('wire')!
      .split('\n')
      .map((l) => (l ? (JSON.parse(l) as unknown[]) : []));
    const plan = plans.find((p) => p.table === 'wire')!;
    const at = (row: number, column: string) => wire[row]![plan.columns.findIndex((c) => c.name === column)];
    expect(at(0, 'txt')).toBe(TEXT);
    expect(at(0, 'i_zf')).toBe(42);
    expect(at(1, 'i_zf0')).toBe(65535);
    expect(at(0, 'lat')).toBe('café £');
    expect((at(1, 'txt') as string).endsWith(TEXT)).toBe(true);
  });
});
