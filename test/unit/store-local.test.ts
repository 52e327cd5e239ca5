/**
 * The local-folder store: the Store contract (test/contract/store.contract.ts), plus what is the
 * folder's own — private modes, temp files as dot-files beside their final name, a killed run's
 * temp file removed, no commit across folders.
 */
import { spawnSync } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local.js';
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
    expect(path.basename(live)).toMatch(new RegExp(`^\\.acme_saturday_backup\\.zip\\.${process.pid}\\.[0-9a-f]+\\.tmp$`));
    await writeFile(live, 'being written');
    // A process that has exited: its temp file is left over, as after SIGKILL.
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const leftover = path.join(path.dirname(live), `.acme_saturday_backup.zip.${deadPid}.abcdef012345.tmp`);
    await writeFile(leftover, 'killed half-way');
    await store.tempPath('tenant-databases', 'acme_saturday_backup.zip');
    const names = await readdir(path.dirname(live));
    expect(names).toContain(path.basename(live)); // a live run's temp is never touched
    expect(names).not.toContain(path.basename(leftover));
  });

  it('refuses to commit a temp file from another folder (it would not be an atomic rename)', async () => {
    const store = new LocalStore(path.join(await makeTempDir('tb-store-'), 'storage'));
    const elsewhere = path.join(await makeTempDir('tb-store-other-'), 'x.tmp');
    await writeFile(elsewhere, 'x');
    await expect(store.commit(elsewhere, 'organizations', 'org_1_monday_backup.zip')).rejects.toBeInstanceOf(InvalidNameError);
  });
});
