/**
 * Which machine this process runs on, as tenant-backup names it: in ledger records (the database
 * ledger's `host`, the JSON ledger's head) and in the store's temp file names (so that a store
 * several servers share is cleaned only of this host's dead runs' files).
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * `TENANT_BACKUP_HOST` when set (containers whose host names change at every start; tests that
 * simulate several servers), else the system's host name.
 */
export function hostIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.TENANT_BACKUP_HOST?.trim();
  return override ? override : hostname();
}

/**
 * The name of a temp file for `finalName` in the same folder: `.<finalName>.@<host>.<pid>.<12 hex>.tmp`.
 * The host (`hostIdentity`, percent-encoded without dots; a long one as `~<hash>`) says whose it is
 * in a store several servers share (the database ledger's setting), so that only this host judges
 * whether its pid is still running (the store's `removeDeadTemps`). Every temp file beside an
 * archive is named so — an archive's own, and the part files of its staged entries.
 */
export function tempFileName(finalName: string, host = hostIdentity()): string {
  return `.${finalName}.@${hostToken(host)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** `host` as temp file names carry it: percent-encoded, no dots; a long one as `~<hash>`. */
export function hostToken(host: string): string {
  const encoded = encodeURIComponent(host).replaceAll('.', '%2E');
  return encoded.length <= 64 ? encoded : `~${createHash('sha256').update(host).digest('hex').slice(0, 16)}`;
}

/** The final name a temp file name (`tempFileName`) stands for; any other name as it is. */
export function tempFileStem(name: string): string {
  const match = /^\.(.+)\.@[^.]+\.\d{1,10}\.[0-9a-f]{12}\.tmp$/.exec(name);
  return match ? match[1]! : name;
}
