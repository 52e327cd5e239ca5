/**
 * The JSON ledger's files as one unit: the head (format, host, next id; migration of format 1 on
 * first use; the one-machine checks), each owner's file (read with a cache keyed by the file's
 * text, written atomically with the history policy's failure limit applied), the names index, the
 * run files, and the write lock that serializes every change. json-file.ts builds the Ledger on it.
 */
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, OperationError } from '../../errors.js';
import type { Clock } from '../../retention/clock.js';
import { isExpiredFailure, type HistoryPolicy } from '../../retention/history.js';
import type { StoreGuard } from '../../store/safety.js';
import { lockFile } from '../file-lock.js';
import { sharedFileSystemOf } from '../host.js';
import type { LedgerOwner, LedgerRecord, RecordFilter, RecordId } from '../types.js';
import {
  LEDGER_FORMAT,
  ownerNameOfFile,
  parseHead,
  parseNames,
  readLedgerFile,
  removeLeftoverTemps,
  serializeHead,
  serializeNames,
  writeLedgerFile,
  type LedgerHead,
  type LedgerPaths,
} from './files.js';
import { emptyOwnerDoc, newestFirst, ownerName, parseOwnerDoc, serializeOwnerDoc, type OwnerDoc } from './owner-file.js';

/** A head larger than this is a format-1 ledger (format 2's head is a few hundred bytes). */
const SMALL_HEAD_BYTES = 64 * 1024;
/** The host of a head converted from format 1, which named none: the first writer claims it. */
const UNCLAIMED = '';
const WRITE_WAIT_MS = 120_000;
const CACHED_OWNERS = 16;

