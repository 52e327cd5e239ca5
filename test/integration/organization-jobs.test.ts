/**
 * `backup --org --jobs N` on PostgreSQL: several connections read one snapshot
 * (pg_export_snapshot), tables not yet due are staged in memory or in encrypted part files.
 *
 * - `--jobs` is 1 to 16; anything else is a usage error that writes nothing.
 * - No more connections than tables: an organization of 3 tables with `--jobs 8` opens 3 snapshot
 *   connections (counted at a proxy in front of the real server), not 8.
 * - A connection that cannot join the snapshot is said once, as a warning; the backup goes on.
 * - A failed export leaves no part file behind, whatever the stagings were doing when it failed,
 *   and the previous archive stays as it was.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveWriter, type StagedEntry } from '../../src/archive/zip-writer.js';
import { organizationsSchema } from '../../src/config/schema.js';
import { exportTables } from '../../src/core/export-tables.js';
import { postgresEngine } from '../../src/engines/postgres/index.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { withPlannedSession } from '../helpers/org-engine.js';
import { pgMessages, startProxy, type Proxy, type Shaper } from '../helpers/tcp-proxy.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

let db: TestDatabase;
let proxy: Proxy;

/** `failing` has 5 columns: its COPY's CopyOutResponse is the only one announcing 5. */
const FAILING_COLUMNS = 5;

beforeAll(async () => {
  db = await createTestDatabase('postgres', 'tb_jobs');
  const knex = db.knex();
  await knex.raw(`CREATE TABLE organizations (id int PRIMARY KEY, name text, code text)`);
  await knex.raw(`CREATE TABLE failing (id int PRIMARY KEY, organization_id int NOT NULL REFERENCES organizations (id), a text, b text, c text)`);
  await knex.raw(`CREATE TABLE big (id int PRIMARY KEY, organization_id int NOT NULL REFERENCES organizations (id), txt text)`);
  await knex.raw(`INSERT INTO organizations VALUES (1, 'One', 'one')`);
  await knex.raw(`INSERT INTO failing SELECT g, 1, 'a' || g, 'b', 'c' FROM generate_series(1, 50) g`);
  // ~4 MB of md5 hex: over 1 MiB even compressed, so its staging goes to a part file.
  await knex.raw(`INSERT INTO big SELECT g, 1, (SELECT string_agg(md5(g::text || '-' || i::text), '') FROM generate_series(1, 3200) i) FROM generate_series(1, 40) g`);
  proxy = await startProxy({ host: '127.0.0.1', port: (db.connection as ServerConnection).port });
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await db?.drop();
  await removeTempDirs();
});

function orgConfig(stallTimeoutSeconds?: number) {
  return { client: 'pg', connection: { ...(db.connection as ServerConnection), port: proxy.port }, ...(stallTimeoutSeconds ? { stallTimeoutSeconds } : {}) };
}

async function cliDir(): Promise<string> {
  const dir = await makeTempDir('tb-jobs-');
  const raw = { storage: { dir: './backups' }, timezone: 'UTC', organizations: orgConfig() };
  await writeFile(path.join(dir, '.backuprc'), JSON.stringify(raw), { mode: 0o600 });
  return dir;
}

const listing = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).sort();
const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** Drops (at once) every connection whose server starts a COPY of `columns` columns. */
function dropCopyOf(columns: number, onCopy?: (connection: number) => 'hold' | 'drop'): Shaper {
  return (chunk, _offset, connection) => {
    const copy = pgMessages(chunk).find((m) => m.type === 'H');
    if (copy && copy.start + 8 <= chunk.length && chunk.readInt16BE(copy.start + 6) === columns) {
      if ((onCopy?.(connection) ?? 'drop') === 'hold') return 'hold';
      setImmediate(() => proxy.drop(connection));
      return 'hold';
    }
    return [{ bytes: chunk, delayMs: -1 }];
  };
}

