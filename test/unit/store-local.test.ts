/**
 * The local-folder store: the Store contract (test/contract/store.contract.ts), plus what is the
 * folder's own — private modes, temp files as dot-files beside their final name, a killed run's
 * temp file removed (this host's only: the name carries the host), no commit across folders.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import { InvalidNameError } from '../../src/errors.js';
import { hostIdentity } from '../../src/host.js';
import { LocalStore, removeDeadTemps, tempFileName } from '../../src/store/local.js';
import { describeStoreContract } from '../contract/store.contract.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterEach(removeTempDirs);

describeStoreContract('local folder', {
  create: async () => ({ store: new LocalStore(path.join(await makeTempDir('tb-store-'), 'storage')), cleanup: removeTempDirs }),
});

describe('local folder store', () => {
  it('keeps its folders 0700 and its archives 0600', async () => {
    const store = new LocalStore(path.join(await makeTempDir('tb-store-'), 'storage'));
    const temp = await store.tempPath('organizations', 'org_1_monday_backup.zip');
    await writeFile(temp, 'x', { mode: 0o644 });
    const stored = await store.commit(temp, 'organizations', 'org_1_monday_backup.zip');
    expect((await stat(stored.path)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(stored.path))).mode & 0o777).toBe(0o700);
    expect((await stat(store.root)).mode & 0o777).toBe(0o700);
  });

  it("writes temp files as dot-files beside the final name, and removes a killed run's temp file", async () => {
    const store = new LocalStore(path.join(await makeTempDir('tb-store-'), 'storage'));
    const live = await store.tempPath('tenant-databases', 'acme_saturday_backup.zip');
    expect(path.dirname(live)).toBe(path.dirname(store.localPath('tenant-databases', 'acme_saturday_backup.zip')));
    const host = encodeURIComponent(hostIdentity()).replaceAll('.', '%2E');
    expect(path.basename(live)).toBe(`.acme_saturday_backup.zip.@${host}.${process.pid}.${path.basename(live).split('.').at(-2)}.tmp`);
    expect(path.basename(live)).toMatch(/\.[0-9a-f]{12}\.tmp$/);
    await writeFile(live, 'being written');
    // A process that has exited: its temp file is left over, as after SIGKILL.
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const leftover = path.join(path.dirname(live), `.acme_saturday_backup.zip.@${host}.${deadPid}.abcdef012345.tmp`);
    await writeFile(leftover, 'killed half-way');
    await store.tempPath('tenant-databases', 'acme_saturday_backup.zip');
    const names = await readdir(path.dirname(live));
    expect(names).toContain(path.basename(live)); // a live run's temp is never touched
    expect(names).not.toContain(path.basename(leftover));
  });

  it("never removes another host's temp files (a store several servers share); earlier versions' names are still cleaned by pid", async () => {
    const dir = await makeTempDir('tb-store-hosts-');
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const mine = (pid: number) => `.org_a_monday_backup.zip.@web-1%2Eexample%2Ecom.${pid}.abcdef012345.tmp`;
    // Another server's live upload: its pid may be dead here, or be a different process here: never ours to judge.
    const theirs = [`.org_a_monday_backup.zip.@web-2.${deadPid}.abcdef012345.tmp`, `.org_a_monday_backup.zip.@web-2.${process.pid}.abcdef012345.tmp`];
    const oldStyle = `.org_a_monday_backup.zip.${deadPid}.abcdef012345.tmp`;
    for (const name of [mine(deadPid), mine(process.pid), ...theirs, oldStyle]) await writeFile(path.join(dir, name), 'x');

    await removeDeadTemps(dir, 'web-1.example.com');
    expect((await readdir(dir)).sort()).toEqual([mine(process.pid), ...theirs].sort());
    // Seen from web-2, the same folder: its dead run's file goes, web-1's live one stays.
    await removeDeadTemps(dir, 'web-2');
    expect((await readdir(dir)).sort()).toEqual([mine(process.pid), theirs[1]!].sort());
  });

  it("names an archive's part files (staged entries) as this host's temp files: another host's cleaning leaves them alone", async () => {
    const dir = await makeTempDir('tb-store-parts-');
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const saved = process.env.TENANT_BACKUP_HOST;
    process.env.TENANT_BACKUP_HOST = 'host-a';
    let partName: string;
    try {
      const store = new LocalStore(path.join(dir, 'storage'));
      const temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      const writer = await ArchiveWriter.open(temp);
      // Incompressible and over the in-memory limit: the entry goes to a part file beside the archive.
      const staged = await writer.stage('data/big.ndjson', randomBytes(2 * 1024 * 1024));
      expect(path.dirname(staged.file)).toBe(path.dirname(temp));
      partName = path.basename(staged.file);
      await writer.abort();
    } finally {
      if (saved === undefined) delete process.env.TENANT_BACKUP_HOST;
      else process.env.TENANT_BACKUP_HOST = saved;
    }
    expect(partName).toMatch(new RegExp(`^\\.org_acme_monday_backup\\.zip\\.part\\.@host-a\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
    // The same name as a run of host A whose pid happens to be dead here (on host B).
    const part = partName.replace(`.${process.pid}.`, `.${deadPid}.`);
    await writeFile(path.join(dir, part), 'encrypted part of a live backup on host A');
    await removeDeadTemps(dir, 'host-b');
    expect(await readdir(dir)).toContain(part);
    // Host A itself, where that pid is dead: a crash's leftover, removed.
    await removeDeadTemps(dir, 'host-a');
    expect(await readdir(dir)).not.toContain(part);
  });

  it("judges an earlier version's part files (`<archive temp>.<pid>.<hex>.tmp`) by the host inside their name", async () => {
    const dir = await makeTempDir('tb-store-old-parts-');
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const oldPart = (host: string) => `.org_acme_monday_backup.zip.@${host}.${deadPid}.abcdef012345.tmp.${deadPid}.0123456789ab.tmp`;
    for (const host of ['host-a', 'host-b']) await writeFile(path.join(dir, oldPart(host)), 'x');
    await removeDeadTemps(dir, 'host-b');
    expect(await readdir(dir)).toEqual([oldPart('host-a')]);
    await removeDeadTemps(dir, 'host-a');
    expect(await readdir(dir)).toEqual([]);
  });

  it('names temp files by a long host name without exceeding file name limits, and never reads a dot in a host as a separator', () => {
    const long = tempFileName('org_a_monday_backup.zip', 'h'.repeat(300));
    expect(long).toMatch(/^\.org_a_monday_backup\.zip\.@~[0-9a-f]{16}\.\d+\.[0-9a-f]{12}\.tmp$/);
    expect(tempFileName('x.zip', 'a.b.c')).toMatch(/^\.x\.zip\.@a%2Eb%2Ec\.\d+\.[0-9a-f]{12}\.tmp$/);
  });

  it('refuses to commit a temp file from another folder (it would not be an atomic rename)', async () => {
    const store = new LocalStore(path.join(await makeTempDir('tb-store-'), 'storage'));
    const elsewhere = path.join(await makeTempDir('tb-store-other-'), 'x.tmp');
    await writeFile(elsewhere, 'x');
    await expect(store.commit(elsewhere, 'organizations', 'org_1_monday_backup.zip')).rejects.toBeInstanceOf(InvalidNameError);
  });
});
