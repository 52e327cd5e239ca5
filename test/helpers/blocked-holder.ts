/**
 * A holder whose event loop is blocked: it takes an organization's operation lock as `auto` does,
 * records `in_progress`, prints "holding", then runs synchronous code for <blockMs> (no timer, no
 * I/O can run meanwhile — what parsing a huge ledger used to do), then finishes the record as
 * success and prints "done". Tests prove that nobody takes the lock over meanwhile.
 * Usage: node --import tsx blocked-holder.ts <storageDir> <organizationId> <blockMs>
 */
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { localDate, localWeekday, systemClock } from '../../src/retention/clock.js';

const [storageDir, organizationId, blockMs] = process.argv.slice(2) as [string, string, string];
const ledger = new JsonFileLedger(storageDir, systemClock);
const lockKey = `org-${organizationId}`;
await ledger.withLock(lockKey, async () => {
  const now = new Date();
  const name = `org_${organizationId}_${localWeekday(now, 'UTC')}_backup.zip`;
  const record = await ledger.begin(
    {
      kind: 'organization',
      organization_id: organizationId,
      tenant: null,
      user_id: null,
      day_of_week: localWeekday(now, 'UTC'),
      backup_filename: name,
      backup_path: `${storageDir}/organizations/${name}`,
      backup_date: localDate(now, 'UTC'),
    },
    { lockKey, backupType: 'auto_daily' },
  );
  process.stdout.write('holding\n');
  const end = Date.now() + Number(blockMs);
  while (Date.now() < end) {
    // busy: the event loop runs nothing until this ends
  }
  await ledger.finish(record.id, { status: 'success', backup_size: 1, sha256: 'a'.repeat(64) });
});
process.stdout.write('done\n');
