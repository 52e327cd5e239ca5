/**
 * The library from a plain JavaScript application: the built package imported by name, as an app
 * would (`import … from 'tenant-backup'`), with no TypeScript to catch a number where a string
 * belongs. The README's library example is extracted and run as it is printed there.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { systemClock } from '../../src/retention/clock.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';
import { ledgerRecords } from '../helpers/ledger-files.js';

const run = promisify(execFile);
let app: string;

beforeEach(async () => {
  // An application folder: its node_modules holds this package (as `npm install tenant-backup` would).
  app = await makeTempDir('tb-app-');
  await mkdir(path.join(app, 'node_modules'));
  await symlink(ROOT, path.join(app, 'node_modules/tenant-backup'), 'dir');
  await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(app, 'app.sqlite'));
});
afterEach(removeTempDirs);

async function runScript(source: string): Promise<{ stdout: string; stderr: string }> {
  const file = path.join(app, `script-${Date.now()}.mjs`);
  await writeFile(file, source);
  return run(process.execPath, [file], { cwd: app, env: { ...process.env, TENANT_BACKUP_CONFIG: '' } });
}

const PRELUDE = `
import * as tb from 'tenant-backup';
const deps = await tb.createDeps({ config: { storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } } });
const outcome = async (promise) => { try { return { ok: await promise }; } catch (error) { return { error: { name: error.name, code: error.code, message: error.message } }; } };
`;

describe('the library boundary, from plain JavaScript', () => {
  it('takes numeric ids as strings; refuses {} and "2; drop" before anything is written', async () => {
    const { stdout } = await runScript(`${PRELUDE}
const results = {
  empty: await outcome(tb.autoBackup(deps, {})),
  injection: await outcome(tb.autoBackup(deps, { organizationId: '2; drop' })),
  unknownOption: await outcome(tb.autoBackup(deps, { organisationId: 2 })),
  notDeps: await outcome(tb.autoBackup({}, { organizationId: 2 })),
  fraction: await outcome(tb.backupOrganization(deps, { organizationId: 2.5 })),
};
const { readdir } = await import('node:fs/promises');
results.storageBefore = await readdir('./backups').catch(() => []);
results.numeric = await outcome(tb.autoBackup(deps, { organizationId: 2, userId: 7 }));
results.status = await outcome(tb.organizationStatus(deps, { organizationId: 2 }));
results.fresh = await outcome(tb.checkOrganizationFreshness(deps, { organizationId: 1, maxAgeHours: 26 }));
results.list = await outcome(tb.listBackups(deps, { target: tb.targetFrom({ org: 2 }) }));
console.log(JSON.stringify(results));
`);
    const results = JSON.parse(stdout);
    for (const key of ['empty', 'injection', 'unknownOption', 'notDeps', 'fraction']) expect(results[key].error, key).toMatchObject({ code: 'USAGE' });
    expect(results.empty.error.message).toMatch(/organizationId is required/);
    expect(results.injection.error.message).toMatch(/Invalid organization id "2; drop"/);
    expect(results.unknownOption.error.message).toMatch(/unknown option\(s\) "organisationId"/);
    expect(results.storageBefore).toEqual([]);
    expect(results.numeric.ok).toMatchObject({ action: 'created', organization_id: '2', record: { organization_id: '2', user_id: '7' } });
    expect(results.status.ok).toMatchObject({ organization_id: '2', history: [{ organization_id: '2' }] });
    expect(results.fresh.ok).toMatchObject({ ok: false, organization_id: '1', age_hours: null });
    expect(results.list.ok.records).toHaveLength(1);
    // The ledger stays valid for every command (a numeric id used to make them all fail with exit 6).
    expect((await ledgerRecords(path.join(app, 'backups')))[0]).toMatchObject({ organization_id: '2', user_id: '7' });
    await writeFile(path.join(app, '.backuprc'), JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC' }));
    const list = await runCli(['list', '--json'], { cwd: app });
    expect(list.code, list.stderr).toBe(0);
  }, 60_000);

  it('plans, verifies and fetches backups, and checks their input the same way', async () => {
    const { stdout } = await runScript(`${PRELUDE}
const target = tb.targetFrom({ org: 2 });
const results = {
  planBad: await outcome(tb.planOrganizationReport(deps, {})),
  verifyBad: await outcome(tb.verifyBackups(deps, { all: 'yes' })),
  getBad: await outcome(tb.getBackup(deps, { target: { kind: 'elsewhere' }, backup: 'latest' })),
  getBadOutput: await outcome(tb.getBackup(deps, { target, backup: 'latest', output: 42 })),
};
results.plan = await outcome(tb.planOrganizationReport(deps, { organizationId: 2 }));
results.backup = await outcome(tb.backupOrganization(deps, { organizationId: 2 }));
results.verify = await outcome(tb.verifyBackups(deps, { target }));
results.get = await outcome(tb.getBackup(deps, { target, backup: 'latest', output: './copy.zip' }));
console.log(JSON.stringify(results));
`);
    const results = JSON.parse(stdout);
    for (const key of ['planBad', 'verifyBad', 'getBad', 'getBadOutput']) expect(results[key].error, key).toMatchObject({ code: 'USAGE' });
    expect(results.plan.ok.tables.length).toBeGreaterThan(1);
    expect(results.backup.ok).toMatchObject({ action: 'created' });
    expect(JSON.stringify(results.verify.ok)).toContain(results.backup.ok.record.backup_filename);
    expect(results.get.ok).toMatchObject({ action: 'written', backup_filename: results.backup.ok.record.backup_filename });
    expect((await readFile(path.join(app, 'copy.zip'))).subarray(0, 2).toString('latin1')).toBe('PK');
  }, 60_000);

  it('resolves a configuration given as an object against the current directory, or baseDir', async () => {
    const { stdout } = await runScript(`
import { createDeps } from 'tenant-backup';
const here = await createDeps({ config: { storage: { dir: './backups' } } });
const there = await createDeps({ config: { storage: { dir: './backups' } }, baseDir: '/srv/app' });
console.log(JSON.stringify([here.config.storage.dir, there.config.storage.dir, here.config.file]));
`);
    expect(JSON.parse(stdout)).toEqual([path.join(app, 'backups'), '/srv/app/backups', null]);
  });
});

describe('the README library example', () => {
  it('runs as printed: a login handler starting a detached backup, and a script listing failures', async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- library-example: tested by test\/integration\/library\.test\.ts -->\s*```js\n([\s\S]*?)```/.exec(readme);
    expect(block, 'the README has the marked example').not.toBeNull();
    // A failure for the second half of the example to find.
    const ledger = new JsonFileLedger(path.join(app, 'backups'), systemClock);
    const failed = await ledger.begin({
      kind: 'organization',
      organization_id: '2',
      tenant: null,
      user_id: null,
      day_of_week: 'monday',
      backup_filename: 'org_globex_monday_backup.zip',
      backup_path: path.join(app, 'backups/organizations/org_globex_monday_backup.zip'),
      backup_date: '2026-11-23',
    });
    await ledger.finish(failed.id, { status: 'failed', error_message: 'Backup failed: connection reset.' });

    const first = await runScript(block![1]!);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toBe('login: started');
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z organization 2 org_globex_monday_backup\.zip: Backup failed: connection reset\.$/),
    ]);
    // The detached child makes the backup; the next login has nothing to do.
    const deadline = Date.now() + 30_000;
    let records = await ledger.find({ organization_id: '1', status: 'success' });
    while (records.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      records = await ledger.find({ organization_id: '1', status: 'success' });
    }
    expect(records).toHaveLength(1);
    const second = await runScript(block![1]!);
    expect(second.stdout.split('\n')[0]).toBe('login: skipped');
  }, 60_000);
});