describe('--jobs bounds', () => {
  it('refuses --jobs 0, 17 and abc with a usage error (exit 2), writing nothing', async () => {
    const dir = await cliDir();
    for (const jobs of ['0', '17', 'abc']) {
      const result = await runCli(['backup', '--org', '1', '--jobs', jobs, '--json'], { cwd: dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`--jobs must be an integer from 1 to 16, not \\"${jobs}\\"`);
      expect(result.stdout).toBe('');
    }
    expect(await listing(dir)).toEqual(['.backuprc']);
  });

  it('opens no more snapshot connections than there are tables (3 tables, --jobs 8: 3)', async () => {
    const dir = await cliDir();
    proxy.setShaper(undefined);
    const before = proxy.recorded.length;
    const result = await runCli(['backup', '--org', '1', '--jobs', '8', '--json'], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { tables: unknown[] }).tables).toHaveLength(3);
    // One session connection (planning), then the snapshot's: min(8, 3 tables).
    expect(proxy.recorded.length - before).toBe(1 + 3);
    expect(result.stderr).toBe('');
  }, 60_000);

  it('says once, as a warning, that a connection could not join the snapshot, and goes on with fewer', async () => {
    const dir = await cliDir();
    let dropped = 0;
    proxy.setClientFilter((chunk) => chunk.includes('SET TRANSACTION SNAPSHOT') && dropped++ === 0);
    try {
      const result = await runCli(['backup', '--org', '1', '--jobs', '3', '--json'], { cwd: dir });
      expect(result.code, result.stderr).toBe(0);
      const warnings = result.stderr
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { warning: string }).warning);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/only 2 of 3 connections read the snapshot \(1 could not be opened or join it: .+\); the backup goes on/);
      const stdout = JSON.parse(result.stdout) as { tables: Array<{ rows: number }> };
      expect(stdout.tables.map((t) => t.rows)).toEqual(expect.arrayContaining([1, 50, 40]));
    } finally {
      proxy.setClientFilter(undefined);
    }
  }, 60_000);
});

describe('a failed export with stagings under way', () => {
  it('removes every staged part before the error goes on (a staging done after the failure included)', async () => {
    const dir = await makeTempDir('tb-jobs-parts-');
    const config = organizationsSchema.parse(orgConfig());
    await withPlannedSession(postgresEngine, config, async (session, plans) => {
      const failing = plans.find((p) => p.table === 'failing')!;
      const big = plans.find((p) => p.table === 'big')!;
      const writer = await ArchiveWriter.open(path.join(dir, '.org_one_monday_backup.zip.@h.1.abcdef012345.tmp'));
      // The test learns when the big table's staging has finished (its part file complete).
      let staged!: (entry: StagedEntry) => void;
      const stagedDone = new Promise<StagedEntry>((resolve) => (staged = resolve));
      const stage = writer.stage.bind(writer);
      writer.stage = async (entryPath, source) => {
        const entry = await stage(entryPath, source);
        staged(entry);
        return entry;
      };
      // `failing` is the archive's next entry, `big` starts first (larger) and is staged: once its
      // part file is complete, `failing`'s connection (held at its COPY until then) is lost.
      proxy.setShaper(
        dropCopyOf(FAILING_COLUMNS, (connection) => {
          void stagedDone.then(() => proxy.drop(connection));
          return 'hold';
        }),
      );
      let failure: unknown;
      let readers = 0;
      let afterFailure: string[] = [];
      await session
        .withSnapshot(
          async (reader, more) => {
            readers = 1 + more.length;
            failure = await exportTables([reader, ...more], writer, [failing, big], {
              sizes: new Map([
                ['big', 100],
                ['failing', 1],
              ]),
            }).then(
              () => undefined,
              (error: unknown) => error,
            );
            afterFailure = await listing(dir);
          },
          { readers: 2 },
        )
        .catch(() => undefined); // the lost connection cannot COMMIT
      proxy.setShaper(undefined);
      expect(readers).toBe(2);
      expect(failure).toBeInstanceOf(Error);
      expect((await stagedDone).held).toBeUndefined(); // it was a part file
      // Before the writer's abort: only the archive's own temp file; the part is gone already.
      expect(afterFailure).toEqual(['.org_one_monday_backup.zip.@h.1.abcdef012345.tmp']);
      await writer.abort();
      expect(await listing(dir)).toEqual([]);
    });
  }, 60_000);

  it('through the CLI (--jobs 2): the backup fails, no temp or part file is left, the previous archive is intact', async () => {
    const dir = await cliDir();
    proxy.setShaper(undefined);
    const first = await runCli(['backup', '--org', '1', '--jobs', '2', '--json'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const archive = (JSON.parse(first.stdout) as { record: { backup_path: string } }).record.backup_path;
    const area = path.dirname(archive);
    const before = { files: await listing(area), sha: await sha(archive) };
    expect(before.files).toEqual([path.basename(archive)]);

    proxy.setShaper(dropCopyOf(FAILING_COLUMNS));
    try {
      const second = await runCli(['backup', '--org', '1', '--jobs', '2', '--json'], { cwd: dir });
      expect(second.code, second.stderr).toBe(1);
    } finally {
      proxy.setShaper(undefined);
    }
    expect(await listing(area)).toEqual(before.files);
    expect(await sha(archive)).toBe(before.sha);
  }, 60_000);
});
