/**
 * A child process that starts an organization backup the way `auto` does — ledger record
 * `in_progress` under the organization's operation lock — and then hangs until killed. Tests
 * SIGKILL it to prove that a crashed run never blocks the organization for ever.
 * Usage: node --import tsx hold-lock.ts <storageDir> <organizationId>
 */
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { systemClock, localDate, localWeekday } from '../../src/retention/clock.js';

const [storageDir, organizationId] = process.argv.slice(2) as [string, string];
const ledger = new JsonFileLedger(storageDir, systemClock);
const lockKey = `org-${organizationId}`;
await ledger.withLock(lockKey, async () => {
  const now = new Date();
  await ledger.begin(
    {
      kind: 'organization',
      organization_id: organizationId,
      tenant: null,
      user_id: null,
      day_of_week: localWeekday(now, 'UTC'),
      backup_filename: `org_${organizationId}_${localWeekday(now, 'UTC')}_backup.zip`,
      backup_path: `${storageDir}/organizations/x.zip`,
      backup_date: localDate(now, 'UTC'),
    },
    { lockKey, backupType: 'auto_daily' },
  );
  process.stdout.write('holding\n');
  // A timer keeps the process alive (a bare pending promise would let Node exit).
  await new Promise(() => setInterval(() => undefined, 1000));
});
