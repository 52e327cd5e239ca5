/**
 * Database-per-tenant backup and restore on a real MariaDB 10.11 with the real mariadb-dump /
 * mariadb client. The contract every tenant database engine keeps (round trip of tables, a view, a
 * sequence, a procedure, a function, a trigger, an event and exotic values; a dump failing
 * half-way undone by loading the safety backup back automatically; other tenants' archives;
 * unreachable servers) runs from test/contract/database-engine.contract.ts with this file's schema.
 * The cases below are MySQL's own: exact values, a rollback that fails too, secrets only in a
 * private option file, exotic passwords, missing tools and wrong passwords, the argument builders.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import { mysqlDumpEngine, mysqldumpArgs, mysqlRestoreArgs, optionFileText } from '../../src/engines/mysql/dump.js';
import { ConnectionError, OperationError, TenantBackupError, ToolMissingError } from '../../src/errors.js';
import { describeDatabaseEngineContract } from '../contract/database-engine.contract.js';
import { adminKnex, createTestDatabase, serverInfo, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { watchCommandLines } from '../helpers/processes.js';
import { freePort } from '../helpers/servers.js';
import { backupChangeRestore, serverTenantDatabases, tenantBedPerTest, type TenantBed } from '../helpers/tenant.js';
import { ledgerText } from '../helpers/ledger-files.js';

async function createSchema(k: Knex): Promise<void> {
  for (const sql of [
    `CREATE TABLE customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200) UNIQUE,
       mood ENUM('sad', 'ok', 'happy'), created_at DATETIME(6) NOT NULL) DEFAULT CHARSET = utf8mb4`,
    `CREATE TABLE invoices (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT, amount DECIMAL(65, 30), big BIGINT,
       ubig BIGINT UNSIGNED, data BLOB, doc JSON, ts TIMESTAMP(6) NULL, dt DATETIME(6), note TEXT, f DOUBLE,
       FOREIGN KEY (customer_id) REFERENCES customers (id)) DEFAULT CHARSET = utf8mb4`,
    `CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, invoice_id BIGINT, action VARCHAR(20) NOT NULL)`,
    `CREATE SEQUENCE invoice_no START WITH 1000 INCREMENT BY 7`,
    `CREATE VIEW invoice_totals AS SELECT customer_id, SUM(amount) AS total, COUNT(*) AS n FROM invoices GROUP BY customer_id`,
    `CREATE TRIGGER invoices_audit AFTER INSERT ON invoices FOR EACH ROW INSERT INTO audit (invoice_id, action) VALUES (NEW.id, 'insert')`,
    `CREATE PROCEDURE rename_customer(IN p_id BIGINT, IN p_name VARCHAR(200)) UPDATE customers SET name = p_name WHERE id = p_id`,
    `CREATE FUNCTION add_one(a INT) RETURNS INT DETERMINISTIC RETURN a + 1`,
    `CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0`,
    `INSERT INTO customers (name, email, mood, created_at) VALUES
       ('Ada', 'ada@example.com', 'happy', '2026-01-02 03:04:05.123456'),
       ('', NULL, NULL, '1000-01-01 00:00:00.000001'),
       (CONCAT('emoji 😀 ctl ', CHAR(1), CHAR(7), CHAR(9), CHAR(10), CHAR(0), ' tail'), 'ünï@example.com', 'sad', '9999-12-31 23:59:59.999999')`,
    `INSERT INTO invoices (customer_id, amount, big, ubig, data, doc, ts, dt, note, f) VALUES
       (1, '12345678901234567890123456789012345.123456789012345678901234567890', 9223372036854775807, 18446744073709551615,
        X'00FF00FF7F', '{"a": [1, 2, {"b": null}], "e": "é"}', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.123456', 'note', 0.1),
       (2, '-0.000000000000000000000000000001', -9223372036854775808, 0, X'', '{}', NULL, '1000-01-01 00:00:00.000001', '', -1.5e300),
       (3, NULL, 9007199254740993, NULL, NULL, NULL, '2038-01-19 03:14:07.999999', NULL, NULL, NULL)`,
    `SELECT NEXTVAL(invoice_no)`,
  ]) {
    await k.raw(sql);
  }
}

type Row = Record<string, unknown>;
const rowsOf = (result: unknown) => (result as [Row[]])[0];

/** Row checksums per table (exact bytes via HEX(CAST(… AS BINARY)), NULL distinct from ''), schema objects, sequence state. */
async function fingerprint(k: Knex): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const tables = rowsOf(await k.raw(`SELECT TABLE_NAME AS t, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`));
  out.tables = tables;
  for (const { t, type } of tables as Array<{ t: string; type: string }>) {
    if (type === 'VIEW') {
      out[`view ${t}`] = rowsOf(await k.raw(`SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, [t]));
      continue;
    }
    if (type === 'SEQUENCE') {
      out[`sequence ${t}`] = rowsOf(await k.raw(`SELECT * FROM \`${t}\``));
      continue;
    }
    out[`create ${t}`] = rowsOf(await k.raw(`SHOW CREATE TABLE \`${t}\``))[0]?.['Create Table'];
    const columns = rowsOf(
      await k.raw(`SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, [t]),
    );
    const row = `MD5(CONCAT_WS('|', ${columns.map(({ c }) => `IFNULL(HEX(CAST(\`${String(c)}\` AS BINARY)), 'NULL')`).join(', ')}))`;
    out[`table ${t}`] = rowsOf(await k.raw(`SELECT COUNT(*) AS n, MD5(IFNULL(GROUP_CONCAT(${row} ORDER BY ${row} SEPARATOR ''), '')) AS md5 FROM \`${t}\``))[0];
  }
  out.routines = rowsOf(await k.raw(`SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1`));
  out.triggers = rowsOf(await k.raw(`SELECT TRIGGER_NAME, ACTION_STATEMENT, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1`));
  out.events = rowsOf(await k.raw(`SELECT EVENT_NAME, EVENT_DEFINITION, STATUS, INTERVAL_VALUE, STARTS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() ORDER BY 1`));
  return out;
}

