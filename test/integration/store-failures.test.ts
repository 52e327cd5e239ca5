/**
 * Failures of the store and of crafted archives (issue 18, point 11), with real files, a real
 * tiny file system (tmpfs, mounted as root as CI runs) and the real CLI on SQLite:
 * - a full disk is exit 1 "no space left on device", not exit 5, and last week's archive stays;
 * - a failed ledger write leaves no temp file behind;
 * - temp files of killed runs are removed by pid liveness, whatever their name;
 * - two manifest entries for one table are refused (exit 5) and nothing changes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { hostIdentity } from '../../src/host.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { frozenClock } from '../../src/retention/clock.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const mounted: string[] = [];
afterEach(() => {
  for (const target of mounted.splice(0).reverse()) execFileSync('umount', [target]);
});
afterAll(removeTempDirs);

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** The SQLite demo as shared and tenant database, the store at `storage` (relative to the dir). */
async function demoBed(storage = './store'): Promise<{ dir: string; store: string; database: string }> {
  const dir = await makeTempDir('tb-fail-');
  const database = path.join(dir, 'app.sqlite');
  await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), database);
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({
      storage: { dir: storage },
      timezone: 'UTC',
      organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
      tenants: { t: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } },
    }),
  );
  return { dir, store: path.join(dir, storage), database };
}

function mount(args: string[], target: string): void {
  execFileSync('mount', [...args, target]);
  mounted.push(target);
}

