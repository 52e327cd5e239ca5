/**
 * Where the JSON ledger (format 2) keeps what, and how its files are read and written.
 *
 *   <storage>/ledger.json                 the head: format, version, host, next_id (small)
 *   <storage>/ledger/organizations/<id>.json   one file per organization (owner-file.ts)
 *   <storage>/ledger/tenants/<name>.json       one file per tenant
 *   <storage>/ledger/names/<000-3ff>.json      which owners have records of a file name
 *   <storage>/ledger/runs/<id>.json, <id>.lck  the running backups, and the lock each run holds
 *   <storage>/ledger/tmp/                      temp files of writes in progress
 *   <storage>/locks/<key>.lck                  operation locks; locks/.ledger-write.lck serializes writes
 *
 * Every file is replaced atomically (temp file in ledger/tmp, fsync, rename, fsync of the folder),
 * so a reader, which takes no lock, always sees a whole version. Temp files are created
 * exclusively and no file is ever opened through a symbolic link.
 */
import { constants } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { LedgerCorruptError, OperationError, describeCause, describeJsonError } from '../../errors.js';
import { fsyncPath } from '../../store/local.js';
import { createExclusive, readFileNoFollow } from '../../store/safety.js';
import type { LedgerOwner } from '../types.js';

export const LEDGER_FILE_NAME = 'ledger.json';
export const LEDGER_DIR_NAME = 'ledger';
export const LEDGER_FORMAT = 'tenant-backup-ledger';
const NAMES_FORMAT = 'tenant-backup-ledger-names';
const NAME_SHARDS = 1024;

export interface LedgerHead {
  format: typeof LEDGER_FORMAT;
  version: 2;
  /** The one host that uses this ledger (see json-file.ts: a second host is refused). */
  host: string;
  next_id: number;
  created_at: string;
}

export class LedgerPaths {
  readonly head: string;
  readonly dir: string;
  readonly tmp: string;
  readonly runs: string;
  readonly locks: string;
  readonly writeLock: string;

  constructor(readonly storageDir: string) {
    this.head = path.join(storageDir, LEDGER_FILE_NAME);
    this.dir = path.join(storageDir, LEDGER_DIR_NAME);
    this.tmp = path.join(this.dir, 'tmp');
    this.runs = path.join(this.dir, 'runs');
    this.locks = path.join(storageDir, 'locks');
    this.writeLock = path.join(this.locks, '.ledger-write.lck');
  }

  ownerDir(kind: LedgerOwner['kind']): string {
    return path.join(this.dir, kind === 'organization' ? 'organizations' : 'tenants');
  }

  owner(owner: LedgerOwner): string {
    return path.join(this.ownerDir(owner.kind), ownerFileName(owner.kind === 'organization' ? owner.organization_id : owner.tenant));
  }

  namesShard(kind: string, name: string): string {
    return path.join(this.dir, 'names', `${(fnv1a(`${kind}/${name}`) % NAME_SHARDS).toString(16).padStart(3, '0')}.json`);
  }

  runInfo(id: number): string {
    return path.join(this.runs, `${id}.json`);
  }

  runLock(id: number): string {
    return path.join(this.runs, `${id}.lck`);
  }

  operationLock(key: string): string {
    if (!/^[A-Za-z0-9._%-]+$/.test(key) || key.startsWith('.')) throw new OperationError(`Invalid lock key "${key}".`);
    return path.join(this.locks, `${key}.lck`);
  }

  /** The day's date in the configured zone, cached for `auto`'s skip path (see core/today.ts). */
  get todayCache(): string {
    return path.join(this.dir, 'today.json');
  }
}

/**
 * An owner's file name: its id or tenant name, percent-encoded beyond [A-Za-z0-9_.-] (and a
 * leading dot), so any organization id (UUIDs, text) is a safe, readable name. Names longer than
 * 200 characters become `~<hash>` (the file itself says whose it is).
 */
export function ownerFileName(name: string): string {
  if (name === '') throw new OperationError('A ledger record needs a non-empty organization id or tenant name.');
  let encoded = encodeURIComponent(name).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (encoded.startsWith('.')) encoded = `%2E${encoded.slice(1)}`;
  if (encoded.length > 200) encoded = `~${fnv1a(name).toString(16)}-${fnv1a(`${name}\u0000`).toString(16)}-${name.length}`;
  return `${encoded}.json`;
}

