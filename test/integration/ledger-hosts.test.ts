/**
 * Issue 17 point 3: a lock is never taken over from a live holder. The holder's liveness does not
 * depend on its event loop (a holder blocked for longer than the old 10 s stale time keeps its
 * lock and its record), nor on anybody's clock (contenders run with a skewed clock, `faketime`).
 * A second machine on the same store — simulated with its own mount and UTS namespaces
 * (`unshare`: another host name, the store bind-mounted at another path) and a clock 15 s ahead —
 * is refused with a clear error pointing to the database ledger, and changes nothing.
 *
 * Needs root (unshare, mount) and faketime, as CI has them (scripts/test-full.sh installs faketime).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockedError } from '../../src/errors.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { systemClock } from '../../src/retention/clock.js';
import { BIN, ROOT, runCli, runProgram } from '../helpers/cli.js';
import { ledgerRecords, ledgerText } from '../helpers/ledger-files.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const run = runProgram;

/** Starts the blocked holder and resolves once it holds the lock (and has recorded in_progress). */
async function startBlockedHolder(store: string, organizationId: string, blockMs: number): Promise<{ child: ChildProcess; done: Promise<string> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/blocked-holder.ts'), store, organizationId, String(blockMs)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const done = new Promise<string>((resolve) => child.once('close', () => resolve(out)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('holding')) resolve();
    });
    child.once('close', () => reject(new Error(`the holder ended before holding: ${out}`)));
  });
  return { child, done };
}

let dir: string;
let store: string;

beforeAll(async () => {
  expect(process.getuid?.(), 'this test needs root (unshare, mount), as CI runs it').toBe(0);
  dir = await makeTempDir('tb-hosts-');
  store = path.join(dir, 'backups');
  await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
  await writeFile(
    path.join(dir, '.backuprc'),
    JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
  );
  // The store exists and belongs to this host before the other host shows up.
  expect((await runCli(['auto', '--org', '2', '--json'], { cwd: dir })).code).toBe(0);
});
afterAll(removeTempDirs);

describe('a live holder keeps its lock', () => {
  it("while its event loop is blocked for longer than the old stale time, whatever the contenders' clocks", async () => {
    const ledger = new JsonFileLedger(store, systemClock);
    const holder = await startBlockedHolder(store, '1', 12_000);
    const started = Date.now();
    const attempts: string[] = [];
    while (Date.now() - started < 8_000) {
      // a margin of 4 s: an attempt started here ends while the holder holds
      const error = await ledger.withLock('org-1', async () => 'taken').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockedError);
      // A contender whose clock is a day ahead: `auto` finds no backup "today" and must not get the lock either.
      const skewed = await run('faketime', ['-f', '+1d', process.execPath, BIN, 'auto', '--org', '1', '--json'], { cwd: dir });
      expect(skewed.code, skewed.stderr).toBe(0);
      const outcome = JSON.parse(skewed.stdout) as { action: string; reason: string };
      expect(outcome).toMatchObject({ action: 'skipped', reason: 'in_progress' });
      // Listing recovers dead runs: this one lives, its record stays in_progress.
      const listed = await run('faketime', ['-f', '+15s', process.execPath, BIN, 'list', '--org', '1', '--json'], { cwd: dir });
      expect((JSON.parse(listed.stdout) as Array<{ status: string }>).map((r) => r.status)).toEqual(['in_progress']);
      attempts.push(outcome.reason);
    }
    expect(attempts.length).toBeGreaterThan(2);
    expect(await holder.done).toContain('done');
    const records = (await ledgerRecords(store)).filter((r) => r.organization_id === '1');
    expect(records.map((r) => r.status)).toEqual(['success']);
  }, 90_000);
});

describe('a second machine on the same store', () => {
  it('is refused (exit 2) with a pointer to the database ledger, changes nothing, and never takes a live lock over', async () => {
    // Host B sees the store at another path (its own mount namespace) and has its own host name.
    const other = path.join(dir, 'host-b');
    await mkdir(path.join(other, 'mnt'), { recursive: true });
    await copyFile(path.join(dir, 'app.sqlite'), path.join(other, 'app.sqlite'));
    await writeFile(
      path.join(other, '.backuprc'),
      JSON.stringify({ storage: { dir: './mnt/backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } }),
    );
    await mkdir(path.join(other, 'mnt', 'backups'));
    const onHostB = (args: string[]) =>
      run(
        'unshare',
        [
          '--mount',
          '--uts',
          '--propagation',
          'private',
          'sh',
          '-c',
          'hostname host-b && mount --bind "$0" "$1" && shift && exec faketime -f +15s "$@"',
          store,
          path.join(other, 'mnt', 'backups'),
          process.execPath,
          BIN,
          ...args,
        ],
        { cwd: other },
      );

    // Held long enough for host B's four commands even on a loaded machine: the ledger is compared
    // with `before` while the holder still holds.
    const holder = await startBlockedHolder(store, '3', 15_000);
    const before = await ledgerText(store);
    for (const args of [
      ['auto', '--org', '3', '--json'],
      ['backup', '--org', '3', '--json'],
      ['auto', '--org', '3', '--disable', '--json'],
    ]) {
      const result = await onHostB(args);
      expect(result.code, result.stderr).toBe(2);
      const error = (JSON.parse(result.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('CONFIG');
      expect(error.message).toMatch(/belongs to host "[^"]+", and this is "host-b".*database ledger \("ledger": \{ "type": "database" \}/);
    }
    // Reading is harmless and allowed.
    const listed = await onHostB(['list', '--org', '3', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(await ledgerText(store)).toBe(before);
    expect(await holder.done).toContain('done');
    expect((await ledgerRecords(store)).filter((r) => r.organization_id === '3').map((r) => r.status)).toEqual(['success']);
    expect(JSON.parse(await readFile(path.join(store, 'ledger.json'), 'utf8')).host).not.toBe('host-b');
  }, 90_000);
});
