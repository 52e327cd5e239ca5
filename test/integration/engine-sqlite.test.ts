/**
 * The SQLite organization engine against real SQLite files (better-sqlite3). The contract every
 * organization engine keeps runs from test/contract/organization-engine.contract.ts on this file's
 * schema (in WAL mode, so the application can write during a snapshot); the cases below are
 * SQLite's own: introspection of declared types and rowid aliases, id literals for every affinity,
 * storage classes in the NDJSON, foreign keys checked at COMMIT, counters, files that are missing
 * or not databases, and the value codec. Values are compared with SQLite's own forms (`quote()`,
 * `typeof()`, `hex()`) plus the raw driver value (to see -0.0 and text after a NUL).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrganizationsConfig } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import { decodeSqliteValue, encodeSqliteValue, naturalStorageClass } from '../../src/engines/sqlite/codec.js';
import { sqliteDialect } from '../../src/engines/sqlite/dialect.js';
import { sqliteEngine } from '../../src/engines/sqlite/index.js';
import type { OrganizationSession } from '../../src/engines/types.js';
import { ArchiveError, ConfigError, OperationError } from '../../src/errors.js';
import { describeOrganizationEngineContract, type OrganizationEngineBed } from '../contract/organization-engine.contract.js';
import { createTestDatabase } from '../helpers/databases.js';
import { exportTables, ndjsonRows, restoreTables } from '../helpers/org-engine.js';

const PARENT = 'sale "transactions"';
const q = sqliteDialect.quoteIdentifier;

const SCHEMA = `
CREATE TABLE organizations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  code TEXT,
  name TEXT NOT NULL,
  auto_backup_enabled BOOLEAN NOT NULL DEFAULT 1
);
CREATE TABLE ${q(PARENT)} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  organization_id INTEGER NOT NULL REFERENCES Organizations (id),
  "select" TEXT,
  big INTEGER,
  amount DECIMAL(20,6),
  ratio REAL,
  flag BOOLEAN,
  created_at DATETIME,
  due DATE,
  at_time TIME,
  payload JSON,
  uuid UUID,
  body TEXT,
  data BLOB,
  anything,
  "Mixed Case-col" VARCHAR(40),
  total INTEGER GENERATED ALWAYS AS (big + 1) VIRTUAL,
  unique_code TEXT UNIQUE
);
CREATE TABLE items (
  id INTEGER PRIMARY KEY,
  txn_id INTEGER NOT NULL REFERENCES ${q(PARENT)} (id),
  note TEXT NOT NULL,
  qty NUMERIC,
  doubled REAL GENERATED ALWAYS AS (qty * 2) STORED,
  replaces INTEGER REFERENCES items (id)
);
CREATE TABLE parts (a TEXT, b INTEGER, label TEXT, PRIMARY KEY (b, a)) WITHOUT ROWID;
CREATE TABLE part_refs (
  organization_id TEXT NOT NULL,
  x INTEGER,
  y TEXT,
  FOREIGN KEY (x, y) REFERENCES PARTS
);
CREATE TABLE loose (organization_id, v);
CREATE TABLE unrelated (id INTEGER PRIMARY KEY, v TEXT);
CREATE VIEW org_names AS SELECT name FROM organizations;
`;

const BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const TEXT = `Unicode 😀 é 中文 \u0001\u001f\t\n\r \\ back\\slash "double" 'single' \u2028\u2029 end`;

/** [id, org, select, big, amount, ratio, flag, created_at, due, at_time, payload, uuid, body, data, anything, mixed, unique_code] */
type ParentRow = unknown[];
const PARENT_ROWS: ParentRow[] = [
  [
    1n,
    1n,
    'from',
    9223372036854775807n,
    '12345678901234.123456',
    0.1,
    1n,
    '2024-02-29 23:59:59.999999',
    '0001-01-01',
    '23:59:59.123456',
    '{"a":[1,2.50,"x"],"é":null}',
    '123e4567-e89b-12d3-a456-426614174000',
    TEXT,
    BYTES,
    -0,
    'x',
    'A1',
  ],
  [
    2n,
    1n,
    '',
    -9223372036854775808n,
    9007199254740993n,
    Infinity,
    0n,
    1700000000123n,
    '9999-12-31',
    '00:00:00',
    '123',
    null,
    '',
    Buffer.alloc(0),
    'text in an untyped column',
    'a\u0000b',
    'B1',
  ],
  [
    3n,
    1n,
    null,
    'not a number',
    1.5,
    -Infinity,
    1.5,
    '2024-01-01T10:00:00.000001+05:30',
    null,
    null,
    null,
    null,
    Buffer.from([0, 255]),
    'text in a blob column',
    Buffer.from([1, 2, 3]),
    null,
    null,
  ],
  [4n, 1n, 'x', 1.5, 1e21, 'n/a', null, null, null, null, null, null, 12345n, null, 5e-324, '', 'D1'],
  [
    5n,
    2n,
    'org two',
    9007199254740993n,
    '0.000001',
    1.7976931348623157e308,
    1n,
    '1999-12-31 23:59:59',
    '2000-01-01',
    '12:00',
    '{}',
    null,
    'other org 😀',
    Buffer.from('beta'),
    42n,
    'y',
    'E1',
  ],
  [6n, 2n, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null],
];

