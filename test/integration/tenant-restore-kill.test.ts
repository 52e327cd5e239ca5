/**
 * kill -9 at random moments of a tenant restore (the real CLI, real servers), each followed at once
 * by the next command touching the tenant (`backup`): afterwards the tenant's database is always
 * whole — exactly as before the restore or exactly as restored (server-computed checksums of
 * every table, view, routine and trigger). MariaDB cannot roll a load back: the in-progress marker
 * and the repair by the next command do it; PostgreSQL loads in one transaction (verified here).
 * The orphaned load client of a killed run (the kill reaches only node) must end too.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps, type Deps } from '../../src/core/context.js';
import { restoreMarkerPath, writeRestoreMarker } from '../../src/core/restore-tenant-recovery.js';
import { OperationError } from '../../src/errors.js';
import { frozenClock } from '../../src/retention/clock.js';
import { BIN, runCli } from '../helpers/cli.js';
import { createTestDatabase, withTempDir, type TestDatabase } from '../helpers/databases.js';
import { tenantFingerprint } from '../helpers/tenant-fingerprint.js';

const RUNS = 20;
type Engine = 'postgres' | 'mysql';

async function createSchema(k: Knex, engine: Engine): Promise<void> {
  const statements =
    engine === 'postgres'
      ? [
          `CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text)`,
          `CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id), amount numeric(12, 2), memo text)`,
          `CREATE TABLE audit (id serial PRIMARY KEY, order_id int, action text)`,
          `CREATE VIEW totals AS SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id`,
          `CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (order_id, action) VALUES (NEW.id, 'insert'); RETURN NEW; END $$`,
          `CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_order()`,
          `INSERT INTO customers (name, note) SELECT 'customer ' || g, repeat(md5(g::text), 4) FROM generate_series(1, 1500) g`,
          `INSERT INTO orders (customer_id, amount, memo) SELECT 1 + g % 1500, g * 1.25, repeat(md5((g * 7)::text), 3) FROM generate_series(1, 3000) g`,
        ]
      : [
          `CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT)`,
          `CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12, 2), memo TEXT, FOREIGN KEY (customer_id) REFERENCES customers (id))`,
          `CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT, action VARCHAR(20))`,
          `CREATE VIEW totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id`,
          `CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id, action) VALUES (NEW.id, 'insert')`,
          `CREATE PROCEDURE rename_customer(IN p_id INT, IN p_name VARCHAR(100)) UPDATE customers SET name = p_name WHERE id = p_id`,
          `INSERT INTO customers (name, note) SELECT CONCAT('customer ', seq), REPEAT(MD5(seq), 4) FROM seq_1_to_1500`,
          `INSERT INTO orders (customer_id, amount, memo) SELECT 1 + seq % 1500, seq * 1.25, REPEAT(MD5(seq * 7), 3) FROM seq_1_to_3000`,
        ];
  for (const sql of statements) await k.raw(sql);
}

/** A different whole state: rows changed and removed, a view dropped, a table and a routine added. */
async function mutate(k: Knex, engine: Engine): Promise<void> {
  const statements = [
    `UPDATE customers SET name = 'changed' WHERE id <= 700`,
    `DELETE FROM orders WHERE id > 2000`,
    `DROP VIEW totals`,
    `CREATE TABLE later (id int PRIMARY KEY, v text)`,
    `INSERT INTO later VALUES (1, 'only in the second state')`,
    engine === 'postgres'
      ? `CREATE FUNCTION later_fn(a int) RETURNS int LANGUAGE sql AS $$ SELECT a * 2 $$`
      : `CREATE FUNCTION later_fn(a INT) RETURNS INT DETERMINISTIC RETURN a * 2`,
  ];
  for (const sql of statements) await k.raw(sql);
}

/** Live (non-zombie) processes in a process group: the killed CLI's orphaned children. */
function liveInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(entry));
  }
  return pids;
}

async function waitForGroupGone(pgid: number, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const live = liveInGroup(pgid);
    if (live.length === 0 || Date.now() > deadline) return live;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `restore` in its own process group and SIGKILLs node alone once `killMoment` resolves
 * (unless it exited first). The orphaned children stay in the group: see liveInGroup.
 */
async function restoreKilledAt(args: string[], killMoment: () => Promise<void>): Promise<{ pgid: number; killed: boolean; code: number | null }> {
  const child = spawn(process.execPath, [BIN, ...args], { detached: true, stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, TENANT_BACKUP_CONFIG: '' } });
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const first = await Promise.race([exited.then(() => 'exited' as const), killMoment().then(() => 'moment' as const)]);
  const killed = first === 'moment' && !done && child.kill('SIGKILL');
  const code = await exited;
  return { pgid: child.pid!, killed, code };
}

