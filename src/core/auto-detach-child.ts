/**
 * The detached child of `auto --detach` / `autoBackupDetached`: reads its job (resolved
 * configuration and auto options) from stdin, runs `autoBackup` with its notifications, and writes one log line per event
 * to stdout — which is the log file. SIGTERM / SIGINT abort the backup cleanly (temp file removed,
 * record failed). Never started by hand.
 */
import { text } from 'node:stream/consumers';
import { TenantBackupError, describeCause } from '../errors.js';
import { formatBytes } from '../format.js';
import { logLine, type DetachedJob } from './auto-detach.js';
import { createDeps } from './context.js';
import { autoBackupNotified } from './notified.js';

const say = (event: string) => process.stdout.write(logLine(process.pid, event));

async function runJob(): Promise<number> {
  const job = JSON.parse(await text(process.stdin)) as DetachedJob;
  const controller = new AbortController();
  const stop = (signal: string) => {
    say(`received ${signal}: stopping`);
    controller.abort();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  say(`started the automatic backup of organization ${job.options.organizationId}`);
  try {
    const deps = await createDeps({ config: job.config });
    const result = await autoBackupNotified(deps, { ...job.options, signal: controller.signal }, { onDeliveryFailure: (message) => say(`notification failed: ${message}`) });
    if (result.action === 'created') say(`created ${result.record.backup_filename} (${formatBytes(result.record.backup_size)}): ${result.record.backup_path}`);
    else say(`skipped (${result.reason}): ${result.message}`);
    return 0;
  } catch (error) {
    const code = error instanceof TenantBackupError ? error.code : 'UNEXPECTED';
    say(`failed (${code}): ${describeCause(error)}`);
    return 1;
  }
}

runJob().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`failed (UNEXPECTED): ${describeCause(error)}`);
    process.exit(1);
  },
);