const ITEMS: unknown[][] = [
  [1n, 1n, 'first item é', 1n],
  [2n, 1n, '', 2.5],
  [3n, 2n, 'qty as text', '3x'],
  [4n, 3n, 'NUL\u0000inside', null],
  [5n, 4n, 'last', 9223372036854775807n],
  [6n, 5n, 'org two item', 7n],
  [7n, 6n, 'org two item 2', 0.5],
];

function fill(filename: string): void {
  const db = new Database(filename);
  try {
    db.exec(SCHEMA);
    const insertOrg = db.prepare('INSERT INTO organizations (id, code, name, auto_backup_enabled) VALUES (?, ?, ?, ?)');
    insertOrg.run(1n, 'acme', 'Acme "Inc" é', 1n);
    insertOrg.run(2n, 'beta', 'Beta', 0n);
    const insertParent = db.prepare(
      `INSERT INTO ${q(PARENT)} (id, organization_id, "select", big, amount, ratio, flag, created_at, due, at_time, payload, uuid, body, data, anything, "Mixed Case-col", unique_code)
       VALUES (${Array(17).fill('?').join(', ')})`,
    );
    for (const row of PARENT_ROWS) insertParent.run(...row);
    const insertItem = db.prepare('INSERT INTO items (id, txn_id, note, qty) VALUES (?, ?, ?, ?)');
    for (const row of ITEMS) insertItem.run(...row);
    // Self-references pointing FORWARD (to a higher id): inserting in id order needs deferred checks.
    db.exec('UPDATE items SET replaces = 4 WHERE id = 1; UPDATE items SET replaces = 7 WHERE id = 6;');
    db.exec(`
      INSERT INTO parts (a, b, label) VALUES ('p', 1, 'part one'), ('q', 2, 'part two');
      INSERT INTO part_refs VALUES ('1', 1, 'p'), ('1', NULL, NULL), ('2', 2, 'q');
      INSERT INTO loose VALUES (1, 'one'), (2, 'two'), ('1', 'text one: not this organization''s row');
      INSERT INTO unrelated (v) VALUES ('never touched');
    `);
  } finally {
    db.close();
  }
}

/** Every row of every table in SQLite's exact forms, sorted (rowids of tables without an INTEGER PRIMARY KEY are not data). */