function killTest(engine: Engine) {
  let db: TestDatabase;
  let dir: string;
  let cleanup: () => Promise<void>;
  let configFile: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await withTempDir(`tb-kill-${engine}-`));
    db = await createTestDatabase(engine, 'acme');
    await createSchema(db.knex(), engine);
    configFile = path.join(dir, '.backuprc');
    fs.writeFileSync(
      configFile,
      JSON.stringify({ storage: { dir: './storage' }, timezone: 'UTC', tenants: { acme: { client: engine === 'postgres' ? 'pg' : 'mysql2', connection: db.connection } } }),
    );
  });
  afterAll(async () => {
    await db.drop();
    await cleanup();
  });

  it(`${RUNS} restores killed at random moments: the next command finds the tenant whole, before or restored`, { timeout: 600_000 }, async () => {
    const cli = (...args: string[]) => runCli([...args, '--config', configFile, '--json']);
    const backup = async () => {
      const result = await cli('backup', 'acme');
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout).record.backup_filename as string;
    };
    const fingerprint = () => tenantFingerprint(db.knex(), engine);
    const marker = path.join(dir, 'storage/tenant-databases/.restore-in-progress.acme.json');

    const states = { first: { archive: await backup(), fp: await fingerprint() }, second: { archive: '', fp: {} as Record<string, unknown> } };
    await mutate(db.knex(), engine);
    states.second = { archive: await backup(), fp: await fingerprint() };
    expect(states.second.fp).not.toEqual(states.first.fp);

    // One restore to completion, timed: how long a run takes, and how long its load (which starts
    // right after the safety backup is committed) lasts.
    const archives = () => fs.readdirSync(path.join(dir, 'storage/tenant-databases')).filter((f) => f.endsWith('.zip')).length;
    const untilLoadStarts = async (deadline: number) => {
      const before = archives();
      while (archives() === before && Date.now() < deadline) await sleep(3);
    };
    const started = Date.now();
    const calibration = cli('restore', 'acme', states.first.archive, '--yes');
    await untilLoadStarts(Date.now() + 60_000);
    const loadStarts = Date.now() - started;
    const full = await calibration;
    const duration = Date.now() - started;
    const loadLasts = duration - loadStarts;
    expect(full.code, full.stderr).toBe(0);
    expect(await fingerprint()).toEqual(states.first.fp);
    let current: 'first' | 'second' = 'first';

    const outcomes: string[] = [];
    let markerLeft = 0;
    let lockedNext = 0;
    let kills = 0;
    // Until RUNS restores were killed (a run that ends before its kill moment also counts as a try).
    for (let run = 0; kills < RUNS && run < 3 * RUNS; run += 1) {
      const other: 'first' | 'second' = current === 'first' ? 'second' : 'first';
      // Random moments: even tries anywhere in a run, odd tries within the load (random time after its start).
      const wait = Math.round(Math.random() * (run % 2 === 0 ? duration : loadLasts));
      const at = run % 2 === 0 ? `${wait}ms` : `load+${wait}ms`;
      const killed = await restoreKilledAt(['restore', 'acme', states[other].archive, '--yes', '--json', '--config', configFile], async () => {
        if (run % 2 === 1) await untilLoadStarts(Date.now() + 60_000);
        await sleep(wait);
      });
      if (killed.killed) kills += 1;
      if (fs.existsSync(marker)) markerLeft += 1;
      // The next command, at once: it must repair (MariaDB) or see a rolled-back load (PostgreSQL).
      let next = await cli('backup', 'acme');
      if (next.code === 7) {
        // Killed between taking the operation lock and recording its pid beside it (src/ledger/locks.ts):
        // the lock is taken over only once stale (10 s). The database was not touched yet.
        lockedNext += 1;
        expect(fs.existsSync(marker), `run ${run}`).toBe(false);
        expect(await fingerprint(), `run ${run}: locked out, but not as before`).toEqual(states[current].fp);
        for (let tries = 0; next.code === 7 && tries < 30; tries += 1) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          next = await cli('backup', 'acme');
        }
      }
      expect(next.code, next.stderr).toBe(0);
      expect(await waitForGroupGone(killed.pgid, 30_000), `run ${run}: processes of the killed restore still running`).toEqual([]);
      expect(fs.existsSync(marker), `run ${run}: marker still there after the next command`).toBe(false);
      const fp = await fingerprint();
      const same = (state: 'first' | 'second') => JSON.stringify(fp) === JSON.stringify(states[state].fp);
      const now: 'first' | 'second' | null = same(current) ? current : same(other) ? other : null;
      outcomes.push(`${at}:${killed.killed ? 'killed' : `exit ${killed.code}`}:${now === current ? 'before' : now === other ? 'restored' : 'BROKEN'}`);
      expect(now, `run ${run} (kill at ${at}): the database is neither as before nor as restored; runs so far: ${outcomes.join(' ')}`).not.toBeNull();
      current = now!;
    }
    expect(kills, `${outcomes.join(' ')} (next command locked out: ${lockedNext})`).toBe(RUNS);
    // The kills did land while the database was being changed (MariaDB records that in its marker).
    if (engine === 'mysql') expect(markerLeft, outcomes.join(' ')).toBeGreaterThan(0);
  });
}

