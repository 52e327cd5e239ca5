/**
 * Large JSON ledgers for tests and benchmarks, written with the tool's own serializers (so they
 * are exactly what tenant-backup writes): organizations with their seven weekday archives and a
 * few recent failures, and tenants with a long history of timestamped backups.
 *
 *   generateJsonLedger(dir, { records: 1_000_000, today: '2026-11-23' })
 *
 * Format 1 (the single file of earlier versions, as they wrote it: pretty-printed) is written
 * piece by piece for migration tests: a million records do not fit in one string.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { LEDGER_FORMAT, LedgerPaths, serializeHead, serializeNames } from '../../src/ledger/json/files.js';
import { serializeOwnerDoc, type OwnerDoc } from '../../src/ledger/json/owner-file.js';
import type { LedgerBackupType, LedgerOwner, LedgerRecord } from '../../src/ledger/types.js';
import { WEEKDAYS } from '../../src/retention/clock.js';

export interface GenerateOptions {
  records: number;
  /** `YYYY-MM-DD`: the newest day of the history (default 2026-11-23). */
  today?: string;
  organizations?: number;
  tenants?: number;
  host?: string;
}

export interface GeneratedLedger {
  records: number;
  nextId: number;
  organizations: string[];
  tenants: string[];
}

const DAY = 86_400_000;

/** The owners and their records, one owner at a time (records newest first). */
function* ownersOf(storageDir: string, options: GenerateOptions): Generator<{ owner: LedgerOwner; records: LedgerRecord[]; types: LedgerBackupType[] }> {
  const today = Date.parse(`${options.today ?? '2026-11-23'}T00:00:00Z`);
  const organizations = options.organizations ?? 2000;
  const tenants = options.tenants ?? 2000;
  const perOrganization = Math.min(10, Math.floor(options.records / Math.max(1, organizations + tenants)) || 1);
  let left = options.records;
  let id = 1;
  const iso = (ms: number) => new Date(ms).toISOString();
  const weekday = (ms: number) => WEEKDAYS[(new Date(ms).getUTCDay() + 6) % 7]!;
  for (let o = 1; o <= organizations && left > 0; o += 1) {
    const orgId = String(o);
    const records: LedgerRecord[] = [];
    const types: LedgerBackupType[] = [];
    const count = Math.min(perOrganization, left);
    for (let k = 0; k < count; k += 1) {
      // Seven weekday archives (one a day, newest first), then failures of the last days.
      const day = today - (k % 7) * DAY - (k >= 7 ? DAY / 2 : 0);
      const failed = k >= 7;
      const name = `org_c${o}_${weekday(day)}_backup.zip`;
      records.push({
        id: id++,
        kind: 'organization',
        organization_id: orgId,
        tenant: null,
        user_id: String(o % 97),
        day_of_week: weekday(day),
        backup_filename: name,
        backup_path: path.join(storageDir, 'organizations', name),
        backup_size: failed ? 0 : 10_000 + o,
        sha256: failed ? null : (o * 7919 + k).toString(16).padStart(64, 'a'),
        status: failed ? 'failed' : 'success',
        error_message: failed ? 'Could not connect to the shared database: ECONNREFUSED 127.0.0.1:5432' : null,
        backup_date: iso(day).slice(0, 10),
        created_at: iso(day + 8 * 3_600_000 + o * 1000),
        updated_at: iso(day + 8 * 3_600_000 + o * 1000 + 4000),
      });
      types.push('auto_daily');
    }
    left -= count;
    yield { owner: { kind: 'organization', organization_id: orgId }, records: records.sort((a, b) => b.created_at.localeCompare(a.created_at)), types };
  }
  for (let t = 1; t <= tenants && left > 0; t += 1) {
    const tenant = `t${String(t).padStart(5, '0')}`;
    const count = Math.ceil(left / (tenants - t + 1));
    const records: LedgerRecord[] = [];
    const types: LedgerBackupType[] = [];
    for (let k = 0; k < count; k += 1) {
      const at = today - k * DAY + 2 * 3_600_000 + t * 1000;
      const stamp = iso(at).slice(0, 19).replace('T', '_').replaceAll(':', '-');
      const name = `${tenant}_${stamp}.zip`;
      records.push({
        id: id++,
        kind: 'database',
        organization_id: null,
        tenant,
        user_id: null,
        day_of_week: weekday(at),
        backup_filename: name,
        backup_path: path.join(storageDir, 'tenant-databases', name),
        backup_size: 1_000_000 + k,
        sha256: (t * 104729 + k).toString(16).padStart(64, 'b'),
        status: 'success',
        error_message: null,
        backup_date: iso(at).slice(0, 10),
        created_at: iso(at),
        updated_at: iso(at + 60_000),
      });
      types.push('manual');
    }
    left -= count;
    yield { owner: { kind: 'database', tenant }, records, types };
  }
}

