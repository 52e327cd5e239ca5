/**
 * `runNotified` hands the use case a ledger wrapped to learn which records it begins (core/
 * notified-run.ts, through wrap-methods.ts). Every Ledger method — the ledger branch's streamed
 * `scan`, `owners`, `findEntries`, `dayOfOrganization`, `close` included — must reach the real
 * ledger, on both kinds; and a failed delivery is appended to the run's record (`annotate`) on both.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDeps, type Deps } from '../../src/core/context.js';
import { runNotified } from '../../src/core/notified-run.js';
import type { LedgerEntry, NewRecord } from '../../src/ledger/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterEach(removeTempDirs);

const LEDGERS = {
  json: undefined,
  'database (SQLite)': { type: 'database', client: 'better-sqlite3', connection: { filename: './ledger.sqlite' } },
} as const;

const record: NewRecord = {
  kind: 'organization',
  organization_id: '1',
  tenant: null,
  user_id: '7',
  day_of_week: 'monday',
  backup_filename: 'org_acme_monday_backup.zip',
  backup_path: '/nowhere/org_acme_monday_backup.zip',
  backup_date: '2026-11-23',
};

for (const [kind, ledger] of Object.entries(LEDGERS)) {
  describe(`runNotified over the ${kind} ledger`, () => {
    it('passes every Ledger method through, and notes a failed delivery on the record it began', async () => {
      const dir = await makeTempDir('tb-notified-');
      const deps: Deps = await createDeps({
        baseDir: dir,
        clock: frozenClock('2026-11-23T08:00:00Z'),
        config: {
          storage: { dir: './backups' },
          timezone: 'UTC',
          // Port 9 (discard) on loopback: the delivery is refused at once.
          notifications: { timeoutSeconds: 2, retries: 0, retryDelaySeconds: 0, webhook: { url: 'http://127.0.0.1:9/hook', on: ['success'] } },
          ...(ledger ? { ledger } : {}),
        },
      });
      const failures: string[] = [];
      try {
        const result = await runNotified(
          deps,
          { subject: { kind: 'organization', organizationId: '1' }, retry: 'tenant-backup backup --org 1', start: false },
          async (work) => {
            expect(work.ledger).not.toBe(deps.ledger); // the wrapped one
            const begun = await work.ledger.begin(record, { backupType: 'manual' });
            const done = await work.ledger.finish(begun.id, { status: 'success', backup_size: 10, sha256: 'ab'.repeat(32) });
            const scanned: LedgerEntry[] = [];
            for await (const entry of work.ledger.scan({ organization_id: '1' })) scanned.push(entry);
            return {
              done,
              scanned,
              entries: await work.ledger.findEntries({ kind: 'organization' }),
              owners: await work.ledger.owners(),
              day: await work.ledger.dayOfOrganization('1', '2026-11-23'),
              type: await work.ledger.backupTypeOf(begun.id),
            };
          },
          (outcome) => outcome.done,
          { onDeliveryFailure: (message) => failures.push(message) },
        );
        expect(result.scanned.map((entry) => [entry.record.id, entry.backup_type])).toEqual([[result.done.id, 'manual']]);
        expect(result.entries.map((entry) => entry.record.id)).toEqual([result.done.id]);
        expect(result.owners).toEqual([{ kind: 'organization', organization_id: '1' }]);
        expect(result.day.successes.map((entry) => entry.record.id)).toEqual([result.done.id]);
        expect(result.day.settings.auto_backup_enabled).toBe(true);
        expect(result.type).toBe('manual');

        expect(failures).toHaveLength(1);
        const [stored] = await deps.ledger.find({ organization_id: '1' });
        expect(stored).toMatchObject({ id: result.done.id, status: 'success', backup_size: 10 });
        expect(stored!.error_message).toMatch(/^notification failed: webhook/);
      } finally {
        await deps.ledger.close();
      }
    });
  });
}
