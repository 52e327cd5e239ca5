/**
 * Tenant-database commands through the real CLI on a SQLite tenant: backup, list, restore with
 * its safety backup, retention (--keep-last, prune), and refusals with their exit codes.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords } from '../helpers/ledger-files.js';

let dir: string;
const db = () => new Database(path.join(dir, 'acme.sqlite'));
const rows = () => {
  const handle = db();
  try {
    return handle.prepare('SELECT id, quote(note) AS note FROM notes ORDER BY id').all();
  } finally {
    handle.close();
  }
};
const sleepToNextSecond = () => new Promise((resolve) => setTimeout(resolve, 1100 - (Date.now() % 1000)));

beforeAll(async () => {
  dir = await makeTempDir('tb-tenantcli-');
  const handle = db();
  handle.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO notes (note) VALUES ('first'), ('zweite 🚀'), (NULL), ('');`);
  handle.close();
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', tenants: { acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } } } }),
  );
});
afterAll(removeTempDirs);

describe('tenant commands', () => {
  it('backs up, lists, and restores with a safety backup', async () => {
    const original = rows();
    const backup = await runCli(['backup', 'acme', '--json'], { cwd: dir });
    expect(backup.code, backup.stderr).toBe(0);
    const record = JSON.parse(backup.stdout).record as { backup_filename: string; tenant: string; kind: string };
    expect(record).toMatchObject({ tenant: 'acme', kind: 'database' });
    expect(record.backup_filename).toMatch(/^acme_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.zip$/);

    const handle = db();
    handle.exec(`DELETE FROM notes WHERE id = 1; INSERT INTO notes (note) VALUES ('after');`);
    handle.close();
    expect(rows()).not.toEqual(original);

    await sleepToNextSecond();
    const dry = await runCli(['restore', 'acme', record.backup_filename, '--dry-run'], { cwd: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Dry run/);
    expect(rows()).not.toEqual(original);

    const restored = await runCli(['restore', 'acme', record.backup_filename, '--yes', '--json'], { cwd: dir });
    expect(restored.code, restored.stderr).toBe(0);
    const result = JSON.parse(restored.stdout) as { action: string; safety_backup: { backup_filename: string } };
    expect(result.action).toBe('restored');
    expect(result.safety_backup.backup_filename).toMatch(/^acme_/);
    expect(rows()).toEqual(original);

    const listed = JSON.parse((await runCli(['list', 'acme', '--json'], { cwd: dir })).stdout) as unknown[];
    expect(listed).toHaveLength(2);
  });

  it('refuses unknown tenants, flags that do not apply and missing confirmation, with documented codes', async () => {
    const unknown = await runCli(['backup', 'nope'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown tenant "nope"/);
    const [first] = JSON.parse((await runCli(['list', 'acme', '--json'], { cwd: dir })).stdout) as { backup_filename: string }[];
    const noYes = await runCli(['restore', 'acme', first!.backup_filename], { cwd: dir });
    expect(noYes.code).toBe(2);
    const badFlag = await runCli(['backup', '--org', '1', '--rotate', 'weekday'], { cwd: dir });
    expect(badFlag.code).toBe(2);
  });

  it('applies --keep-last after a backup and prune --dry-run / prune', async () => {
    for (let i = 0; i < 2; i += 1) {
      await sleepToNextSecond();
      expect((await runCli(['backup', 'acme'], { cwd: dir })).code).toBe(0);
    }
    const before = (await readdir(path.join(dir, 'backups/tenant-databases'))).filter((n) => n.endsWith('.zip'));
    expect(before.length).toBeGreaterThanOrEqual(4);
    const dry = JSON.parse((await runCli(['prune', 'acme', '--keep-last', '2', '--dry-run', '--json'], { cwd: dir })).stdout) as { removed: unknown[] };
    expect(dry.removed.length).toBeGreaterThan(0);
    expect((await readdir(path.join(dir, 'backups/tenant-databases'))).filter((n) => n.endsWith('.zip'))).toEqual(before);

    await sleepToNextSecond();
    const backup = await runCli(['backup', 'acme', '--keep-last', '2', '--json'], { cwd: dir });
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout).pruned.length).toBeGreaterThan(0);
    const ledger = { records: await ledgerRecords(path.join(dir, 'backups')) };
    const files = (await readdir(path.join(dir, 'backups/tenant-databases'))).filter((n) => n.endsWith('.zip')).sort();
    // Timestamped manual backups: the newest two stay; pre_restore safety backups are never pruned.
    expect(files.length).toBe(3);
    expect(ledger.records.map((r) => r.backup_filename).sort()).toEqual(files);
  });
});