/** A format-2 ledger of `options.records` records in `storageDir` (which must not hold one). */
export async function generateJsonLedger(storageDir: string, options: GenerateOptions): Promise<GeneratedLedger> {
  const paths = new LedgerPaths(storageDir);
  await mkdir(storageDir, { recursive: true, mode: 0o700 });
  for (const dir of [paths.ownerDir('organization'), paths.ownerDir('database'), path.join(paths.dir, 'names')]) await mkdir(dir, { recursive: true, mode: 0o700 });
  const names = new Map<string, Record<string, string[]>>();
  const result: GeneratedLedger = { records: 0, nextId: 1, organizations: [], tenants: [] };
  for (const { owner, records, types } of ownersOf(storageDir, options)) {
    const doc: OwnerDoc = { owner, settings: null, records, meta: {} };
    records.forEach((record, i) => (doc.meta[String(record.id)] = { backup_type: types[i]! }));
    await writeFile(paths.owner(owner), serializeOwnerDoc(doc), { mode: 0o600 });
    const ownerName = owner.kind === 'organization' ? owner.organization_id : owner.tenant;
    (owner.kind === 'organization' ? result.organizations : result.tenants).push(ownerName);
    for (const record of records) {
      const shard = paths.namesShard(record.kind, record.backup_filename);
      const entries = names.get(shard) ?? {};
      names.set(shard, entries);
      entries[`${record.kind}/${record.backup_filename}`] = [ownerName];
      result.nextId = Math.max(result.nextId, record.id + 1);
    }
    result.records += records.length;
  }
  for (const [shard, entries] of names) await writeFile(shard, serializeNames(entries), { mode: 0o600 });
  await writeFile(
    paths.head,
    serializeHead({ format: LEDGER_FORMAT, version: 2, host: options.host ?? 'generated', next_id: result.nextId, created_at: '2026-01-01T00:00:00.000Z' }),
    { mode: 0o600 },
  );
  return result;
}

/** The same history as a format-1 file, byte for byte as format 1 wrote it (JSON.stringify(…, null, 2)). */
export async function generateFormat1Ledger(storageDir: string, options: GenerateOptions & { settings?: Record<string, boolean> }): Promise<GeneratedLedger> {
  await mkdir(storageDir, { recursive: true, mode: 0o700 });
  const out = createWriteStream(path.join(storageDir, 'ledger.json'), { mode: 0o600 });
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  const indent = (value: unknown, pad: string) => `${pad}${JSON.stringify(value, null, 2).replaceAll('\n', `\n${pad}`)}`;
  const result: GeneratedLedger = { records: 0, nextId: 1, organizations: [], tenants: [] };
  const types: Array<[number, LedgerBackupType]> = [];
  const all = [...ownersOf(storageDir, options)];
  for (const { records } of all) for (const record of records) result.nextId = Math.max(result.nextId, record.id + 1);
  await write(`{\n  "format": "tenant-backup-ledger",\n  "version": 1,\n  "next_id": ${result.nextId},\n  "records": [`);
  let first = true;
  for (const { owner, records, types: ofOwner } of all) {
    (owner.kind === 'organization' ? result.organizations : result.tenants).push(owner.kind === 'organization' ? owner.organization_id : owner.tenant);
    for (const [i, record] of records.entries()) {
      await write(`${first ? '\n' : ',\n'}${indent(record, '    ')}`);
      first = false;
      types.push([record.id, ofOwner[i]!]);
      result.records += 1;
    }
  }
  await write(`${first ? ']' : '\n  ]'},\n  "runs": {},\n  "record_meta": {`);
  first = true;
  for (const [id, type] of types) {
    await write(`${first ? '\n' : ',\n'}    "${id}": {\n      "backup_type": "${type}"\n    }`);
    first = false;
  }
  const settings = Object.entries(options.settings ?? {});
  await write(`${first ? '}' : '\n  }'},\n  "organizations": {`);
  first = true;
  for (const [id, enabled] of settings) {
    await write(`${first ? '\n' : ',\n'}    "${id}": {\n      "auto_backup_enabled": ${enabled},\n      "updated_at": "2026-11-01T00:00:00.000Z"\n    }`);
    first = false;
  }
  await write(`${first ? '}' : '\n  }'}\n}\n`);
  out.end();
  await once(out, 'finish');
  return result;
}
