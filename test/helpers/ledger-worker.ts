/**
 * A child process for ledger concurrency tests: `node --import tsx ledger-worker.ts <storageDir> <n>`
 * appends one record for organization <n> (or tenant <n>, when it starts with a letter) and finishes it as success (a file name of its own, so
 * that workers of the same organization do not replace each other's record as a weekday would).
 */
import { JsonFileLedger } from '../../src/ledger/json-file.js';
import { systemClock } from '../../src/retention/clock.js';

const [storageDir, n, mode] = process.argv.slice(2);
const ledger = new JsonFileLedger(storageDir!, systemClock);
// <n> starting with a letter is a tenant (a timestamped-looking name of its own).
const tenant = /^[a-z]/.test(n!) ? n! : null;
const name = tenant ? `${tenant}_2026-11-23_08-00-00-${process.pid}.zip` : `org_${n}_${process.pid}_backup.zip`;
const record = await ledger.begin({
  kind: tenant ? 'database' : 'organization',
  organization_id: tenant ? null : String(n),
  tenant,
  user_id: '7',
  day_of_week: 'monday',
  backup_filename: name,
  backup_path: `${storageDir}/${tenant ? 'tenant-databases' : 'organizations'}/${name}`,
  backup_date: '2026-11-23',
});
if (mode === 'hang') {
  // Stay in_progress until killed (used to test recovery of interrupted records).
  process.stdout.write(`${record.id}\n`);
  setInterval(() => undefined, 1000);
} else {
  await ledger.finish(record.id, { status: 'success', backup_size: tenant ? 1 : Number(n), sha256: 'a'.repeat(64) });
}