function dumpTables(filename: string): Record<string, string[]> {
  const db = new Database(filename, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`).pluck().all() as string[];
    const result: Record<string, string[]> = {};
    for (const table of tables) {
      const columns = db.prepare('SELECT name FROM pragma_table_xinfo(?)').pluck().all(table) as string[];
      const select = columns.map((c) => `quote(${q(c)}), typeof(${q(c)}), hex(${q(c)}), ${q(c)}`).join(', ');
      const rows = db
        .prepare(`SELECT ${select} FROM ${q(table)}`)
        .raw(true)
        .all() as unknown[][];
      result[table] = rows.map((row) => row.map(jsForm).join(' | ')).sort();
    }
    return result;
  } finally {
    db.close();
  }
}

function jsForm(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `i:${value}`;
  if (typeof value === 'number') return `r:${Object.is(value, -0) ? '-0' : String(value)}`;
  if (typeof value === 'string') return `s:${JSON.stringify(value)}`;
  if (Buffer.isBuffer(value)) return `b:${value.toString('hex')}`;
  throw new Error(`unexpected ${typeof value}`);
}

function withDb<T>(filename: string, fn: (db: Database.Database) => T): T {
  const db = new Database(filename);
  db.defaultSafeIntegers(true);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function configFor(filename: string): OrganizationsConfig {
  return {
    client: 'better-sqlite3',
    connection: { filename },
    stallTimeoutSeconds: 0,
    table: 'organizations',
    tenantColumn: 'organization_id',
    idColumn: 'id',
    codeColumn: 'code',
    nameColumn: 'name',
    tables: 'auto',
    exclude: [],
  };
}

/** A database file with the schema above, in WAL mode. */
async function createBed(): Promise<OrganizationEngineBed & { filename: string }> {
  const db = await createTestDatabase('sqlite', 'engine_sqlite');
  const filename = (db.connection as { filename: string }).filename;
  fill(filename);
  withDb(filename, (d) => d.pragma('journal_mode = WAL'));
  return {
    filename,
    config: configFor(filename),
    exec: async (sql) => withDb(filename, (d) => void d.exec(sql)),
    rows: async () => dumpTables(filename),
    drop: () => db.drop(),
  };
}

describeOrganizationEngineContract('sqlite', {
  engine: sqliteEngine,
  create: createBed,
  tables: { parent: PARENT, child: 'items' },
  organizations: [
    { id: '1', name: 'Acme "Inc" é', code: 'acme', autoBackupEnabled: true },
    { id: '2', name: 'Beta', code: 'beta', autoBackupEnabled: false },
  ],
  // One script: last_insert_rowid() belongs to the connection that inserted.
  mutation: [
    `DELETE FROM items WHERE id = 2;
     UPDATE ${q(PARENT)} SET body = 'changed', big = 0 WHERE id = 1;
     INSERT INTO ${q(PARENT)} (organization_id, body) VALUES (1, 'new row');
     INSERT INTO items (txn_id, note) VALUES (last_insert_rowid(), 'new item');
     UPDATE organizations SET name = 'renamed' WHERE id = 1;
     DELETE FROM part_refs WHERE organization_id = '1' AND x IS NULL;
     UPDATE loose SET v = 'changed' WHERE organization_id = 1;`,
  ],
  bulk: (rows) => [
    `CREATE TABLE bulk (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, filler TEXT)`,
    `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ${rows})
     INSERT INTO bulk SELECT i, 1, replace(hex(zeroblob(100)), '0', 'x') FROM g`,
  ],
  bulkRows: 20_000,
  // Lines are gathered into writes of about 64 K characters (ASCII here), plus the row that crossed it.
  outputPieceBytes: 128 * 1024,
});

describe('sqlite organization engine', () => {
  let bed: Awaited<ReturnType<typeof createBed>>;
  let filename: string;
  let session: OrganizationSession;

  beforeEach(async () => {
    bed = await createBed();
    filename = bed.filename;
    session = await sqliteEngine.connect(configFor(filename));
  });

  afterEach(async () => {
    await session?.close();
    await bed?.drop();
  });

  const plansFor = async (id = '1') => planOrganizationTables(await session.introspect(), configFor(filename), session.dialect, id);
  const restoreOrganization = (plans: Parameters<typeof restoreTables>[1], data: Map<string, Buffer>) => restoreTables(session, plans, data);

  it('introspects tables, declared types, generated columns, keys and composite foreign keys', async () => {
    expect(await session.serverVersion()).toMatch(/^3\.\d+\.\d+$/);
    const schema = await session.introspect();
    expect(schema.tables.map((t) => t.name).sort()).toEqual(['items', 'loose', 'organizations', 'part_refs', 'parts', PARENT, 'unrelated'].sort());

    const parent = schema.tables.find((t) => t.name === PARENT)!;
    const column = (name: string) => parent.columns.find((c) => c.name === name)!;
    expect(parent.columns.map((c) => c.name)).toEqual([
      'id',
      'organization_id',
      'select',
      'big',
      'amount',
      'ratio',
      'flag',
      'created_at',
      'due',
      'at_time',
      'payload',
      'uuid',
      'body',
      'data',
      'anything',
      'Mixed Case-col',
      'total',
      'unique_code',
    ]);
    expect(column('id')).toEqual({ name: 'id', type: 'INTEGER', nullable: false, encoding: 'string', autoIncrement: true, generated: false, hasDefault: false });
    expect(column('amount')).toMatchObject({ type: 'DECIMAL(20,6)', encoding: 'string', nullable: true });
    expect(column('ratio')).toMatchObject({ type: 'REAL', encoding: 'number' });
    expect(column('data')).toMatchObject({ type: 'BLOB', encoding: 'base64' });
    expect(column('anything')).toMatchObject({ type: '', encoding: 'base64' });
    expect(column('created_at')).toMatchObject({ type: 'DATETIME', encoding: 'string' });
    expect(column('Mixed Case-col')).toMatchObject({ type: 'VARCHAR(40)', encoding: 'string' });
    expect(column('total')).toMatchObject({ generated: true });
    expect(column('organization_id')).toMatchObject({ nullable: false, autoIncrement: false });
    expect(parent.primaryKey).toEqual(['id']);
    // `REFERENCES Organizations (id)`: resolved to the table's real name.
    expect(parent.foreignKeys).toEqual([expect.objectContaining({ columns: ['organization_id'], referencedTable: 'organizations', referencedColumns: ['id'] })]);

    const items = schema.tables.find((t) => t.name === 'items')!;
    expect(items.columns.find((c) => c.name === 'id')).toMatchObject({ autoIncrement: true });
    expect(items.columns.find((c) => c.name === 'doubled')).toMatchObject({ generated: true, type: 'REAL' });

    const parts = schema.tables.find((t) => t.name === 'parts')!;
    expect(parts.primaryKey).toEqual(['b', 'a']);
    expect(parts.columns.some((c) => c.autoIncrement)).toBe(false);
    // `FOREIGN KEY (x, y) REFERENCES PARTS`: no columns named → the parent's primary key, in key order.
    const refs = schema.tables.find((t) => t.name === 'part_refs')!;
    expect(refs.primaryKey).toEqual([]);
    expect(refs.foreignKeys).toEqual([expect.objectContaining({ columns: ['x', 'y'], referencedTable: 'parts', referencedColumns: ['b', 'a'] })]);

    const plans = await plansFor();
    expect(plans.map((p) => p.table)).toEqual(['organizations', 'loose', 'part_refs', PARENT, 'items']);
  });

  it('quotes identifiers and writes id literals that match INTEGER, TEXT and untyped columns', async () => {
    expect(sqliteDialect.quoteIdentifier('a"b')).toBe('"a""b"');
    expect(sqliteDialect.literal('1')).toBe('1');
    expect(sqliteDialect.literal('9223372036854775807')).toBe('9223372036854775807');
    expect(sqliteDialect.literal('9223372036854775808')).toBe("'9223372036854775808'");
    expect(sqliteDialect.literal('007')).toBe("'007'");
    expect(sqliteDialect.literal('abc-1_x')).toBe("'abc-1_x'");

    const plans = await plansFor();
    const counts = await session.withRestoreTransaction(plans, async (writer) => {
      const result: Record<string, number> = {};
      for (const plan of plans) result[plan.table] = await writer.countRows(plan);
      return result;
    });
    // part_refs.organization_id is TEXT ('1'), loose.organization_id is untyped (integer 1 and text '1').
    expect(counts).toEqual({ organizations: 1, loose: 1, part_refs: 2, [PARENT]: 4, items: 5 });

    await session.withSnapshot(async (reader) => {
      const config = configFor(filename);
      expect(await reader.findOrganization({ ...config, codeColumn: 'slug' }, '1')).toMatchObject({ code: null });
    });
  });

  it('writes every storage class plainly in its natural column and tagged elsewhere', async () => {
    const before = dumpTables(filename);
    // The fixture really holds the edge values (SQLite keeps -0.0 only outside REAL columns).
    expect(before[PARENT]!.some((row) => row.includes('r:-0'))).toBe(true);
    expect(before[PARENT]!.some((row) => row.includes('s:"a\\u0000b"'))).toBe(true);
    expect(before[PARENT]!.some((row) => row.includes(`s:"'not a number'" | s:"text"`))).toBe(true);

    const plans = await plansFor();
    const exported = await exportTables(session, plans);
    const parentLines = exported.get(PARENT)!.toString('utf8').split('\n').filter(Boolean);
    expect(parentLines).toHaveLength(4);
    const first = JSON.parse(parentLines[0]!) as unknown[];
    expect(first.slice(0, 6)).toEqual(['1', '1', 'from', '9223372036854775807', { r: '12345678901234.123' }, 0.1]);
    expect(first[first.length - 3]).toEqual({ r: '-0' });
    const third = JSON.parse(parentLines[2]!) as unknown[];
    expect(third.slice(3, 6)).toEqual([{ t: 'not a number' }, { r: '1.5' }, { r: '-Infinity' }]);
    expect(exported.get('items')!.toString('utf8').split('\n').filter(Boolean)).toHaveLength(5);
    expect(exported.get('loose')!.toString('utf8')).toBe('[{"i":"1"},{"t":"one"}]\n');
  });

  it('writes the columns in the order the plan gives them', async () => {
    const plans = await plansFor();
    const reordered = plans.map((plan) => ({ ...plan, columns: [...plan.columns].reverse() }));
    const exported = await exportTables(session, reordered);
    expect(ndjsonRows(exported.get('organizations')!)).toEqual([['1', 'Acme "Inc" é', 'acme', '1']]);
  });

  it('rolls everything back when a row violates NOT NULL', async () => {
    const plans = await plansFor();
    const exported = await exportTables(session, plans);
    const before = dumpTables(filename);
    const bad = new Map(exported);
    bad.set('items', Buffer.concat([exported.get('items')!, Buffer.from('["999","1",null,"1",null]\n')]));
    const failing = restoreOrganization(plans, bad);
    await expect(failing).rejects.toThrow(OperationError);
    await expect(failing).rejects.toThrow(/items.*NOT NULL constraint failed: items\.note/s);
    expect(dumpTables(filename)).toEqual(before);
  });

  it('refuses and rolls back a restore whose row points at a missing parent (it is no row of the organization)', async () => {
    const plans = await plansFor();
    const exported = await exportTables(session, plans);
    const before = dumpTables(filename);
    const bad = new Map(exported);
    bad.set('items', Buffer.concat([exported.get('items')!, Buffer.from('["999","424242","orphan","1",null]\n')]));
    const failing = restoreOrganization(plans, bad);
    await expect(failing).rejects.toThrow(ArchiveError);
    await expect(failing).rejects.toThrow(/table "items" holds a row that does not belong to this organization \(id = 999, txn_id = 424242\)/);
    expect(dumpTables(filename)).toEqual(before);

    // The restore connection's pragmas never reach other connections.
    withDb(filename, (db) => expect(db.pragma('defer_foreign_keys', { simple: true })).toBe(0n));
  });

  it('leaves counters past the restored ids', async () => {
    const plans = await plansFor();
    const exported = await exportTables(session, plans);
    // As in a database where the counter fell behind (e.g. restored into a fresh file).
    withDb(filename, (db) => db.exec(`UPDATE sqlite_sequence SET seq = 0`));
    await restoreOrganization(plans, exported);
    withDb(filename, (db) => {
      const seq = (name: string) => db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(name);
      expect(seq(PARENT)).toBe(6n); // the table's max id (org 2's row 6), not only org 1's
      expect(seq('organizations')).toBe(2n);
      // AUTOINCREMENT never reuses: the next id is past the sequence and the table's max.
      const parentId = db
        .prepare(`INSERT INTO ${q(PARENT)} (organization_id) VALUES (1) RETURNING id`)
        .pluck()
        .get();
      expect(parentId).toBe(7n);
      const orgId = db.prepare(`INSERT INTO organizations (name) VALUES ('new') RETURNING id`).pluck().get();
      expect(orgId).toBe(3n);
      const itemId = db.prepare(`INSERT INTO items (txn_id, note) VALUES (1, 'new') RETURNING id`).pluck().get();
      expect(itemId).toBe(8n);
    });
  });

  it('raises a lowered sqlite_sequence in resetCounters without ever lowering it', async () => {
    const plans = await plansFor();
    const parent = plans.find((p) => p.table === PARENT)!;
    withDb(filename, (db) =>
      db.exec(`UPDATE sqlite_sequence SET seq = 2 WHERE name = '${PARENT.replaceAll("'", "''")}'; UPDATE sqlite_sequence SET seq = 100 WHERE name = 'organizations'`),
    );
    await session.withRestoreTransaction(plans, async (writer) => {
      for (const plan of plans) await writer.resetCounters(plan);
    });
    withDb(filename, (db) => {
      expect(db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get(parent.table)).toBe(6n);
      expect(db.prepare('SELECT seq FROM sqlite_sequence WHERE name = ?').pluck().get('organizations')).toBe(100n);
    });
  });

  it('refuses a missing database file without creating it, and a file that is not a database', async () => {
    const missing = path.join(path.dirname(filename), 'missing.sqlite');
    const attempt = sqliteEngine.connect(configFor(missing));
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(missing);
    expect(fs.existsSync(missing)).toBe(false);

    const junk = path.join(path.dirname(filename), 'junk.sqlite');
    fs.writeFileSync(junk, 'this is not a database, just some text that is long enough to have a header');
    await expect(sqliteEngine.connect(configFor(junk))).rejects.toThrow(ConfigError);

    // A plain path string works as the connection, too.
    const viaString = await sqliteEngine.connect({ ...configFor(filename), connection: filename });
    await viaString.close();
    await expect(sqliteEngine.connect({ ...configFor(filename), connection: { filename: ':memory:' } })).rejects.toThrow(ConfigError);
  });
});