describe('kill -9 during a MariaDB tenant restore', () => killTest('mysql'));

describe('the repair of an interrupted MariaDB restore', () => {
  let db: TestDatabase;
  let dir: string;
  let cleanup: () => Promise<void>;
  let deps: Deps;
  const clock = frozenClock('2026-11-21T19:00:00Z');
  beforeAll(async () => {
    ({ dir, cleanup } = await withTempDir('tb-repair-'));
    db = await createTestDatabase('mysql', 'acme');
    await createSchema(db.knex(), 'mysql');
    const raw = { storage: { dir: './storage' }, timezone: 'UTC', tenants: { acme: { client: 'mysql2', connection: db.connection } } };
    deps = await createDeps({ config: resolveConfig(raw, path.join(dir, '.backuprc'), {}), clock });
  });
  afterAll(async () => {
    await db.drop();
    await cleanup();
  });

  it('without a safety backup it completes the restore; a repair that cannot load refuses to go on and keeps the record', async () => {
    const archive = (await backupTenant(deps, { tenant: 'acme' })).record.backup_filename;
    const whole = await tenantFingerprint(db.knex(), 'mysql');
    // As a restore --no-safety-backup killed halfway would leave it.
    await writeRestoreMarker(deps, { tenant: 'acme', archive, reload_kind: 'archive', reload: archive });
    await db.knex().raw('DROP VIEW totals');
    await db.knex().raw('DELETE FROM orders WHERE id > 10');
    clock.set('2026-11-21T19:00:01Z');
    const backup = await backupTenant(deps, { tenant: 'acme' });
    expect(await tenantFingerprint(db.knex(), 'mysql')).toEqual(whole);
    expect(fs.existsSync(restoreMarkerPath(deps, 'acme'))).toBe(false);
    expect(backup.record.status).toBe('success');

    // The archive the repair needs is gone: nothing else is done, the record stays for the next try.
    await writeRestoreMarker(deps, { tenant: 'acme', archive: 'acme_2026-01-01_00-00-00.zip', reload_kind: 'safety_backup', reload: 'acme_2026-01-01_00-00-00.zip' });
    const records = await deps.ledger.find();
    clock.set('2026-11-21T19:00:02Z');
    const error = await backupTenant(deps, { tenant: 'acme' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/may be half-restored.*acme_2026-01-01_00-00-00\.zip.*failed[\s\S]*tries the repair again/);
    expect(await deps.ledger.find()).toEqual(records);
    expect(fs.existsSync(restoreMarkerPath(deps, 'acme'))).toBe(true);

    // A record that is not one of ours is an error, never ignored.
    fs.writeFileSync(restoreMarkerPath(deps, 'acme'), 'not json');
    await expect(backupTenant(deps, { tenant: 'acme' })).rejects.toThrow(/cannot be used \(it is not JSON\)/);
    fs.rmSync(restoreMarkerPath(deps, 'acme'));
  });
});
describe('kill -9 during a PostgreSQL tenant restore', () => killTest('postgres'));
