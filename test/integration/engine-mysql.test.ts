/**
 * The MySQL/MariaDB organization engine against the real MariaDB test server. The contract every
 * organization engine keeps runs from test/contract/organization-engine.contract.ts on this file's
 * schema; the cases below are MySQL's own: introspection, the encodings of every type, restores on
 * their own connection with foreign-key checks off (and the checks that replace them),
 * AUTO_INCREMENT, batched inserts, URLs and the dialect.
 *
 * Rows are compared through the server's own text (`CAST(… AS CHAR)`, `HEX()` for binary,
 * `col + 0e0` for FLOAT), never through JS driver values.
 */
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { organizationsSchema, type OrganizationsConfig } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import { mysqlEngine } from '../../src/engines/mysql/index.js';
import type { OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { describeOrganizationEngineContract, type OrganizationEngineBed } from '../contract/organization-engine.contract.js';
import { createTestDatabase, serverInfo, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { exportTables, ndjsonRows, restoreTables, type RowSource } from '../helpers/org-engine.js';

const TX = 'sale transactions';
const ITEMS = 'sale-items';
const NOTES = 'item_notes';

const BLOB = crypto.randomBytes(3000);
BLOB[0] = 0;
BLOB[1] = 0x0a;
BLOB[2] = 0x27; // '
BLOB[3] = 0x5c; // \
const TRICKY_TEXT = 'emoji 😀 𝄞 ‰ ü \u0001\u001f\u007f tab\t nl\n cr\r back\\slash quote\' dq" \u2028 \u{10FFFF} end ';
const RAW_JSON = '{"a": [1, 2.50, 12345678901234567890],  "b" : "\\u00e9\\n", "c":{"d":null}}';

function ddl(mariadb: boolean): string[] {
  const mariaOnly = mariadb ? 'uu UUID NULL, ip INET6 NULL,' : '';
  return [
    `CREATE TABLE organizations (
       id INT AUTO_INCREMENT PRIMARY KEY,
       name VARCHAR(100) NOT NULL,
       code VARCHAR(50) NULL,
       auto_backup_enabled BOOLEAN NOT NULL DEFAULT 1
     )`,
    `CREATE TABLE \`${TX}\` (
       id INT AUTO_INCREMENT PRIMARY KEY,
       organization_id INT NOT NULL,
       \`select\` VARCHAR(20) NULL,
       \`we\`\`ird "Col"\` VARCHAR(20) NULL,
       i_tiny TINYINT NULL, i_bool BOOLEAN NULL, i_usmall SMALLINT UNSIGNED NULL, i_med MEDIUMINT NULL,
       i_int INT NULL, i_uint INT UNSIGNED NULL, i_zf INT(6) UNSIGNED ZEROFILL NULL,
       big BIGINT NULL, ubig BIGINT UNSIGNED NULL, dec1 DECIMAL(65,30) NULL,
       f FLOAT NULL, fmd FLOAT(7,3) NULL, d DOUBLE NULL,
       dt DATE NULL, dtm DATETIME(6) NULL, dtm0 DATETIME NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6) NULL, yr YEAR NULL,
       txt TEXT NULL, vc VARCHAR(255) NULL, ch CHAR(10) NULL, en ENUM('a','b c','ü') NULL, st SET('x','y','z') NULL,
       js JSON NULL, ${mariaOnly}
       bin VARBINARY(255) NULL, blb LONGBLOB NULL, bt BIT(10) NULL, bfix BINARY(4) NULL, pt POINT NULL,
       gen_v INT AS (i_int * 2) VIRTUAL,
       gen_s VARCHAR(300) AS (CONCAT(vc, '!')) STORED,
       CONSTRAINT fk_org FOREIGN KEY (organization_id) REFERENCES organizations(id)
     )`,
    `CREATE TABLE \`${ITEMS}\` (
       id INT AUTO_INCREMENT PRIMARY KEY,
       tx_id INT NOT NULL,
       line INT NOT NULL,
       parent_item_id INT NULL,
       qty DECIMAL(12,3) NOT NULL,
       note VARCHAR(100) NULL,
       UNIQUE KEY tx_line (tx_id, line),
       CONSTRAINT fk_tx FOREIGN KEY (tx_id) REFERENCES \`${TX}\`(id) ON DELETE CASCADE,
       CONSTRAINT fk_parent FOREIGN KEY (parent_item_id) REFERENCES \`${ITEMS}\`(id)
     )`,
    // Column order (line, tx_id) differs from the composite key's (tx_id, line).
    `CREATE TABLE ${NOTES} (
       id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
       line INT NOT NULL,
       tx_id INT NOT NULL,
       body TEXT NOT NULL,
       CONSTRAINT fk_item FOREIGN KEY (tx_id, line) REFERENCES \`${ITEMS}\`(tx_id, line)
     )`,
  ];
}

async function seed(conn: mysql.Connection, mariadb: boolean): Promise<void> {
  await conn.query('INSERT INTO organizations (id, name, code, auto_backup_enabled) VALUES (1, ?, ?, 1), (2, ?, NULL, 0)', ['Acme “Inc”', 'acme', 'Globex']);
  const cols = [
    'id',
    'organization_id',
    'select',
    'we`ird "Col"',
    'i_tiny',
    'i_bool',
    'i_usmall',
    'i_med',
    'i_int',
    'i_uint',
    'i_zf',
    'big',
    'ubig',
    'dec1',
    'f',
    'fmd',
    'd',
    'dt',
    'dtm',
    'dtm0',
    'ts',
    'tm',
    'yr',
    'txt',
    'vc',
    'ch',
    'en',
    'st',
    'js',
    ...(mariadb ? ['uu', 'ip'] : []),
    'bin',
    'blb',
    'bt',
    'bfix',
  ];
  const rows: unknown[][] = [
    // org 1: extremes
    [
      1,
      1,
      'from',
      'x`y',
      -128,
      1,
      65535,
      -8388608,
      -2147483648,
      4294967295,
      42,
      '-9223372036854775808',
      '18446744073709551615',
      '-12345678901234567890123456789012345.123456789012345678901234567890',
      '123456789',
      '1234.5678',
      '0.30000000000000004',
      '0001-01-01',
      '9999-12-31 23:59:59.999999',
      '1000-01-01 00:00:00',
      '2038-01-19 03:14:07.999999',
      '-838:59:59.000000',
      2155,
      TRICKY_TEXT,
      '',
      'abc',
      'b c',
      'x,z',
      RAW_JSON,
      ...(mariadb ? ['123e4567-e89b-12d3-a456-426614174000', '::ffff:1.2.3.4'] : []),
      Buffer.from([0, 255, 0, 10, 13, 39, 92]),
      BLOB,
      Buffer.from([0b10, 0b10101010]),
      Buffer.from([0, 1, 2, 0]),
    ],
    // org 1: zero dates, NULLs, other edges
    [
      2,
      1,
      null,
      null,
      127,
      0,
      0,
      8388607,
      2147483647,
      0,
      7,
      '9223372036854775807',
      '0',
      '0.000000000000000000000000000001',
      '0.1',
      '-0.001',
      '1.7976931348623157e308',
      '0000-00-00',
      '0000-00-00 00:00:00',
      '2026-01-02 03:04:05',
      '0000-00-00 00:00:00',
      '838:59:59.000000',
      0,
      '',
      null,
      '',
      'ü',
      '',
      '[]',
      ...(mariadb ? [null, null] : []),
      Buffer.alloc(0),
      Buffer.alloc(0),
      Buffer.from([0, 0]),
      Buffer.from([255, 255, 255, 255]),
    ],
    // org 2
    [
      3,
      2,
      'other',
      null,
      1,
      1,
      1,
      1,
      1,
      1,
      1,
      '1',
      '1',
      '1.5',
      '1.5',
      '1.5',
      '1.5',
      '2020-02-29',
      '2020-02-29 12:00:00.5',
      '2020-02-29 12:00:00',
      '2020-02-29 12:00:00.000001',
      '00:00:00.000001',
      1901,
      'org2 text',
      'org2',
      'z',
      'a',
      'y',
      '{"org":2}',
      ...(mariadb ? ['00000000-0000-0000-0000-000000000000', '2001:db8::1'] : []),
      Buffer.from('org2'),
      Buffer.from('blob2'),
      Buffer.from([1, 0]),
      Buffer.from('abcd'),
    ],
    // org 1 again, interleaved id
    [
      4,
      1,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      ...(mariadb ? [null, null] : []),
      null,
      null,
      null,
      null,
    ],
  ];
  const columnList = cols.map((c) => '`' + c.replace(/`/g, '``') + '`').join(', ');
  for (const row of rows) {
    await conn.query(`INSERT INTO \`${TX}\` (${columnList}) VALUES (?)`, [row]);
  }
  await conn.query(`UPDATE \`${TX}\` SET pt = ST_GeomFromText('POINT(1.5 -2.25)') WHERE id = 1`);
  await conn.query('SET FOREIGN_KEY_CHECKS = 0');
  // Item 1 references item 3 (a higher id): inserting in key order needs deferred FK checks.
  await conn.query(`INSERT INTO \`${ITEMS}\` (id, tx_id, line, parent_item_id, qty, note) VALUES
    (1, 1, 1, 3, '12.500', 'child of 3'), (2, 3, 1, NULL, '-1.000', 'org2'), (3, 1, 2, NULL, '0.001', NULL), (4, 4, 1, 4, '999999999.999', 'self')`);
  await conn.query('SET FOREIGN_KEY_CHECKS = 1');
  await conn.query(`INSERT INTO ${NOTES} (id, line, tx_id, body) VALUES (18446744073709551614, 1, 1, 'max-ish id'), (5, 1, 3, 'org2 note'), (6, 2, 1, ?)`, [TRICKY_TEXT]);
}

/** Every row of a table as the server's exact text, ordered by primary key. */
/** Every row of a table as the server's exact text, ordered by primary key. */
async function tableText(conn: mysql.Connection, table: string): Promise<string[]> {
  const [columns] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [table],
  );
  const exprs = columns.map(({ name, type }) => {
    const col = '`' + String(name).replace(/`/g, '``') + '`';
    if (/binary|blob|bit|point|geometry/.test(String(type))) return `HEX(${col})`;
    if (type === 'float') return `CAST(${col} + 0e0 AS CHAR)`;
    return `CAST(${col} AS CHAR)`;
  });
  const [rows] = await conn.query({ sql: `SELECT ${exprs.join(', ')} FROM \`${table.replace(/`/g, '``')}\` ORDER BY id`, rowsAsArray: true, typeCast: false });
  return (rows as Array<Array<Buffer | null>>).map((row) => row.map((v) => (v === null ? 'NULL' : `0x${v.toString('hex')}`)).join('|'));
}

/** Every row of every base table of the connection's database. */
async function allTextOf(conn: mysql.Connection): Promise<Record<string, string[]>> {
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`,
  );
  const out: Record<string, string[]> = {};
  for (const { name } of tables) out[String(name)] = await tableText(conn, String(name));
  return out;
}

async function isMariadb(conn: mysql.Connection): Promise<boolean> {
  const [v] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
  return /mariadb/i.test(String(v[0]!.v));
}

/** A database with the schema above; its own connection `conn` plays the application. */
async function createBed(): Promise<OrganizationEngineBed & { db: TestDatabase; conn: mysql.Connection; mariadb: boolean }> {
  const db = await createTestDatabase('mysql', 'engmy');
  const c = db.connection as ServerConnection;
  const conn = await mysql.createConnection({ ...c, charset: 'utf8mb4' });
  const mariadb = await isMariadb(conn);
  for (const statement of ddl(mariadb)) await conn.query(statement);
  await seed(conn, mariadb);
  return {
    db,
    conn,
    mariadb,
    config: organizationsSchema.parse({ client: 'mysql2', connection: { ...c } }),
    exec: async (sql) => void (await conn.query(sql)),
    rows: () => allTextOf(conn),
    drop: async () => {
      await conn.end();
      await db.drop();
    },
  };
}

describeOrganizationEngineContract('mysql', {
  engine: mysqlEngine,
  create: createBed,
  tables: { parent: TX, child: ITEMS },
  organizations: [
    { id: '1', name: 'Acme “Inc”', code: 'acme', autoBackupEnabled: true },
    { id: '2', name: 'Globex', code: null, autoBackupEnabled: false },
  ],
  mutation: [
    `UPDATE \`${TX}\` SET txt = 'changed', big = 0 WHERE id = 1`,
    `DELETE FROM ${NOTES} WHERE id = 6`,
    `INSERT INTO \`${ITEMS}\` (tx_id, line, qty) VALUES (1, 3, 1)`,
    "UPDATE organizations SET name = 'Renamed' WHERE id = 1",
  ],
  bulk: (rows) => [
    'CREATE TABLE bulk (id INT PRIMARY KEY, organization_id INT NOT NULL, filler TEXT)',
    `INSERT INTO bulk SELECT seq, 1, REPEAT('x', 200) FROM seq_1_to_${rows}`, // MariaDB's Sequence engine
  ],
  bulkRows: 50_000,
  // Rows are handed to the output once 1 MiB is pending (FLUSH_BYTES), plus what one socket read held.
  outputPieceBytes: 1.5 * 1024 * 1024,
  wrongPassword: {
    scheme: 'mysql',
    password: 'Wr0ng-Secret-Passw0rd',
    message: (c) => new RegExp(`at ${c.host}:${c.port} as ${c.user}: Access denied`),
  },
});

