/**
 * What the JSON ledger holds, read straight from its files (format 2: `ledger.json` is a small
 * head, each organization's and tenant's records are in `ledger/organizations/*.json` and
 * `ledger/tenants/*.json`), for tests that check the files themselves rather than the Ledger API.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LedgerRecord } from '../../src/ledger/types.js';

interface OwnerFile {
  records: LedgerRecord[];
  meta: Record<string, { backup_type?: string; run?: unknown }>;
  settings: unknown;
}

async function ownerFiles(storageDir: string): Promise<OwnerFile[]> {
  const files: OwnerFile[] = [];
  for (const kind of ['organizations', 'tenants']) {
    const dir = path.join(storageDir, 'ledger', kind);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.endsWith('.json')) files.push(JSON.parse(await readFile(path.join(dir, name), 'utf8')) as OwnerFile);
    }
  }
  return files;
}

/** Every record of the ledger, newest first (as `find()` returns them). */
export async function ledgerRecords(storageDir: string): Promise<LedgerRecord[]> {
  const records = (await ownerFiles(storageDir)).flatMap((file) => file.records);
  return records.sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
}

/** Records still marked as running (their run file in ledger/runs/). */
export async function ledgerRuns(storageDir: string): Promise<string[]> {
  return (await readdir(path.join(storageDir, 'ledger', 'runs')).catch(() => [] as string[])).filter((name) => name.endsWith('.json'));
}

/** The text of every ledger file (head, owner files, names index), to search for what must not be there. */
export async function ledgerText(storageDir: string): Promise<string> {
  const parts: string[] = [await readFile(path.join(storageDir, 'ledger.json'), 'utf8').catch(() => '')];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith('.json')) parts.push(await readFile(full, 'utf8'));
    }
  };
  await walk(path.join(storageDir, 'ledger'));
  return parts.join('\n');
}
