/**
 * Which machine this process runs on, as tenant-backup names it: in ledger records (the database
 * ledger's `host`, the JSON ledger's head) and in the store's temp file names (so that a store
 * several servers share is cleaned only of this host's dead runs' files).
 */
import { hostname } from 'node:os';

/**
 * `TENANT_BACKUP_HOST` when set (containers whose host names change at every start; tests that
 * simulate several servers), else the system's host name.
 */
export function hostIdentity(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.TENANT_BACKUP_HOST?.trim();
  return override ? override : hostname();
}
