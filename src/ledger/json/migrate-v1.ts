/**
 * Format 1 → format 2: the single `ledger.json` of earlier versions becomes one file per owner.
 * Run automatically by the first command that finds a format-1 file, under both ledger locks
 * (format 1's, so that an older tenant-backup still running waits, and format 2's).
 *
 * Streaming: the file is read piece by piece (stream-json.ts) and each record is spooled to its
 * owner's temp file, so memory does not grow with the file (format 1 reached ~700 MB at a million
 * records). Nothing counts until the last step: the new owner files are written first, the
 * format-1 file is kept as `ledger-v1.json`, and only then does the head `ledger.json` become
 * format 2 (one atomic rename). A failure anywhere leaves the format-1 file in charge, untouched;
 * a record that is not valid stops the migration with its index (LedgerCorruptError, exit 6).
 *
 * `in_progress` records of format 1 are marked failed: their runs belonged to an older version,
 * which cannot record their outcome in format 2.
 */
import { appendFile, link, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { LedgerCorruptError } from '../../errors.js';
import { collectGarbage } from '../../memory.js';
import type { LedgerBackupType, LedgerOwner, LedgerRecord, OrganizationSettings } from '../types.js';
import { LEDGER_FORMAT, parseNames, serializeHead, serializeNames, writeLedgerFile, type LedgerHead, type LedgerPaths } from './files.js';
import { BACKUP_TYPES, checkRecord, checkRun, checkSettings, newestFirst, ownerName, ownerOfRecord, serializeOwnerDoc, type OwnerDoc, type RunInfo } from './owner-file.js';
import { JsonStructureError, streamJsonObject } from './stream-json.js';

/** Spooled text is flushed to the owners' temp files past this many characters. */
const SPOOL_FLUSH_CHARS = 8 * 1024 * 1024;
/** Names collected before they are merged into their shard files. */
const NAMES_IN_MEMORY = 50_000;

export interface MigrationResult {
  records: number;
  owners: number;
  interrupted: number;
}

export async function migrateFormat1(paths: LedgerPaths, options: { host: string; now: Date }): Promise<MigrationResult> {
  const file = paths.head;
  const spool = path.join(paths.tmp, 'migration');
  const corrupt = (where: string): never => {
    throw new LedgerCorruptError(file, new Error(where));
  };
  // Anything under ledger/ is uncommitted while the head is format 1 (a migration that died).
  for (const part of ['organizations', 'tenants', 'names', 'runs', 'tmp']) await rm(path.join(paths.dir, part), { recursive: true, force: true });
  await mkdir(spool, { recursive: true, mode: 0o700 });

  const owners = new Map<string, LedgerOwner>();
  const pending = new Map<string, string[]>();
  let pendingChars = 0;
  const backupTypes = new TypeById();
  const runs = new Map<number, RunInfo>();
  const settings = new Map<string, OrganizationSettings>();
  let version: unknown;
  let format: unknown;
  let nextId = 1;
  let records = 0;
  let maxId = 0;

  const spoolKey = (owner: LedgerOwner) => path.basename(paths.owner(owner));
  const flush = async () => {
    for (const [key, lines] of pending) await appendFile(path.join(spool, `${key}l`), lines.join(''), { mode: 0o600 });
    pending.clear();
    pendingChars = 0;
  };

  try {
    await streamJsonObject(file, new Set(['records', 'runs', 'record_meta', 'organizations']), async (values) => {
      for (const value of values) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value.text);
        } catch {
          corrupt(`${value.key}${value.child === undefined ? '' : `.${String(value.child).slice(0, 20)}`}: not valid JSON`);
        }
        if (value.child === undefined) {
          if (value.key === 'format') format = parsed;
          else if (value.key === 'version') version = parsed;
          else if (value.key === 'next_id') nextId = Number.isSafeInteger(parsed) && (parsed as number) > 0 ? (parsed as number) : corrupt('next_id: invalid');
          else if (!['records', 'runs', 'record_meta', 'organizations'].includes(value.key) || !isEmptyContainer(parsed)) corrupt(`${value.key.slice(0, 40)}: unexpected`);
          continue;
        }
        if (value.key === 'records') {
          const record = checkRecord(parsed);
          if (typeof record === 'string') return corrupt(`records[${value.child}].${record}`);
          const owner = ownerOfRecord(record) ?? corrupt(`records[${value.child}]: no organization id or tenant name`);
          const key = spoolKey(owner);
          owners.set(key, owner);
          const line = `${JSON.stringify(record)}\n`;
          let lines = pending.get(key);
          if (!lines) pending.set(key, (lines = []));
          lines.push(line);
          pendingChars += line.length;
          records += 1;
          maxId = Math.max(maxId, record.id);
        } else if (value.key === 'record_meta') {
          const type = (parsed as { backup_type?: unknown } | null)?.backup_type;
          if (!BACKUP_TYPES.includes(type as string)) corrupt(`record_meta.${String(value.child).slice(0, 20)}: invalid`);
          backupTypes.set(Number(value.child), type as LedgerBackupType);
        } else if (value.key === 'runs') {
          runs.set(Number(value.child), checkRun(parsed) ?? corrupt(`runs.${String(value.child).slice(0, 20)}: invalid`));
        } else {
          const id = String(value.child);
          settings.set(id, checkSettings(parsed) ?? corrupt(`organizations.${id.slice(0, 20)}: invalid`));
          const owner: LedgerOwner = { kind: 'organization', organization_id: id };
          owners.set(spoolKey(owner), owner);
        }
      }
      if (pendingChars > SPOOL_FLUSH_CHARS) {
        await flush();
        collectGarbage();
      }
    });
    await flush();
    if (format !== LEDGER_FORMAT || version !== 1) corrupt('format/version: not a format-1 tenant-backup ledger');

    let interrupted = 0;
    const names = new Map<string, Map<string, Set<string>>>();
    let namesHeld = 0;
    for (const [key, owner] of owners) {
      const text = await readFile(path.join(spool, `${key}l`), 'utf8').catch(() => '');
      const doc: OwnerDoc = { owner, settings: owner.kind === 'organization' ? (settings.get(owner.organization_id) ?? null) : null, records: [], meta: {} };
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const record = JSON.parse(line) as LedgerRecord;
        if (record.status === 'in_progress') {
          const run = runs.get(record.id);
          record.status = 'failed';
          record.error_message = `Interrupted: the ledger was upgraded to format 2 while this backup ran${run ? ` (pid ${run.pid} on ${run.host})` : ''}; its outcome was not recorded.`;
          record.updated_at = options.now.toISOString();
          interrupted += 1;
        }
        doc.records.push(record);
        const type = backupTypes.get(record.id);
        if (type) doc.meta[String(record.id)] = { backup_type: type };
        const shard = paths.namesShard(record.kind, record.backup_filename);
        const entries = names.get(shard) ?? new Map<string, Set<string>>();
        names.set(shard, entries);
        const nameKey = `${record.kind}/${record.backup_filename}`;
        entries.set(nameKey, (entries.get(nameKey) ?? new Set()).add(ownerName(owner)));
        namesHeld += 1;
      }
      doc.records.sort(newestFirst);
      await writeLedgerFile(paths, paths.owner(owner), serializeOwnerDoc(doc));
      // Names are merged into their shards in batches: memory holds a batch, not every name.
      if (namesHeld > NAMES_IN_MEMORY) {
        await writeNames(paths, names);
        namesHeld = 0;
        collectGarbage();
      }
    }
    await writeNames(paths, names);

    // Keep format 1 beside (a hard link: no copy of a large file), then switch the head.
    const keep = path.join(paths.storageDir, 'ledger-v1.json');
    await rm(keep, { force: true });
    await link(file, keep);
    const head: LedgerHead = { format: LEDGER_FORMAT, version: 2, host: options.host, next_id: Math.max(nextId, maxId + 1), created_at: options.now.toISOString() };
    await writeLedgerFile(paths, paths.head, serializeHead(head));
    // Format 1's temp files beside it (`.ledger.json.<pid>.<hex>.tmp`) belong to writers that are gone.
    for (const name of await readdir(paths.storageDir)) {
      if (/^\.ledger\.json\.\d+\.[0-9a-f]+\.tmp$/.test(name)) await rm(path.join(paths.storageDir, name), { force: true });
    }
    return { records, owners: owners.size, interrupted };
  } catch (error) {
    if (error instanceof JsonStructureError) throw new LedgerCorruptError(file, error);
    throw error;
  } finally {
    await rm(spool, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Merges the collected names into their shard files (which earlier batches may have written). */
async function writeNames(paths: LedgerPaths, names: Map<string, Map<string, Set<string>>>): Promise<void> {
  for (const [shard, entries] of names) {
    const existing = parseNames(await readFile(shard, 'utf8').catch(() => null), shard);
    for (const [key, owners] of entries) existing[key] = [...new Set([...(existing[key] ?? []), ...owners])];
    await writeLedgerFile(paths, shard, serializeNames(existing), { durable: true });
  }
  names.clear();
}

function isEmptyContainer(value: unknown): boolean {
  return (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
}

/** Backup types by record id: one byte per id (a Map only for ids beyond 64M), not an object per record. */
class TypeById {
  private bytes = new Uint8Array(1024);
  private readonly sparse = new Map<number, LedgerBackupType>();

  set(id: number, type: LedgerBackupType): void {
    if (!Number.isSafeInteger(id) || id < 1) return;
    if (id >= 64 * 1024 * 1024) {
      this.sparse.set(id, type);
      return;
    }
    if (id >= this.bytes.length) {
      const grown = new Uint8Array(Math.max(id + 1, this.bytes.length * 2));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[id] = BACKUP_TYPES.indexOf(type) + 1;
  }

  get(id: number): LedgerBackupType | undefined {
    if (id >= 64 * 1024 * 1024) return this.sparse.get(id);
    const code = this.bytes[id] ?? 0;
    return code === 0 ? undefined : (BACKUP_TYPES[code - 1] as LedgerBackupType);
  }
}
