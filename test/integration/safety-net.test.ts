/**
 * The CLI never exits 0 unless the command reached its result: a command whose promise never
 * settles (the event loop empties under it) ends with exit 1 and "internal error: operation did
 * not complete", its ledger record marked failed and its temp file removed.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords } from '../helpers/ledger-files.js';

afterAll(removeTempDirs);

it('turns an emptied event loop with an unfinished command into exit 1, record failed, temp removed', async () => {
  const dir = await makeTempDir('tb-safety-');
  const storage = path.join(dir, 'backups');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/never-settles.ts'), storage], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(stdout).toMatch(/begun record 1, temp /);
  expect(code).toBe(1);
  expect(stderr).toMatch(/^error: internal error: operation did not complete/);
  expect(await ledgerRecords(storage)).toMatchObject([{ status: 'failed', error_message: 'internal error: operation did not complete.' }]);
  expect(await readdir(path.join(storage, 'tenant-databases'))).toEqual([]);
}, 60_000);
