/**
 * Crafted organization archives, as an attacker with write access to the store would make them:
 * a real archive's table lines rewritten, with every sha256, size and row count fixed so the
 * archive verifies. Restores must treat archives as untrusted input all the same.
 */
import path from 'node:path';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import { ArchiveWriter } from '../../src/archive/zip-writer.js';
import type { ManifestColumn } from '../../src/archive/manifest.js';
import type { OrgBed } from './org-setup.js';

export type LineEdit = (table: string, lines: string[], columns: ManifestColumn[]) => string[];

/** Copies an archive of the store under a new name, its table lines rewritten by `edit`, checksums valid. */
export async function rewriteArchive(bed: Pick<OrgBed, 'deps'>, from: string, to: string, edit: LineEdit): Promise<string> {
  const dir = path.join(bed.deps.config.storage.dir, 'organizations');
  await rewriteArchiveFile(path.join(dir, from), path.join(dir, to), edit);
  return to;
}

export async function rewriteArchiveFile(from: string, to: string, edit: LineEdit): Promise<void> {
  const reader = await ArchiveReader.open(from);
  const writer = await ArchiveWriter.open(to);
  const entries = [];
  for (const entry of reader.manifest.entries) {
    const chunks: Buffer[] = [];
    for await (const chunk of await reader.openEntry(entry.path)) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const lines = entry.table
      ? edit(
          entry.table,
          text.split('\n').filter((l) => l !== ''),
          entry.columns ?? [],
        )
      : null;
    const data = lines ? Buffer.from(lines.map((l) => `${l}\n`).join('')) : Buffer.from(text);
    const written = await writer.addEntry(entry.path, data);
    entries.push({ ...entry, ...written, ...(lines ? { rows: lines.length } : {}) });
  }
  await writer.finish({ ...reader.manifest, entries });
  await reader.close();
}

/**
 * A copy of the table's first line with some columns replaced. A value given as a JS number or a
 * bigint is written in the column's own encoding (a JSON number, or a decimal string), so the
 * crafted row looks exactly like one the backup wrote.
 */
export function craftedRow(lines: string[], columns: ManifestColumn[], values: Record<string, number | bigint | string | null>): string {
  const row = JSON.parse(lines[0]!) as unknown[];
  for (const [name, value] of Object.entries(values)) {
    const index = columns.findIndex((c) => c.name === name);
    if (index < 0) throw new Error(`no column ${name}`);
    const column = columns[index]!;
    row[index] = value === null ? null : typeof value === 'string' ? value : column.encoding === 'number' ? Number(value) : String(value);
  }
  return JSON.stringify(row);
}