async function mutate(k: Knex): Promise<void> {
  for (const sql of [
    `UPDATE customers SET name = 'changed', mood = 'ok' WHERE id = 1`,
    `DELETE FROM invoices WHERE id = 2`,
    `INSERT INTO invoices (customer_id, amount) VALUES (1, 1)`,
    `SELECT NEXTVAL(invoice_no)`,
    `DROP VIEW invoice_totals`,
    `DROP PROCEDURE rename_customer`,
    `CREATE TABLE later_child (id INT PRIMARY KEY, customer_id BIGINT, FOREIGN KEY (customer_id) REFERENCES customers (id))`,
    `CREATE VIEW later_view AS SELECT name FROM customers`,
    `CREATE FUNCTION later_fn(a INT) RETURNS INT DETERMINISTIC RETURN a * 2`,
  ]) {
    await k.raw(sql);
  }
}

/** acme and globex, each a database with the schema above. */
const createDatabases = () => serverTenantDatabases('mysql', { schema: createSchema, fingerprint, mutate });

describeDatabaseEngineContract('mysql', {
  engine: mysqlDumpEngine,
  client: 'mysql2',
  create: createDatabases,
  dumpTool: /mariadb-dump/,
  checkDump: async (dump) => {
    const sql = dump.toString('utf8');
    expect(sql).toMatch(/CREATE .*PROCEDURE `rename_customer`/);
    expect(sql).toMatch(/CREATE\b.*EVENT `nightly`/);
    expect(sql).not.toMatch(/CREATE DATABASE|^USE /m);
  },
  // Cut before the last INSERT, after a table the database does not have: the rollback must remove it.
  brokenDump: (good) => {
    const sql = good.toString('utf8');
    const cut = sql.lastIndexOf('\nINSERT INTO ');
    expect(cut).toBeGreaterThan(sql.indexOf('DROP TABLE IF EXISTS'));
    return Buffer.from(`CREATE TABLE created_by_broken_dump (id INT);\n${sql.slice(0, cut)}\nTHIS IS NOT SQL;\n`);
  },
  failedLoad:
    /mariadb failed \(exit code 1\)[\s\S]*ERROR 1064[\s\S]*safety backup was loaded back automatically: rollback succeeded, the database is as it was before the restore\./,
  failedLoadDetails: { rolled_back: true },
  unreachable: async (databases) => ({ ...(databases.tenants.acme.connection as ServerConnection), port: await freePort() }),
});