describe('sqlite value codec', () => {
  it('encodes each storage class plainly in its natural column and tagged elsewhere', () => {
    expect(naturalStorageClass('INTEGER')).toBe('integer');
    expect(naturalStorageClass('varchar(10)')).toBe('text');
    expect(naturalStorageClass('')).toBe('blob');
    expect(naturalStorageClass('DOUBLE PRECISION')).toBe('real');
    expect(naturalStorageClass('DATETIME')).toBe('text');
    expect(naturalStorageClass('DECIMAL(10,2)')).toBe('integer');

    const cases: Array<[unknown, 'integer' | 'real' | 'text' | 'blob', string]> = [
      [9223372036854775807n, 'integer', '"9223372036854775807"'],
      [-9223372036854775808n, 'text', '{"i":"-9223372036854775808"}'],
      [1.5, 'real', '1.5'],
      [1e21, 'real', '1e+21'],
      [-0, 'real', '{"r":"-0"}'],
      [Infinity, 'real', '{"r":"Infinity"}'],
      [-Infinity, 'integer', '{"r":"-Infinity"}'],
      [5e-324, 'text', '{"r":"5e-324"}'],
      ['a\u0000"b"', 'text', '"a\\u0000\\"b\\""'],
      ['', 'integer', '{"t":""}'],
      [Buffer.from([0, 255]), 'blob', '"AP8="'],
      [Buffer.alloc(0), 'text', '{"b":""}'],
      [null, 'integer', 'null'],
    ];
    for (const [value, natural, json] of cases) {
      expect(encodeSqliteValue(value, natural)).toBe(json);
      const back = decodeSqliteValue(JSON.parse(json), natural);
      if (typeof value === 'number') expect(Object.is(back, value)).toBe(true);
      else expect(back).toEqual(value);
    }
  });

  it('refuses values that do not fit the scheme', () => {
    expect(() => decodeSqliteValue('12a', 'integer')).toThrow(/not an integer/);
    expect(() => decodeSqliteValue('9223372036854775808', 'integer')).toThrow(/64-bit/);
    expect(() => decodeSqliteValue(1, 'integer')).toThrow();
    expect(() => decodeSqliteValue('1.5', 'real')).toThrow();
    expect(() => decodeSqliteValue('@@', 'blob')).toThrow(/base64/);
    expect(() => decodeSqliteValue({ r: 'NaN' }, 'real')).toThrow();
    expect(() => decodeSqliteValue({ x: '1' }, 'text')).toThrow();
    expect(() => decodeSqliteValue([1], 'text')).toThrow();
  });
});
