/**
 * The archive and its ledger record always agree (issue 18, point 10). The ledger becomes
 * unwritable after the backup's record was begun (a file bind-mounted over the organization's
 * ledger file, `ledger/organizations/1.json`, which `finish` replaces: it reads, but nothing can be
 * renamed over it — as root, as CI runs): the new archive is written and
 * verified, but must not stay in place of last week's, whose record still describes it; and with
 * no previous archive, no unrecorded file is left. The error says exactly what happened.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import type { Deps } from '../../src/core/context.js';
import { OperationError } from '../../src/errors.js';
import { LedgerPaths } from '../../src/ledger/json/files.js';
import type { Ledger } from '../../src/ledger/types.js';
import { createOrgBed, type OrgBed } from '../helpers/org-setup.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const mounted: string[] = [];
afterEach(() => {
  for (const target of mounted.splice(0).reverse()) execFileSync('umount', [target]);
});

const sha = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** The real ledger, made unwritable right after `begin` by a copy of the owner's file mounted over it. */
function ledgerBrokenAfterBegin(real: Ledger, file: string): Ledger {
  return new Proxy(real, {
    get(target, property) {
      if (property === 'begin') {
        return async (...args: Parameters<Ledger['begin']>) => {
          const record = await target.begin(...args);
          const copy = path.join(await makeTempDir('tb-ledger-copy-'), path.basename(file));
          await writeFile(copy, await readFile(file), { mode: 0o600 });
          execFileSync('mount', ['--bind', copy, file]);
          mounted.push(file);
          return record;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('a ledger that cannot be written once the backup has begun', () => {
  let bed: OrgBed;
  let broken: Deps;
  beforeAll(async () => {
    bed = await createOrgBed('sqlite');
    const ownerFile = new LedgerPaths(bed.deps.config.storage.dir).owner({ kind: 'organization', organization_id: '1' });
    broken = { ...bed.deps, ledger: ledgerBrokenAfterBegin(bed.deps.ledger, ownerFile) };
  });
  afterAll(async () => {
    await bed?.db.drop();
    await removeTempDirs();
  });

  it("puts last week's archive back, so the file and its record agree, and says so", async () => {
    const first = await backupOrganization(bed.deps, { organizationId: '1' });
    const file = first.record.backup_path;
    const before = await sha(file);
    expect(before).toBe(first.record.sha256);
    await bed.db.knex()('customers').where({ organization_id: 1 }).update({ name: 'changed since' });

    const error = await backupOrganization(broken, { organizationId: '1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /^The backup was written and verified, but recording it in the ledger failed \(.*EBUSY.*\); the previous org_acme_monday_backup\.zip was put back as it was, and its record still describes it\.$/,
    );
    execFileSync('umount', [mounted.pop()!]);

    expect(await sha(file)).toBe(before);
    const records = await bed.deps.ledger.find({ organization_id: '1', status: 'success' });
    expect(records.map((r) => [r.backup_filename, r.sha256])).toEqual([['org_acme_monday_backup.zip', before]]);
    expect((await readdir(path.dirname(file))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('removes a new archive that had no predecessor, leaving no unrecorded file', async () => {
    bed.clock.set('2026-11-24T08:00:00Z'); // Tuesday: no archive of that name yet
    const error = await backupOrganization(broken, { organizationId: '1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(
      /recording it in the ledger failed .*; the new org_acme_tuesday_backup\.zip was removed \(there was no previous archive of that name\)\.$/,
    );
    execFileSync('umount', [mounted.pop()!]);
    const folder = path.join(bed.deps.config.storage.dir, 'organizations');
    expect((await readdir(folder)).filter((name) => name.includes('tuesday'))).toEqual([]);
    expect((await bed.deps.ledger.find({ organization_id: '1', status: 'success' })).map((r) => r.backup_filename)).toEqual(['org_acme_monday_backup.zip']);
  });
});