describe('MySQL/MariaDB tenant backup and restore', () => {
  const current = tenantBedPerTest('tb-tenant-my-', createDatabases);
  let bed: TenantBed;
  let databases: Awaited<ReturnType<typeof createDatabases>>;
  let acme: TestDatabase;

  beforeEach(() => {
    bed = current.bed();
    databases = current.databases();
    ({ acme } = databases);
  });

  it('restores exact values (decimals, 64-bit integers, binary, text with NUL and control characters)', async () => {
    await backupChangeRestore(bed, databases);
    const [inv] = rowsOf(
      await acme
        .knex()
        .raw(`SELECT CAST(amount AS CHAR) AS amount, CAST(big AS CHAR) AS big, CAST(ubig AS CHAR) AS ubig, HEX(data) AS data, CAST(dt AS CHAR) AS dt FROM invoices ORDER BY id`),
    );
    expect(inv).toEqual({
      amount: '12345678901234567890123456789012345.123456789012345678901234567890',
      big: '9223372036854775807',
      ubig: '18446744073709551615',
      data: '00FF00FF7F',
      dt: '2026-01-02 03:04:05.123456',
    });
    const [weird] = rowsOf(await acme.knex().raw(`SELECT HEX(name) AS h FROM customers WHERE id = 3`));
    expect(weird?.h).toBe(Buffer.from('emoji 😀 ctl \u0001\u0007\t\n\u0000 tail').toString('hex').toUpperCase());
  });

  it('when loading the safety backup back fails too, the error says both and how to recover', async () => {
    const deps = await bed.deps(databases.tenants);
    const good = await backupTenant(deps, { tenant: 'acme' });
    await mutate(acme.knex());
    const before = await fingerprint(acme.knex());
    // A PATH whose client always fails (the dump tool is the real one).
    const bin = path.join(bed.dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync('/usr/bin/mariadb-dump', path.join(bin, 'mariadb-dump'));
    // It answers --help like the real client (the restore checks its options), then fails every load.
    fs.writeFileSync(
      path.join(bin, 'mariadb'),
      '#!/bin/sh\nif [ "$2" = "--help" ]; then exec /usr/bin/mariadb "$@"; fi\ncat >/dev/null\necho "ERROR 2013 (HY000): Lost connection (simulated)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    bed.clock.set('2026-11-21T19:05:00Z');
    const error = await restoreTenant(deps, { tenant: 'acme', backup: good.record.backup_filename, searchPath: bin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /Lost connection \(simulated\)[\s\S]*Rolling back by loading the safety backup ALSO failed[\s\S]*tenant-backup restore acme acme_2026-11-21_19-05-00\.zip --no-safety-backup/,
    );
    expect((error as TenantBackupError).details).toMatchObject({ rolled_back: false, database_changed: true });
    // Following the advice restores the pre-restore state.
    bed.clock.set('2026-11-21T19:06:00Z');
    await restoreTenant(deps, { tenant: 'acme', backup: 'acme_2026-11-21_19-05-00.zip', safetyBackup: false });
    expect(await fingerprint(acme.knex())).toEqual(before);
  });

  it('keeps the password in a private option file only: never on an argv, in the ledger, archive or errors', async () => {
    await acme.knex().raw(`CREATE TABLE filler (id INT PRIMARY KEY, body TEXT)`);
    await acme.knex().raw(`INSERT INTO filler SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_200000`);
    const deps = await bed.deps(databases.tenants);
    const secret = serverInfo('mysql').password;
    let sawDump = 0;
    const optionFileModes = new Set<string>();
    const optionDirs = new Set<string>();
    const leaks: string[] = [];
    const { result: backup } = await watchCommandLines(
      () => backupTenant(deps, { tenant: 'acme' }),
      async (cmdline) => {
        if (/mariadb-dump|mysqldump/.test(cmdline)) {
          sawDump += 1;
          const file = /--defaults-file=([^\0]+)/.exec(cmdline)?.[1];
          if (file) optionDirs.add(path.dirname(file));
          const info = file ? await fsp.stat(file).catch(() => null) : null;
          const dirInfo = file ? await fsp.stat(path.dirname(file)).catch(() => null) : null;
          if (info && dirInfo) optionFileModes.add(`${(info.mode & 0o777).toString(8)}/${(dirInfo.mode & 0o777).toString(8)}`);
        }
        if (cmdline.includes(secret)) leaks.push(cmdline.replace(/\0/g, ' '));
      },
    );
    expect(leaks).toEqual([]);
    expect(sawDump).toBeGreaterThan(0);
    expect([...optionFileModes]).toEqual(['600/700']);
    expect(optionDirs.size).toBeGreaterThan(0);
    for (const optionDir of optionDirs) expect(fs.existsSync(optionDir), optionDir).toBe(false); // removed afterwards
    expect(await ledgerText(bed.storage)).not.toContain(secret);
    const reader = await ArchiveReader.open(backup.record.backup_path);
    expect(JSON.stringify(reader.manifest)).not.toContain(secret);
    await reader.close();
  });

  it('a password with quotes, #, backslash and spaces works through the option file', async () => {
    const db = await createTestDatabase('mysql', 'exotic');
    const user = `tb_x_${crypto.randomBytes(4).toString('hex')}`;
    const secret = `p"a#s\\w'o rd;$x\tz`;
    const admin = adminKnex('mysql');
    try {
      await admin.raw(`CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?`, [user, secret]);
      await admin.raw(`GRANT ALL ON \`${db.name}\`.* TO ?@'127.0.0.1'`, [user]);
      await db.knex().raw(`CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))`);
      await db.knex().raw(`INSERT INTO t VALUES (1, 'one'), (2, NULL)`);
      const c = db.connection as ServerConnection;
      const deps = await bed.deps({ exotic: { client: 'mysql2', connection: { host: c.host, port: c.port, user, password: secret, database: c.database } } });
      const backup = await backupTenant(deps, { tenant: 'exotic' });
      await db.knex().raw(`DELETE FROM t`);
      bed.clock.set('2026-11-21T19:05:00Z');
      await restoreTenant(deps, { tenant: 'exotic', backup: backup.record.backup_filename });
      expect(rowsOf(await db.knex().raw(`SELECT id, v FROM t ORDER BY id`))).toEqual([
        { id: 1, v: 'one' },
        { id: 2, v: null },
      ]);
      expect(optionFileText({ host: 'h', port: 1, user: 'u', password: secret })).toContain(`password="p\\"a#s\\\\w'o rd;$x\\tz"`);
    } finally {
      await admin.raw(`DROP USER IF EXISTS ?@'127.0.0.1'`, [user]).catch(() => undefined);
      await admin.destroy();
      await db.drop();
    }
  });

  it('a missing tool or a wrong password is a preflight error that changes no data and writes no archive', async () => {
    const deps = await bed.deps(databases.tenants);
    const good = await backupTenant(deps, { tenant: 'acme' });
    await mutate(acme.knex());
    const before = await fingerprint(acme.knex());
    const snapshot = await bed.files();
    const ledgerBefore = await deps.ledger.find();

    const empty = path.join(bed.dir, 'empty-bin');
    fs.mkdirSync(empty);
    const missing = await backupTenant(deps, { tenant: 'acme', searchPath: empty }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ToolMissingError);
    expect((missing as Error).message).toMatch(/"mariadb-dump" or "mysqldump" was not found on PATH.*apt-get install mariadb-client/);
    await expect(restoreTenant(deps, { tenant: 'acme', backup: good.record.backup_filename, searchPath: empty })).rejects.toBeInstanceOf(ToolMissingError);

    const c = acme.connection as ServerConnection;
    const wrong = `Wr0ng-${crypto.randomBytes(6).toString('hex')}`;
    const refused: string[] = [];
    for (const connection of [{ ...c, password: wrong }, `mysql://${c.user}:${wrong}@${c.host}:${c.port}/${c.database}`]) {
      const bad = await bed.deps({ acme: { client: 'mysql2', connection } });
      const error = await backupTenant(bad, { tenant: 'acme' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      expect((error as Error).message).toMatch(/Access denied/);
      expect((error as Error).message).not.toContain(wrong);
      refused.push((error as Error).message);
      const restoreError = await restoreTenant(bad, { tenant: 'acme', backup: good.record.backup_filename }).catch((e: unknown) => e);
      expect(restoreError).toBeInstanceOf(ConnectionError);
      expect((restoreError as Error).message).not.toContain(wrong);
    }

    expect(await bed.files()).toEqual(snapshot);
    // The backups that could not start are recorded failed, newest first, like an organization
    // backup that cannot connect; the restores and the unknown tenant are not recorded.
    const records = await deps.ledger.find();
    const added = records.filter((r) => !ledgerBefore.some((b) => b.id === r.id));
    expect(added.map((r) => [r.status, r.error_message])).toEqual([
      ['failed', refused[1]],
      ['failed', refused[0]],
      ['failed', (missing as Error).message],
    ]);
    expect(records.filter((r) => ledgerBefore.some((b) => b.id === r.id))).toEqual(ledgerBefore);
    expect(JSON.stringify(records)).not.toContain(wrong);
    expect(await fingerprint(acme.knex())).toEqual(before);
  });
});

describe('MySQL argument builders (pure)', () => {
  it('put the option file first and no secret on the argv', () => {
    const dump = mysqldumpArgs('/tmp/x/client.cnf', 'acme_db');
    expect(dump[0]).toBe('--defaults-file=/tmp/x/client.cnf');
    expect(dump).toEqual(expect.arrayContaining(['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--no-tablespaces']));
    expect(dump.at(-1)).toBe('acme_db');
    expect(mysqlRestoreArgs('/tmp/x/client.cnf', 'acme_db', { sandbox: true })).toEqual([
      '--defaults-file=/tmp/x/client.cnf',
      '--default-character-set=utf8mb4',
      '--batch',
      '--binary-mode',
      '--sandbox',
      '--local-infile=0',
      '--skip-reconnect',
      'acme_db',
    ]);
    expect(mysqlRestoreArgs('/tmp/x/client.cnf', 'acme_db', { sandbox: false })).not.toContain('--sandbox');
    expect(optionFileText({ host: '127.0.0.1', port: 3307, user: 'app', password: 'pw' })).toBe('[client]\nhost="127.0.0.1"\nport=3307\nprotocol=TCP\nuser="app"\npassword="pw"\n');
    expect(optionFileText({ socketPath: '/run/mysqld/mysqld.sock', user: 'app' })).toBe('[client]\nsocket="/run/mysqld/mysqld.sock"\nuser="app"\n');
  });
});
