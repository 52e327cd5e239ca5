/**
 * `auto --detach`: a login must never wait for a backup. The parent applies the cheap skip rules
 * itself; only when a backup is due does it start a detached child (`auto` without --detach, same
 * options) whose output goes to a log file under the storage folder, and return at once. The
 * child's outcome lands in the ledger like any other run.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { localDate } from '../retention/clock.js';
import { openStoreLog } from '../store/local.js';
import type { AutoOptions } from './auto.js';
import type { Deps } from './context.js';

const BIN = fileURLToPath(new URL('../../bin/tenant-backup.js', import.meta.url));

export interface DetachedStart {
  action: 'started';
  organization_id: string;
  pid: number;
  log_file: string;
}

export async function startDetachedAuto(deps: Pick<Deps, 'config' | 'clock'>, options: AutoOptions): Promise<DetachedStart> {
  const logFile = path.join(deps.config.storage.dir, 'logs', `auto-org-${options.organizationId}-${localDate(deps.clock.now(), deps.config.timezone)}.log`);
  const log = await openStoreLog(deps.config.storage.dir, path.basename(logFile));
  const args = [BIN, '--config', deps.config.file, 'auto', '--org', options.organizationId];
  if (options.userId != null) args.push('--user', options.userId);
  if (options.role !== undefined) args.push('--role', options.role);
  if (options.owner) args.push('--owner');
  try {
    await log.write(`[${deps.clock.now().toISOString()}] starting: tenant-backup ${args.slice(1).join(' ')}\n`);
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', log.fd, log.fd], env: process.env });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    child.unref();
    return { action: 'started', organization_id: options.organizationId, pid, log_file: logFile };
  } finally {
    await log.close();
  }
}
