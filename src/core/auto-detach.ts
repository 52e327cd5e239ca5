/**
 * `auto --detach` (and `autoBackupDetached` for applications): a login must never wait for a
 * backup. Everything that can say "nothing to do" is checked here, in the caller's process, before
 * any child is started: the skip rules of `auto` (configuration and ledger only), an `in_progress`
 * record of the organization whose run is alive, and — only once a backup is due, so a login that
 * has nothing to do still opens no connection — the organization's row (unknown → NotFoundError,
 * its `auto_backup_enabled` column false → skipped). Only then is a detached child started
 * (`auto-detach-child.js`, handed the resolved configuration on its stdin — secrets never in
 * argv), and the call returns at once.
 *
 * Logs: `<storage>/logs/auto-org-<id>-<date>.log`, one line per event
 * (`2026-11-27T08:00:00Z pid 4242 created org_acme_friday_backup.zip (1.2 MiB)`); log files
 * older than `auto.logRetentionDays` (default 14) are removed when the next child starts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../errors.js';
import { wholeSeconds } from '../format.js';
import { localDate } from '../retention/clock.js';
import { openStoreLog } from '../store/local.js';
import { autoSkipReason, disabledMessage, type AutoOptions, type AutoResult } from './auto.js';
import type { Deps } from './context.js';

export interface DetachedStart {
  action: 'started';
  organization_id: string;
  pid: number;
  log_file: string;
}

export type DetachedResult = DetachedStart | Extract<AutoResult, { action: 'skipped' }>;

export async function autoBackupDetached(deps: Pick<Deps, 'config' | 'clock' | 'ledger' | 'store'>, options: AutoOptions): Promise<DetachedResult> {
  const skipped = await autoSkipReason(deps, options);
  if (skipped) return skipped;
  const { organizationId } = options;
  await deps.ledger.recoverInterrupted();
  const [running] = await deps.ledger.find({ kind: 'organization', organization_id: organizationId, status: 'in_progress' });
  if (running) {
    return {
      action: 'skipped',
      organization_id: organizationId,
      reason: 'in_progress',
      message: `Another process is backing up organization ${organizationId} right now (${running.backup_filename}).`,
    };
  }
  if (deps.config.organizations) {
    const { lookupOrganization } = await import('./organizations.js');
    const row = await lookupOrganization(deps, organizationId);
    if (!row) throw NotFoundError.organization(organizationId, deps.config.organizations.table);
    if (row.autoBackupEnabled === false) {
      return { action: 'skipped', organization_id: organizationId, reason: 'disabled', message: disabledMessage(organizationId, 'column', deps.config.organizations.table) };
    }
  }
  return startDetachedAuto(deps, options);
}

/** What the child reads from its stdin. */
export interface DetachedJob {
  config: Deps['config'];
  options: Pick<AutoOptions, 'organizationId' | 'userId' | 'role' | 'owner'>;
}

/** Starts the detached child without checking anything first (see autoBackupDetached). */
export async function startDetachedAuto(deps: Pick<Deps, 'config' | 'clock'>, options: AutoOptions): Promise<DetachedStart> {
  const logName = `auto-org-${options.organizationId}-${localDate(deps.clock.now(), deps.config.timezone)}.log`;
  const log = await openStoreLog(deps.config.storage.dir, logName);
  const logDir = path.join(deps.config.storage.dir, 'logs');
  const logFile = path.join(logDir, logName);
  await removeOldLogs(logDir, deps.config.auto.logRetentionDays, deps.clock.now());
  try {
    const job: DetachedJob = {
      config: deps.config,
      options: { organizationId: options.organizationId, userId: options.userId ?? null, role: options.role, owner: options.owner },
    };
    const child = spawn(process.execPath, childArgs(), { detached: true, stdio: ['pipe', log.fd, log.fd], env: process.env });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    child.stdin!.on('error', () => undefined); // a child that died at once: its own log line says why
    child.stdin!.end(JSON.stringify(job));
    const who = [options.userId != null ? `user ${options.userId}` : '', options.role !== undefined ? `role ${options.role}` : '', options.owner ? 'owner' : '']
      .filter(Boolean)
      .join(', ');
    await log.write(`${logLine(process.pid, `detached the automatic backup of organization ${options.organizationId}${who ? ` (${who})` : ''} into child pid ${pid}`)}`);
    child.unref();
    return { action: 'started', organization_id: options.organizationId, pid, log_file: logFile };
  } finally {
    await log.close();
  }
}

/** One log line: whole-second UTC time, pid, event (newlines folded, so one event is one line). */
export function logLine(pid: number, event: string, now = new Date()): string {
  return `${wholeSeconds(now.toISOString())} pid ${pid} ${event.replace(/\s*\n\s*/g, ' | ')}\n`;
}

/** The child's script: the compiled file beside this one (or, run from sources, the .ts through tsx). */
function childArgs(): string[] {
  const here = fileURLToPath(import.meta.url);
  const compiled = path.join(path.dirname(here), 'auto-detach-child.js');
  if (existsSync(compiled)) return [compiled];
  return ['--import', 'tsx', path.join(path.dirname(here), 'auto-detach-child.ts')];
}

async function removeOldLogs(logDir: string, retentionDays: number, now: Date): Promise<void> {
  const limit = now.getTime() - retentionDays * 86_400_000;
  for (const name of await readdir(logDir).catch(() => [] as string[])) {
    if (!/^auto-.*\.log$/.test(name)) continue;
    const file = path.join(logDir, name);
    const info = await lstat(file).catch(() => null);
    if (info && info.mtimeMs < limit) await rm(file, { force: true });
  }
}
