/**
 * A command whose promise never settles, run under the CLI's safety net (src/cli/safety-net.ts),
 * as a driver that stops emitting events would leave one: it begins a ledger record and writes a
 * temp file, then waits on a promise nothing will ever resolve, with nothing else keeping Node's
 * event loop alive. Usage: node --import tsx never-settles.ts <storageDir>
 */
import { writeFile } from 'node:fs/promises';
import { createDeps } from '../../src/core/context.js';
import { openWork, runToCompletion } from '../../src/cli/safety-net.js';

const [storageDir] = process.argv.slice(2) as [string];
const code = await runToCompletion(async () => {
  const deps = openWork.track(await createDeps({ config: { storage: { dir: storageDir }, timezone: 'UTC' } }));
  const record = await deps.ledger.begin({
    kind: 'database',
    organization_id: null,
    tenant: 'acme',
    user_id: null,
    day_of_week: 'monday',
    backup_filename: 'acme_2026-11-23_08-00-00.zip',
    backup_path: deps.store.location('tenant-databases', 'acme_2026-11-23_08-00-00.zip'),
    backup_date: '2026-11-23',
  });
  const temp = await deps.store.tempPath('tenant-databases', 'acme_2026-11-23_08-00-00.zip');
  await writeFile(temp, 'partial archive');
  process.stdout.write(`begun record ${record.id}, temp ${temp}\n`);
  await new Promise(() => undefined);
  return 0;
});
process.exit(code);
