/**
 * Tenant-database archives for tests: read a dump entry back as text, and write an archive with
 * any payload and valid checksums — the way an attacker with write access to the store would
 * craft one (the restore must treat it as untrusted input).
 */
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type Manifest } from '../../src/archive/manifest.js';
import type { Deps } from '../../src/core/context.js';

export async function entryText(file: string, entry = 'dump.sql'): Promise<string> {
  const reader = await ArchiveReader.open(file);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await reader.openEntry(entry)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await reader.close();
  }
}

/** Commits `tenant-databases/<name>` for `tenant` whose one payload entry is `data` (checksums valid). */
export async function handMadeArchive(
  deps: Pick<Deps, 'store'>,
  name: string,
  tenant: string,
  entryPath: string,
  data: Buffer | string,
  engine: Manifest['engine'],
): Promise<string> {
  const temp = await deps.store.tempPath('tenant-databases', name);
  const writer = await ArchiveWriter.open(temp);
  const entry = await writer.addEntry(entryPath, Buffer.from(data));
  await writer.finish({
    format: ARCHIVE_FORMAT, format_version: ARCHIVE_FORMAT_VERSION, kind: 'database', engine, server_version: 'x', tool_version: 'test',
    created_at: '2026-11-20T10:00:00.000Z', day_of_week: 'friday', backup_type: 'manual', tenant,
    entries: [{ path: entryPath, bytes: entry.bytes, sha256: entry.sha256 }],
  });
  return (await deps.store.commit(temp, 'tenant-databases', name)).path;
}

/** A `dump.sql` archive (PostgreSQL or MySQL engine). */
export function archiveWithDump(deps: Pick<Deps, 'store'>, name: string, tenant: string, sql: string, engine: 'postgres' | 'mysql'): Promise<string> {
  return handMadeArchive(deps, name, tenant, 'dump.sql', sql, engine);
}
