/**
 * `recoverInterrupted`'s verdict on one suspect run of the JSON ledger, given under the ledger's
 * write lock (which a begin holds from its run lock's creation to its record): a lock file seen
 * before its run existed is by now that run's, held, and is left alone.
 */
import { access, rm } from 'node:fs/promises';
import { probeLockFile } from '../file-lock.js';
import type { LedgerRecord } from '../types.js';
import type { LedgerPaths } from './files.js';
import type { JsonLedgerStore } from './store.js';

export interface Suspect {
  id: number;
  /** A run lock file without its run-info file. */
  lockOnly: boolean;
}

/** The record marked failed (its run is gone), or null when there was nothing to recover. */
export async function recoverSuspect(files: JsonLedgerStore, paths: LedgerPaths, suspect: Suspect, ours: (id: number) => boolean, now: () => string): Promise<LedgerRecord | null> {
  const { id, lockOnly } = suspect;
  const state = await probeLockFile(paths.runLock(id));
  if (state === true || ours(id)) return null;
  // A run lock without its file: the end of a run that finished, or was recovered, or died in begin.
  if (lockOnly) {
    const infoGone = await access(paths.runInfo(id)).then(
      () => false,
      () => true,
    );
    if (state === false && infoGone) await rm(paths.runLock(id), { force: true });
    return null;
  }
  let recovered: LedgerRecord | null = null;
  const info = await files.readRunInfo(id);
  if (info) {
    const doc = await files.readOwnerFresh(info.owner);
    const record = doc.records.find((r) => r.id === id);
    if (record?.status === 'in_progress') {
      const run = doc.meta[String(id)]?.run;
      record.status = 'failed';
      record.error_message = `Interrupted: the process that ran this backup${run ? ` (pid ${run.pid} on ${run.host})` : ''} ended before it finished.`;
      record.updated_at = now();
      delete doc.meta[String(id)]?.run;
      await files.writeOwner(doc);
      recovered = { ...record };
    }
  }
  await rm(paths.runInfo(id), { force: true });
  await rm(paths.runLock(id), { force: true });
  return recovered;
}
