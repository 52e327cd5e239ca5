/**
 * Issue 17: no record lost with 20 concurrent writers on a ledger of a million records (generated
 * in exactly the format the tool writes: test/helpers/ledger-generator.ts). Half of the writers
 * share one tenant's large file, the others write organizations of their own; every record of
 * the ledger is counted afterwards. How long it takes is measured in bench/ (ledger pairs), not here.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { systemClock } from '../../src/retention/clock.js';
import { ROOT } from '../helpers/cli.js';
import { ledgerRuns } from '../helpers/ledger-files.js';
import { generateJsonLedger } from '../helpers/ledger-generator.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const run = promisify(execFile);
const RECORDS = 1_000_000;

afterAll(removeTempDirs);

it('loses no record when 20 processes write at once into a ledger of a million records', async () => {
  const store = await makeTempDir('tb-scale-');
  const generated = await generateJsonLedger(store, { records: RECORDS, organizations: 2000, tenants: 2000, host: (await import('node:os')).hostname() });
  expect(generated.records).toBe(RECORDS);
  const ledger = new JsonFileLedger(store, systemClock);
  const bigTenant = generated.tenants[0]!;
  const before = await ledger.find({ tenant: bigTenant });
  expect(before.length).toBeGreaterThan(400);

  const writers = Array.from({ length: 20 }, (_, i) => (i < 10 ? bigTenant : String(i + 1)));
  await Promise.all(writers.map((owner) => run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/ledger-worker.ts'), store, owner], { cwd: ROOT })));

  // Every record of the ledger, counted file by file.
  let total = 0;
  const ids = new Set<number>();
  for (const kind of ['organizations', 'tenants']) {
    const dir = path.join(store, 'ledger', kind);
    for (const name of await readdir(dir)) {
      const records = (JSON.parse(await readFile(path.join(dir, name), 'utf8')) as { records: Array<{ id: number }> }).records;
      total += records.length;
      for (const record of records) if (record.id >= generated.nextId) ids.add(record.id);
    }
  }
  expect(total).toBe(RECORDS + 20);
  expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => generated.nextId + i));
  const after = await ledger.find({ tenant: bigTenant });
  expect(after.filter((r) => r.id >= generated.nextId).map((r) => r.status)).toEqual(Array(10).fill('success'));
  expect(after.filter((r) => r.id < generated.nextId)).toEqual(before);
  for (const owner of writers.slice(10)) expect((await ledger.find({ organization_id: owner })).filter((r) => r.id >= generated.nextId)).toHaveLength(1);
  expect(JSON.parse(await readFile(path.join(store, 'ledger.json'), 'utf8')).next_id).toBe(generated.nextId + 20);
  expect(await ledgerRuns(store)).toEqual([]);
}, 300_000);
