/**
 * A process holding a database ledger's operation lock with a run `in_progress`, until killed:
 * tests SIGKILL it and check that its lock is free at once and its record recovered by others.
 * The ledger's target comes as JSON in TB_LEDGER_TARGET (never in argv: it holds a password).
 * Usage: TB_LEDGER_TARGET='{…}' node --import tsx db-ledger-holder.ts <organizationId>
 */
import { DatabaseLedger } from '../../src/ledger/database/index.js';
import { systemClock } from '../../src/retention/clock.js';
import { DEFAULT_HISTORY_POLICY } from '../../src/retention/history.js';

const organizationId = process.argv[2]!;
const ledger = new DatabaseLedger({
  target: JSON.parse(process.env.TB_LEDGER_TARGET!),
  tables: { logs: 'auto_backup_logs', settings: 'auto_backup_settings' },
  clock: systemClock,
  keep: DEFAULT_HISTORY_POLICY,
  host: 'holder-host',
});
const lockKey = `org-${organizationId}`;
await ledger.withLock(lockKey, async () => {
  const record = await ledger.begin(
    {
      kind: 'organization',
      organization_id: organizationId,
      tenant: null,
      user_id: null,
      day_of_week: 'monday',
      backup_filename: `org_${organizationId}_monday_backup.zip`,
      backup_path: `/x/org_${organizationId}_monday_backup.zip`,
      backup_date: '2026-11-23',
    },
    { lockKey, backupType: 'auto_daily' },
  );
  process.stdout.write(`${record.id}\n`);
  await new Promise(() => setInterval(() => undefined, 1000));
});
