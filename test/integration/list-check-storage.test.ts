/**
 * `list --check-storage` on a local store, with each ledger kind (the JSON files, and the database
 * ledger in a SQLite file of its own): records are streamed and marked as they pass (`ok`,
 * `missing`, `not_checked`), archives no record names are listed (`NO RECORD`), and for one
 * organization another organization's archive is not one of them. The library's `listBackups`
 * gives the same, with `untracked`. (The S3 store's cases are in s3-cli.test.ts.)
 */
import { copyFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps } from '../../src/core/context.js';
import { listBackups } from '../../src/index.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

interface Listed {
  backup_filename: string;
  organization_id: string;
  status: string;
  storage_check: { state: string; stored_bytes: number | null };
}

const LEDGERS = {
  json: undefined,
  'database (SQLite)': { type: 'database', client: 'better-sqlite3', connection: { filename: './ledger.sqlite' } },
} as const;

for (const [kind, ledger] of Object.entries(LEDGERS)) {
  describe(`list --check-storage on a local store, ${kind} ledger`, () => {
    let dir: string;
    const names: Record<string, string> = {};
    beforeAll(async () => {
      dir = await makeTempDir('tb-list-check-');
      await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
      const config = {
        storage: { dir: './backups' },
        timezone: 'UTC',
        organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } },
        ...(ledger ? { ledger } : {}),
      };
      await writeFile(path.join(dir, '.backuprc'), JSON.stringify(config));
      for (const org of ['1', '2']) {
        const made = await runCli(['backup', '--org', org, '--json'], { cwd: dir });
        expect(made.code, made.stderr).toBe(0);
        names[org] = (JSON.parse(made.stdout) as { record: { backup_filename: string } }).record.backup_filename;
      }
      // Organization 1's archive is lost; a file nobody recorded appears.
      await rm(path.join(dir, 'backups/organizations', names['1']!));
      await writeFile(path.join(dir, 'backups/organizations/org_stray_friday_backup.zip'), 'x', { mode: 0o600 });
    }, 60_000);

    it('marks every record in --json, and lists what is missing and what no record names below the table', async () => {
      const listed = await runCli(['list', '--check-storage', '--json'], { cwd: dir });
      expect(listed.code, listed.stderr).toBe(0);
      const records = JSON.parse(listed.stdout) as Listed[];
      expect(Object.fromEntries(records.map((r) => [r.backup_filename, r.storage_check.state]))).toEqual({ [names['1']!]: 'missing', [names['2']!]: 'ok' });
      expect(records.find((r) => r.organization_id === '1')!.storage_check.stored_bytes).toBeNull();

      const human = await runCli(['list', '--check-storage'], { cwd: dir });
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/Storage check: 1 of 2 successful backups present with their recorded size\./);
      expect(human.stdout).toMatch(new RegExp(`MISSING\\s+${names['1']!.replaceAll('.', '\\.')}`));
      expect(human.stdout).toMatch(/NO RECORD\s+org_stray_friday_backup\.zip/);
      // Without the flag: no check, no lines below the table.
      const plain = await runCli(['list', '--json'], { cwd: dir });
      expect((JSON.parse(plain.stdout) as Array<Record<string, unknown>>).every((r) => !('storage_check' in r))).toBe(true);
    });

    it("for one organization: another organization's archive is not listed as unrecorded", async () => {
      const one = await runCli(['list', '--org', '1', '--check-storage'], { cwd: dir });
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout).toMatch(/Storage check: 0 of 1 /);
      expect(one.stdout).toMatch(/NO RECORD\s+org_stray_friday_backup\.zip/);
      expect(one.stdout).not.toContain(`NO RECORD     ${names['2']}`);
    });

    it('the library returns the same, with the unrecorded archives', async () => {
      const deps = await createDeps({ configPath: path.join(dir, '.backuprc') });
      try {
        const result = await listBackups(deps, { checkStorage: true, status: 'success' });
        expect(result.records.map((r) => [r.backup_filename, r.storage_check?.state]).sort()).toEqual(
          [
            [names['1'], 'missing'],
            [names['2'], 'ok'],
          ].sort(),
        );
        expect(result.untracked?.map((file) => file.name)).toEqual(['org_stray_friday_backup.zip']);
      } finally {
        await deps.ledger.close();
      }
    });
  });
}