let bed: Awaited<ReturnType<typeof createBed>>;
let conn: mysql.Connection;
let config: OrganizationsConfig;
let mariadb: boolean;

const allText = () => allTextOf(conn);

async function withSession<T>(fn: (session: OrganizationSession) => Promise<T>): Promise<T> {
  const session = await mysqlEngine.connect(config);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

async function planFor(session: OrganizationSession, orgId = '1'): Promise<TablePlan[]> {
  return planOrganizationTables(await session.introspect(), config, session.dialect, orgId);
}

async function openConnections(): Promise<number> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE()');
  return Number(rows[0]!.n);
}

describe('mysql engine', () => {
  beforeAll(async () => {
    bed = await createBed();
    ({ conn, config, mariadb } = bed);
  });

  afterAll(async () => {
    await bed?.drop();
  });

  beforeEach(async () => {
    await conn.query('SET FOREIGN_KEY_CHECKS = 0');
    for (const table of [NOTES, ITEMS, TX, 'organizations']) await conn.query(`DROP TABLE IF EXISTS \`${table}\``);
    await conn.query('SET FOREIGN_KEY_CHECKS = 1');
    for (const statement of ddl(mariadb)) await conn.query(statement);
    await seed(conn, mariadb);
  });

  it('introspects base tables, types, encodings, keys and composite foreign keys', async () => {
    await conn.query('CREATE VIEW v_orgs AS SELECT id FROM organizations');
    const schema = await withSession((s) => s.introspect());
    expect(schema.tables.map((t) => t.name).sort()).toEqual([NOTES, 'organizations', ITEMS, TX].sort());
    const tx = schema.tables.find((t) => t.name === TX)!;
    const col = (name: string) => tx.columns.find((c) => c.name === name)!;
    expect(tx.columns[0]).toMatchObject({ name: 'id', autoIncrement: true, encoding: 'number', nullable: false, generated: false });
    expect(col('i_bool')).toMatchObject({ type: 'tinyint(1)', encoding: 'number' });
    expect(col('i_zf').type).toMatch(/zerofill/);
    expect(col('big')).toMatchObject({ encoding: 'string' });
    expect(col('ubig').type).toMatch(/^bigint(\(20\))? unsigned$/);
    expect(col('dec1')).toMatchObject({ type: 'decimal(65,30)', encoding: 'string' });
    expect(col('ts')).toMatchObject({ type: 'timestamp(6)', encoding: 'string', nullable: true });
    expect(col('js')).toMatchObject({ type: 'json', encoding: 'string' });
    expect(col('blb')).toMatchObject({ type: 'longblob', encoding: 'base64' });
    expect(col('bt')).toMatchObject({ type: 'bit(10)', encoding: 'base64' });
    expect(col('en')).toMatchObject({ type: "enum('a','b c','ü')", encoding: 'string' });
    expect(col('we`ird "Col"')).toBeDefined();
    expect(col('gen_v')).toMatchObject({ generated: true });
    expect(col('gen_s')).toMatchObject({ generated: true });
    if (mariadb) expect(col('uu')).toMatchObject({ type: 'uuid', encoding: 'string' });
    expect(tx.primaryKey).toEqual(['id']);
    expect(tx.foreignKeys).toEqual([
      { name: 'fk_org', columns: ['organization_id'], referencedTable: 'organizations', referencedColumns: ['id'], deferrable: false, onDelete: 'RESTRICT' },
    ]);
    const items = schema.tables.find((t) => t.name === ITEMS)!;
    expect(items.foreignKeys.map((f) => f.name).sort()).toEqual(['fk_parent', 'fk_tx']);
    const notes = schema.tables.find((t) => t.name === NOTES)!;
    expect(notes.foreignKeys).toEqual([
      { name: 'fk_item', columns: ['tx_id', 'line'], referencedTable: ITEMS, referencedColumns: ['tx_id', 'line'], deferrable: false, onDelete: 'RESTRICT' },
    ]);
    expect(notes.columns.find((c) => c.name === 'id')).toMatchObject({ encoding: 'string', autoIncrement: true });
  });

  it('reads the server version, and a missing code column as null', async () => {
    await withSession(async (session) => {
      expect(await session.serverVersion()).toBe(serverInfo('mysql').version);
      await session.withSnapshot(async (reader) => {
        expect(await reader.findOrganization({ ...config, codeColumn: 'nope' }, '1')).toMatchObject({ code: null });
      });
    });
  });

  it('encodes every type as documented; the restore runs on its own connection, closed afterwards, with its settings', async () => {
    const before = await allText();
    await withSession(async (session) => {
      const plans = await planFor(session);
      expect(plans.map((p) => p.table)).toEqual(['organizations', TX, ITEMS, NOTES]);
      const exported = await exportTables(session, plans);

      // Encodings as documented.
      const txLines = ndjsonRows(exported.get(TX)!);
      expect(txLines.map((l) => l[0])).toEqual([1, 2, 4]);
      const names = plans[1]!.columns.map((c) => c.name);
      const first = Object.fromEntries(names.map((n, i) => [n, txLines[0]![i]]));
      expect(names).not.toContain('gen_v');
      expect(first).toMatchObject({
        i_tiny: -128,
        i_bool: 1,
        i_zf: 42,
        big: '-9223372036854775808',
        ubig: '18446744073709551615',
        dec1: '-12345678901234567890123456789012345.123456789012345678901234567890',
        f: '123456792',
        fmd: '1234.5679931640625',
        d: '0.30000000000000004',
        dt: '0001-01-01',
        dtm: '9999-12-31 23:59:59.999999',
        ts: '2038-01-19 03:14:07.999999',
        tm: '-838:59:59.000000',
        yr: '2155',
        txt: TRICKY_TEXT,
        vc: '',
        js: RAW_JSON,
        blb: BLOB.toString('base64'),
        bt: Buffer.from([0b10, 0b10101010]).toString('base64'),
      });
      const second = Object.fromEntries(names.map((n, i) => [n, txLines[1]![i]]));
      expect(second).toMatchObject({ dt: '0000-00-00', dtm: '0000-00-00 00:00:00.000000', ts: '0000-00-00 00:00:00.000000', i_zf: 7, vc: null, ch: '', f: '0.10000000149011612' });

      const connectionsBefore = await openConnections();
      const inserted = await restoreTables(session, plans, exported);
      expect(inserted).toEqual([1, 3, 3, 2]);
      expect(await openConnections()).toBe(connectionsBefore); // the restore connection is closed
    });
    expect(await allText()).toEqual(before);
    // FOREIGN_KEY_CHECKS was only ever changed on the restore's own connection.
    const [fk] = await conn.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.foreign_key_checks AS g, @@SESSION.foreign_key_checks AS s');
    expect(fk[0]).toMatchObject({ g: 1, s: 1 });
  });

  it('moves AUTO_INCREMENT past restored ids (InnoDB does it on insert)', async () => {
    await withSession(async (session) => {
      const plans = await planFor(session);
      const exported = await exportTables(session, plans);
      // After the backup, the max-id rows are deleted and the counter is lowered below them.
      await conn.query(`DELETE FROM ${NOTES} WHERE id = 6`);
      await conn.query(`UPDATE \`${ITEMS}\` SET parent_item_id = NULL WHERE id IN (1, 4)`);
      await conn.query(`DELETE FROM \`${ITEMS}\` WHERE id IN (3, 4)`);
      await conn.query(`ALTER TABLE \`${ITEMS}\` AUTO_INCREMENT = 1`);
      await conn.query(`DELETE FROM \`${TX}\` WHERE id = 4`);
      await conn.query(`ALTER TABLE \`${TX}\` AUTO_INCREMENT = 1`);
      await restoreTables(session, plans, exported);
    });
    const [tx] = await conn.query<mysql.ResultSetHeader>(`INSERT INTO \`${TX}\` (organization_id) VALUES (1)`);
    expect(tx.insertId).toBe(5);
    const [item] = await conn.query<mysql.ResultSetHeader>(`INSERT INTO \`${ITEMS}\` (tx_id, line, qty) VALUES (1, 9, 1)`);
    expect(item.insertId).toBe(5);

    // A restore that removes the newest rows (not in the archive) never moves the counter back.
    await withSession(async (session) => {
      const plans = await planFor(session);
      const exported = await exportTables(session, plans);
      await conn.query(`INSERT INTO \`${TX}\` (organization_id) VALUES (1)`); // id 6, not in the archive
      await restoreTables(session, plans, exported);
    });
    const [again] = await conn.query<mysql.ResultSetHeader>(`INSERT INTO \`${TX}\` (organization_id) VALUES (2)`);
    expect(again.insertId).toBe(7);
  });

  describe('a failing restore rolls everything back', () => {
    async function expectRollback(change: (exported: Map<string, Buffer>) => Map<string, RowSource>, message: RegExp): Promise<void> {
      await withSession(async (session) => {
        const plans = await planFor(session);
        const exported = await exportTables(session, plans);
        await conn.query(`UPDATE \`${TX}\` SET txt = 'changed after backup' WHERE id = 2`);
        const before = await allText();
        const connectionsBefore = await openConnections();
        await expect(restoreTables(session, plans, change(exported))).rejects.toThrow(message);
        expect(await allText()).toEqual(before);
        expect(await openConnections()).toBe(connectionsBefore);
      });
    }
    const appendLine = (exported: Map<string, Buffer>, table: string, line: unknown[]) =>
      new Map<string, RowSource>([...exported, [table, Buffer.concat([exported.get(table)!, Buffer.from(JSON.stringify(line) + '\n')])]]);

    it('on a NOT NULL violation', async () => {
      await expectRollback((e) => appendLine(e, ITEMS, [10, null, 5, null, '1.000', 'bad']), /inserting into table "sale-items".*cannot be null/i);
    });

    it('on a duplicate key', async () => {
      await expectRollback((e) => appendLine(e, ITEMS, [11, 1, 1, null, '1.000', 'dup tx/line']), /Duplicate entry/);
    });

    it('on a row referencing a missing parent (checked before COMMIT, since FK checks are off)', async () => {
      await expectRollback((e) => appendLine(e, ITEMS, [12, 1, 7, 999, '1.000', 'orphan']), /fk_parent.*999/);
    });

    it('on a malformed line', async () => {
      await expectRollback((e) => appendLine(e, NOTES, ['1', 1]), /line 3 .*expected a JSON array of 4 values/);
    });
  });

  it('restores a large table in batched INSERTs inside the one transaction', async () => {
    await conn
      .query(
        `INSERT INTO \`${TX}\` (organization_id, txt, blb)
      SELECT 1, REPEAT('x', 200), RANDOM_BYTES(64) FROM seq_1_to_20000`,
      )
      .catch(async () => {
        // MySQL has no sequence engine: build 20000 rows from a cross join.
        await conn.query(`INSERT INTO \`${TX}\` (organization_id, txt, blb)
        SELECT 1, REPEAT('x', 200), UNHEX(MD5(RAND())) FROM information_schema.COLUMNS a, information_schema.COLUMNS b LIMIT 20000`);
      });
    const before = await tableText(conn, TX);
    await withSession(async (session) => {
      const plans = await planFor(session);
      const txPlan = plans.find((p) => p.table === TX)!;
      const progress: number[] = [];
      const result = await session.withSnapshot(async (reader) => {
        const pass = new PassThrough({ highWaterMark: 1024 });
        const slow = (async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of pass) {
            chunks.push(chunk as Buffer);
            if (chunks.length % 20 === 0) await new Promise((r) => setTimeout(r, 1));
          }
          return Buffer.concat(chunks);
        })();
        const [data, exported] = await Promise.all([slow, reader.exportTable(txPlan, pass, (n) => progress.push(n))]);
        return { data, exported };
      });
      expect(result.exported.rows).toBe(20003);
      expect(progress.at(-1)).toBe(20003);
      expect(progress.length).toBeGreaterThan(10);
      // Restore it in batches, then roll back (as a dry run would): the table is unchanged.
      await session
        .withRestoreTransaction(plans, async (writer) => {
          expect(await writer.countRows(txPlan)).toBe(20003);
          await writer.deleteRows(plans.find((p) => p.table === NOTES)!);
          await writer.deleteRows(plans.find((p) => p.table === ITEMS)!);
          await writer.deleteRows(txPlan);
          expect(await writer.importTable(txPlan, txPlan.columns, Readable.from([result.data]))).toBe(20003);
          throw new Error('dry run');
        })
        .catch((e: unknown) => {
          if ((e as Error).message !== 'dry run') throw e;
        });
    });
    expect(await tableText(conn, TX)).toEqual(before);
  });

  it('accepts a mysql:// URL', async () => {
    const c = bed.db.connection as ServerConnection;
    const url = `mysql://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`;
    const viaUrl = await mysqlEngine.connect({ ...config, connection: url });
    expect(await viaUrl.serverVersion()).toMatch(/MariaDB|^\d/);
    await viaUrl.close();
  });

  it('quotes identifiers and literals through the dialect', async () => {
    expect(mysqlEngine.name).toBe('mysql');
    await withSession(async (session) => {
      expect(session.dialect.quoteIdentifier('we`ird "Col"')).toBe('`we``ird "Col"`');
      expect(session.dialect.literal('org-1_A')).toBe("'org-1_A'");
    });
  });
});