/** A pid that certainly belonged to a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('a full disk', () => {
  it('is exit 1 "no space left on device"; last week\'s archive and the store stay as they were', async () => {
    const bed = await demoBed('./small/store');
    await mkdir(path.join(bed.dir, 'small'));
    mount(['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs'], path.join(bed.dir, 'small'));
    const first = await runCli(['backup', '--org', '1', '--json'], { cwd: bed.dir });
    expect(first.code, first.stderr).toBe(0);
    const archive = (JSON.parse(first.stdout) as { record: { backup_path: string } }).record.backup_path;
    const before = await sha(archive);

    // 3 MiB of incompressible text in organization 1: its archive no longer fits in 1 MiB.
    const db = new Database(bed.database);
    db.prepare('UPDATE customers SET email = ? WHERE id = (SELECT min(id) FROM customers WHERE organization_id = 1)').run(randomBytes(3 * 1024 * 1024).toString('base64'));
    db.close();
    const full = await runCli(['backup', '--org', '1', '--json'], { cwd: bed.dir });
    expect(full.code, full.stderr).toBe(1);
    const error = JSON.parse(full.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string } };
    expect(error.error.code).toBe('OPERATION_FAILED');
    expect(error.error.message).toMatch(/no space left on device/i);
    expect(await sha(archive)).toBe(before);
    expect((await readdir(path.dirname(archive))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    const records = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: bed.dir })).stdout) as { status: string; error_message: string }[];
    expect(records.map((r) => r.status)).toEqual(['failed', 'success']);
    expect(records[0]!.error_message).toMatch(/no space left on device/i);
  }, 60_000);
});

describe('a ledger write that fails', () => {
  it('leaves no temp file, says which file, and leaves the ledger as it was', async () => {
    const dir = await makeTempDir('tb-fail-');
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    const record = await ledger.begin({
      kind: 'organization',
      organization_id: '1',
      tenant: null,
      user_id: null,
      day_of_week: 'monday',
      backup_filename: 'org_1_monday_backup.zip',
      backup_path: path.join(dir, 'organizations/org_1_monday_backup.zip'),
      backup_date: '2026-11-23',
    });
    // The organization's own file of the ledger (format 2: one file per organization).
    const file = path.join(dir, 'ledger', 'organizations', '1.json');
    const text = await readFile(file, 'utf8');
    // A file mounted over it: it reads, but nothing can be renamed over it (EBUSY).
    const copy = path.join(await makeTempDir('tb-fail-'), 'ledger-copy.json');
    await writeFile(copy, text, { mode: 0o600 });
    mount(['--bind', copy], file);
    await expect(ledger.finish(record.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) })).rejects.toThrow(
      /^Could not write the ledger file .*organizations\/1\.json: EBUSY.*The ledger was left as it was\.$/,
    );
    expect((await readdir(path.join(dir, 'ledger', 'tmp'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});

describe('temp files of killed runs', () => {
  it("are removed when their process is gone, whatever their name; a live run's are kept", async () => {
    const bed = await demoBed();
    expect((await runCli(['backup', 't'], { cwd: bed.dir })).code).toBe(0);
    const dead = await deadPid();
    const area = path.join(bed.store, 'tenant-databases');
    const host = encodeURIComponent(hostIdentity()).replaceAll('.', '%2E');
    // Earlier versions' names (no host), and this host's.
    const killed = [
      `.t_2026-01-01_00-00-00.zip.${dead}.0123456789ab.tmp`,
      `.t_monday_backup.zip.${dead}.0123456789ab.tmp`,
      `.t_2026-01-03_00-00-00.zip.@${host}.${dead}.0123456789ab.tmp`,
    ];
    const live = `.t_2026-01-02_00-00-00.zip.${process.pid}.0123456789ab.tmp`;
    // Another server's (a store several servers share): its pid means nothing here.
    const otherHost = `.t_2026-01-04_00-00-00.zip.@another-server.${dead}.0123456789ab.tmp`;
    for (const name of [...killed, live, otherHost]) await writeFile(path.join(area, name), 'partial', { mode: 0o600 });
    // The ledger writes only under its write lock: any temp file of its own found then is a dead writer's.
    const ledgerTemp = `.1.json.${dead}.abcdef01.tmp`;
    await writeFile(path.join(bed.store, 'ledger', 'tmp', ledgerTemp), '{', { mode: 0o600 });

    const next = await runCli(['backup', 't'], { cwd: bed.dir });
    expect(next.code, next.stderr).toBe(0);
    expect((await readdir(area)).filter((name) => name.endsWith('.tmp')).sort()).toEqual([live, otherHost].sort());
    expect(await readdir(path.join(bed.store, 'ledger', 'tmp'))).toEqual([]);
  }, 60_000);
});

describe('a manifest with two entries for one table', () => {
  it('is refused (exit 5) and the organization is unchanged', async () => {
    const bed = await demoBed();
    const backup = await runCli(['backup', '--org', '1', '--json'], { cwd: bed.dir });
    expect(backup.code, backup.stderr).toBe(0);
    const source = (JSON.parse(backup.stdout) as { record: { backup_path: string } }).record.backup_path;
    const crafted = 'org_acme_crafted_backup.zip';
    // Written with yazl: our own writer refuses such a manifest.
    const reader = await ArchiveReader.open(source);
    const zip = new ZipFile();
    const written = pipeline(zip.outputStream as Readable, createWriteStream(path.join(path.dirname(source), crafted), { mode: 0o600 }));
    const entries = [];
    const add = (entryPath: string, data: Buffer) => {
      zip.addBuffer(data, entryPath);
      return { path: entryPath, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    };
    for (const entry of reader.manifest.entries) {
      const chunks: Buffer[] = [];
      for await (const chunk of await reader.openEntry(entry.path)) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      entries.push({ ...entry, ...add(entry.path, data) });
      if (entry.table === 'customers') {
        // A second entry for the same table, valid checksums, other e-mails: the last would win.
        const changed = Buffer.from(data.toString('utf8').replaceAll(/"[^"]*@[^"]*"/g, '"attacker@example.com"'));
        entries.push({ ...entry, ...add('tables/customers-again.ndjson', changed) });
      }
    }
    zip.addBuffer(Buffer.from(JSON.stringify({ ...reader.manifest, entries })), 'manifest.json');
    zip.end();
    await written;
    await reader.close();

    const rows = () => {
      const db = new Database(bed.database, { readonly: true });
      try {
        return db.prepare('SELECT * FROM customers ORDER BY id').all();
      } finally {
        db.close();
      }
    };
    const before = rows();
    for (const args of [
      ['restore', '--org', '1', crafted, '--yes', '--json'],
      ['restore', '--org', '1', crafted, '--dry-run', '--json'],
    ]) {
      const result = await runCli(args, { cwd: bed.dir });
      expect(result.code, result.stderr).toBe(5);
      expect(result.stderr).toMatch(/entries\[\d+\]\.table: table \\"customers\\" has another entry already/);
    }
    expect(rows()).toEqual(before);
  }, 60_000);
});