export class JsonLedgerStore {
  /** Parsed owner files by path, reused while the file's text is unchanged. */
  private readonly docs = new Map<string, { text: string; doc: OwnerDoc }>();
  private readable: Promise<void> | undefined;
  private writable: Promise<void> | undefined;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly paths: LedgerPaths,
    private readonly clock: Clock,
    private readonly guard: StoreGuard,
    readonly host: string,
    private readonly keep: HistoryPolicy,
  ) {}

  get file(): string {
    return this.paths.head;
  }

  /** The owners a filter can match, from the filter itself, the names index, or all. */
  async ownersFor(filter: RecordFilter): Promise<LedgerOwner[]> {
    if (filter.organization_id !== undefined) {
      return filter.kind === 'database' || filter.tenant !== undefined ? [] : [{ kind: 'organization', organization_id: filter.organization_id }];
    }
    if (filter.tenant !== undefined) return filter.kind === 'organization' ? [] : [{ kind: 'database', tenant: filter.tenant }];
    if (filter.backup_filename !== undefined) {
      const owners: LedgerOwner[] = [];
      for (const kind of filter.kind ? [filter.kind] : (['organization', 'database'] as const)) {
        const shard = this.paths.namesShard(kind, filter.backup_filename);
        const names = parseNames(await readLedgerFile(shard), shard)[`${kind}/${filter.backup_filename}`] ?? [];
        for (const name of names) owners.push(kind === 'organization' ? { kind, organization_id: name } : { kind, tenant: name });
      }
      return owners;
    }
    const all = await this.owners();
    return filter.kind ? all.filter((owner) => owner.kind === filter.kind) : all;
  }

  /** Every owner with a file, organizations first, in file-name order. */
  async owners(): Promise<LedgerOwner[]> {
    const owners: LedgerOwner[] = [];
    for (const kind of ['organization', 'database'] as const) {
      const names = await readdir(this.paths.ownerDir(kind)).catch(() => [] as string[]);
      for (const fileName of names.sort()) {
        if (!fileName.endsWith('.json')) continue;
        const name = ownerNameOfFile(fileName);
        if (name !== null) owners.push(kind === 'organization' ? { kind, organization_id: name } : { kind, tenant: name });
        else {
          const doc = await this.readOwnerAt(path.join(this.paths.ownerDir(kind), fileName), null);
          if (doc) owners.push(doc.owner);
        }
      }
    }
    return owners;
  }

  async readRunInfo(id: RecordId): Promise<{ owner: LedgerOwner } | null> {
    const text = await readLedgerFile(this.paths.runInfo(id)).catch(() => null);
    if (!text) return null;
    try {
      const info = JSON.parse(text) as { kind?: unknown; owner?: unknown };
      if (typeof info.owner !== 'string') return null;
      if (info.kind === 'organization') return { owner: { kind: 'organization', organization_id: info.owner } };
      if (info.kind === 'database') return { owner: { kind: 'database', tenant: info.owner } };
    } catch {
      // A run file cut short by a crash: the run is judged by its lock; its owner is unknown.
    }
    return null;
  }

  async readOwner(owner: LedgerOwner, options: { cache?: boolean } = {}): Promise<OwnerDoc | null> {
    return this.readOwnerAt(this.paths.owner(owner), owner, options.cache ?? true);
  }

  async readOwnerAt(file: string, owner: LedgerOwner | null, cache = true): Promise<OwnerDoc | null> {
    const text = await readLedgerFile(file);
    if (text === null) return null;
    const cached = this.docs.get(file);
    if (cached && cached.text === text) return cached.doc;
    const doc = parseOwnerDoc(text, file, owner);
    if (cache) {
      // A few recent owners: a command usually comes back to the same one or two; a walk over
      // every owner must not keep them all.
      if (this.docs.size >= CACHED_OWNERS) this.docs.delete(this.docs.keys().next().value!);
      this.docs.set(file, { text, doc });
    }
    return doc;
  }

  /** The owner's file for a change: parsed afresh (the cached copy is never edited). */
  async readOwnerFresh(owner: LedgerOwner): Promise<OwnerDoc> {
    const file = this.paths.owner(owner);
    const text = await readLedgerFile(file);
    return text === null ? emptyOwnerDoc(owner) : parseOwnerDoc(text, file, owner);
  }

  async writeOwner(doc: OwnerDoc): Promise<void> {
    const now = this.clock.now();
    const expired = doc.records.filter((record) => isExpiredFailure(record, this.keep, now));
    for (const record of expired) delete doc.meta[String(record.id)];
    doc.records = doc.records.filter((record) => !expired.includes(record)).sort(newestFirst);
    const file = this.paths.owner(doc.owner);
    this.docs.delete(file);
    // An owner with nothing left (pruned, settings never set) has no file.
    if (doc.records.length === 0 && doc.settings === null) await rm(file, { force: true });
    else await writeLedgerFile(this.paths, file, serializeOwnerDoc(doc));
  }

  async indexName(kind: string, name: string, owner: string): Promise<void> {
    const shard = this.paths.namesShard(kind, name);
    const names = parseNames(await readLedgerFile(shard), shard);
    const key = `${kind}/${name}`;
    if (names[key]?.includes(owner)) return;
    names[key] = [...(names[key] ?? []), owner];
    await writeLedgerFile(this.paths, shard, serializeNames(names));
  }

  /** Drops owner entries of names that the owner has no record of any more. */
  async unindexNames(gone: LedgerRecord[], doc: OwnerDoc): Promise<void> {
    const owner = ownerName(doc.owner);
    for (const record of gone) {
      if (doc.records.some((r) => r.backup_filename === record.backup_filename)) continue;
      const shard = this.paths.namesShard(record.kind, record.backup_filename);
      const names = parseNames(await readLedgerFile(shard), shard);
      const key = `${record.kind}/${record.backup_filename}`;
      if (!names[key]?.includes(owner)) continue;
      names[key] = names[key]!.filter((o) => o !== owner);
      await writeLedgerFile(this.paths, shard, serializeNames(names));
    }
  }

  /** Runs `fn` under the write lock: one writer at a time, in this process and across processes. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(async () => {
      await mkdir(this.paths.locks, { recursive: true, mode: 0o700 });
      const held = await lockFile(this.paths.writeLock, { waitMs: WRITE_WAIT_MS, describe: 'the ledger write lock' });
      try {
        await removeLeftoverTemps(this.paths);
        return await fn();
      } finally {
        await held.release();
      }
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** The head as it is now (under the write lock). */
  async readHeadFresh(): Promise<LedgerHead> {
    const head = await this.readHead();
    if (head === null || head === 'format1') throw new OperationError(`The ledger head ${this.paths.head} changed while in use; try again.`);
    return head;
  }

  async readHead(): Promise<LedgerHead | 'format1' | null> {
    let handle;
    try {
      handle = await open(this.paths.head, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      if ((await handle.stat()).size > SMALL_HEAD_BYTES) return 'format1';
    } finally {
      await handle.close();
    }
    const text = await readLedgerFile(this.paths.head);
    if (text === null) return null;
    const head = parseHead(text, this.paths.head);
    return head.version === 1 ? 'format1' : head;
  }

  /**
   * Once per instance: the store is safe and the ledger is in format 2 (migrating a format-1 file).
   * Format 1 belonged to no host, and whatever command meets it first converts it — often a reading
   * one, perhaps on an administrator's machine: the converted head names no host (UNCLAIMED) until
   * the first command that writes claims it (ensureWritable), as a new ledger would be. A storage
   * folder where writing is refused (a shared file system) is not converted at all.
   */
  ensureReadable(): Promise<void> {
    this.readable ??= (async () => {
      await this.guard.check();
      if ((await this.readHead()) !== 'format1') return;
      const problem = await this.writeProblem();
      if (problem) throw problem;
      const { withFormat1Lock } = await import('./format1-lock.js');
      const { migrateFormat1 } = await import('./migrate-v1.js');
      await this.write(() =>
        withFormat1Lock(this.paths.storageDir, async () => {
          if ((await this.readHead()) === 'format1') await migrateFormat1(this.paths, { host: UNCLAIMED, now: this.clock.now() });
        }),
      );
    })().catch((error: unknown) => {
      this.readable = undefined;
      throw error;
    });
    return this.readable;
  }

  /** Once per instance: readable, on a local file system, created, and this host's. */
  ensureWritable(): Promise<void> {
    this.writable ??= (async () => {
      await this.ensureReadable();
      const problem = await this.writeProblem();
      if (problem) throw problem;
      const claimed = (head: LedgerHead | 'format1' | null) => head !== null && (head === 'format1' || head.host !== UNCLAIMED);
      if (claimed(await this.readHead())) return;
      await this.write(async () => {
        const current = await this.readHead();
        if (claimed(current)) return;
        const head: LedgerHead =
          current && current !== 'format1'
            ? { ...current, host: this.host }
            : { format: LEDGER_FORMAT, version: 2, host: this.host, next_id: await this.nextIdFromFiles(), created_at: this.clock.now().toISOString() };
        await writeLedgerFile(this.paths, this.paths.head, serializeHead(head));
      });
    })().catch((error: unknown) => {
      this.writable = undefined;
      throw error;
    });
    return this.writable;
  }

  /** Why this process may not write this ledger (another host's, a shared file system), or null. */
  async writeProblem(): Promise<ConfigError | null> {
    const dir = this.paths.storageDir;
    const shared = await sharedFileSystemOf(dir);
    if (shared) {
      return new ConfigError(
        `The storage folder ${dir} is on ${shared}, a file system several machines share: the JSON ledger and its file locks serve one machine, and refuse it. ` +
          'Use the database ledger ("ledger": { "type": "database" }; README, "Several servers"), or a storage folder on a local disk.',
        { path: dir, file_system: shared },
      );
    }
    const head = await this.readHead();
    if (head && head !== 'format1' && head.host !== UNCLAIMED && head.host !== this.host) {
      return new ConfigError(
        `The JSON ledger ${this.paths.head} belongs to host "${head.host}", and this is "${this.host}": a JSON ledger and its file locks serve one machine. ` +
          'Several servers need the database ledger ("ledger": { "type": "database" }; README, "Several servers"). ' +
          `If this machine was renamed, or the store moved here for good, set "host" to "${this.host}" in ${this.paths.head} (and run no tenant-backup on "${head.host}" any more).`,
        { file: this.paths.head, ledger_host: head.host, host: this.host },
      );
    }
    return null;
  }

  /** next_id for a head that is missing while owner files exist (a head removed by hand). */
  async nextIdFromFiles(): Promise<number> {
    let max = 0;
    for (const owner of await this.owners()) {
      const doc = await this.readOwner(owner, { cache: false });
      for (const record of doc?.records ?? []) max = Math.max(max, record.id);
    }
    return max + 1;
  }
}