/** The owner name of an owner file name, or null when the name is a hash (read the file). */
export function ownerNameOfFile(fileName: string): string | null {
  if (!fileName.endsWith('.json') || fileName.startsWith('~') || fileName.startsWith('.')) return null;
  try {
    return decodeURIComponent(fileName.slice(0, -'.json'.length));
  } catch {
    return null;
  }
}

/** 32-bit FNV-1a: spreads names over shards without loading node:crypto on read paths. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The text of a ledger file, or null when it does not exist (never through a link). */
export async function readLedgerFile(file: string): Promise<string | null> {
  return readFileNoFollow(file);
}

/**
 * Replaces `file` with `text` atomically. Failures leave the file as it was and say so, naming
 * the file (a full disk says "No space left on device").
 */
export async function writeLedgerFile(paths: LedgerPaths, file: string, text: string, options: { durable?: boolean } = {}): Promise<void> {
  const durable = options.durable ?? true;
  const temp = path.join(paths.tmp, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let created = false;
  let renamed = false;
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await mkdir(paths.tmp, { recursive: true, mode: 0o700 });
    const handle = await createExclusive(temp, constants.O_WRONLY);
    created = true;
    try {
      await handle.writeFile(text, 'utf8');
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    created = false;
    renamed = true;
    if (durable) await fsyncPath(path.dirname(file));
  } catch (error) {
    if (created) await rm(temp, { force: true }).catch(() => undefined);
    const outcome = renamed ? 'The new version was written but may not survive a crash.' : 'The ledger was left as it was.';
    throw new OperationError(`Could not write the ledger file ${file}: ${describeCause(error)}. ${outcome}`, { cause: error, details: { file } });
  }
}

/** Temp files left by writers that died; called only under the write lock (no writer is running). */
export async function removeLeftoverTemps(paths: LedgerPaths): Promise<void> {
  const names = await readdir(paths.tmp).catch(() => [] as string[]);
  for (const name of names) if (name.endsWith('.tmp')) await rm(path.join(paths.tmp, name), { force: true }).catch(() => undefined);
}

/** Parses the head of a format-2 ledger (the caller has seen it is small). */
export function parseHead(text: string, file: string): LedgerHead | { version: 1 } {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new LedgerCorruptError(file, new Error(describeJsonError(error, text)));
  }
  if (typeof value !== 'object' || value === null || value.format !== LEDGER_FORMAT) throw new LedgerCorruptError(file, new Error('format: not a tenant-backup ledger'));
  if (value.version === 1) return { version: 1 };
  if (value.version !== 2) throw new LedgerCorruptError(file, new Error(`version: ${JSON.stringify(value.version)} is not a ledger format this version knows (1 or 2)`));
  const nextId = value.next_id;
  if (typeof value.host !== 'string' || typeof nextId !== 'number' || !Number.isSafeInteger(nextId) || nextId < 1 || typeof value.created_at !== 'string') {
    throw new LedgerCorruptError(file, new Error('host/next_id/created_at: invalid'));
  }
  return { format: LEDGER_FORMAT, version: 2, host: value.host, next_id: nextId, created_at: value.created_at };
}

export function serializeHead(head: LedgerHead): string {
  return `${JSON.stringify(
    {
      ...head,
      layout: 'records live in ledger/: one file per organization (ledger/organizations/) and per tenant (ledger/tenants/), see the README',
    },
    null,
    2,
  )}\n`;
}

/** A names shard: "<kind>/<file name>" → the owners (names) that have records of that file. */
export function parseNames(text: string | null, file: string): Record<string, string[]> {
  if (text === null) return {};
  let value: { format?: unknown; names?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (error) {
    throw new LedgerCorruptError(file, new Error(describeJsonError(error, text)));
  }
  const names = value.names;
  if (value.format !== NAMES_FORMAT || typeof names !== 'object' || names === null || Array.isArray(names)) throw new LedgerCorruptError(file, new Error('not a names index'));
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [key, owners] of Object.entries(names)) {
    if (!Array.isArray(owners) || !owners.every((o) => typeof o === 'string')) throw new LedgerCorruptError(file, new Error(`names: invalid entry`));
    out[key] = owners as string[];
  }
  return out;
}

export function serializeNames(names: Record<string, string[]>): string {
  const lines = Object.entries(names)
    .filter(([, owners]) => owners.length > 0)
    .map(([key, owners]) => `${JSON.stringify(key)}:${JSON.stringify(owners)}`);
  return `{"format":"${NAMES_FORMAT}","version":2,"names":{\n${lines.join(',\n')}${lines.length ? '\n' : ''}}}\n`;
}
