/**
 * The JSON file ledger: the Ledger contract (test/contract/ledger.contract.ts), plus what is the
 * file's own — its mode, a corrupt file never overwritten, many processes writing at once, and a
 * killed process's record recovered.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerCorruptError } from '../../src/errors.js';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { frozenClock } from '../../src/retention/clock.js';
import { describeLedgerContract, newRecord } from '../contract/ledger.contract.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const run = promisify(execFile);
const worker = path.resolve(import.meta.dirname, '../helpers/ledger-worker.ts');

afterEach(removeTempDirs);

describeLedgerContract('JSON file', {
  create: async (clock) => ({ ledger: new JsonFileLedger(await makeTempDir(), clock), cleanup: removeTempDirs }),
});

describe('JSON file ledger', () => {
  it('is a 0600 file', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    await ledger.begin(newRecord());
    expect((await stat(ledger.file)).mode & 0o777).toBe(0o600);
  });

  it('refuses a corrupt file with its name and never overwrites it', async () => {
    const dir = await makeTempDir();
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T08:00:00Z'));
    await writeFile(ledger.file, '{"format": "tenant-backup-ledger", "records": [');
    await expect(ledger.find()).rejects.toThrow(LedgerCorruptError);
    await expect(ledger.begin(newRecord())).rejects.toThrow(ledger.file);
    expect(await readFile(ledger.file, 'utf8')).toBe('{"format": "tenant-backup-ledger", "records": [');

    await writeFile(ledger.file, JSON.stringify({ format: 'tenant-backup-ledger', version: 1, next_id: 2, records: [{ id: 1 }] }));
    await expect(ledger.find()).rejects.toThrow(/records\.0/);
  });

  it('loses no record when 20 processes write at once', async () => {
    const dir = await makeTempDir();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(process.execPath, ['--import', 'tsx', worker, dir, String(i + 1)])),
    );
    expect(results).toHaveLength(20);
    const raw = JSON.parse(await readFile(path.join(dir, 'ledger.json'), 'utf8'));
    expect(raw.records).toHaveLength(20);
    expect(raw.next_id).toBe(21);
    expect(new Set(raw.records.map((r: { id: number }) => r.id)).size).toBe(20);
    expect(raw.records.every((r: { status: string }) => r.status === 'success')).toBe(true);
    expect(raw.records.map((r: { organization_id: string }) => Number(r.organization_id)).sort((a: number, b: number) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(Object.keys(raw.runs)).toEqual([]);
  }, 60_000);

  it('marks the record of a killed process failed instead of leaving it in progress', async () => {
    const dir = await makeTempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', worker, dir, '5', 'hang'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const id = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', () => reject(new Error('worker exited early')));
    });
    const ledger = new JsonFileLedger(dir, frozenClock('2026-11-23T09:00:00Z'));
    expect(await ledger.recoverInterrupted()).toEqual([]);
    expect((await ledger.find())[0]?.status).toBe('in_progress');

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const recovered = await ledger.recoverInterrupted();
    expect(recovered.map((r) => r.id)).toEqual([id]);
    const [record] = await ledger.find();
    expect(record?.status).toBe('failed');
    expect(record?.error_message).toMatch(/Interrupted.*pid/);
  }, 30_000);
});
