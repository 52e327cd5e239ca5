/**
 * SQLite export of one table inside the snapshot's read transaction: rows are iterated (never all
 * loaded), encoded value by value (codec.ts) and written in pieces of ~64 K characters, waiting for
 * the output to drain whenever it asks to.
 */
import type { Writable } from 'node:stream';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { waitForDrain } from '../streams.js';
import type { ExportResult, OrganizationRow, TablePlan } from '../types.js';
import { fold, tableColumns } from './catalog.js';
import { encodeSqliteValue, INT64_MAX, naturalStorageClass, realText } from './codec.js';
import { invalidOrganizationId, UUID_TEXT } from '../organization-id.js';
import { asOperationError, type Database } from './database.js';
import { q, sqliteDialect } from './dialect.js';

/** Export lines are gathered into writes of about this many characters. */
const WRITE_CHUNK_CHARS = 64 * 1024;

export function exportRows(db: Database, plan: TablePlan, out: Writable, onRows?: (rows: number) => void): Promise<ExportResult> {
  let streamError: unknown;
  const onError = (error: unknown) => {
    streamError ??= error;
  };
  out.on('error', onError);
  let iterator: IterableIterator<unknown[]> | undefined;
  const run = async (): Promise<ExportResult> => {
    const classes = plan.columns.map((c) => naturalStorageClass(c.type));
    const select = plan.columns.map((c) => `t.${q(c.name)}`).join(', ');
    const order = plan.primaryKey.length > 0 ? ` ORDER BY ${plan.primaryKey.map((c) => `t.${q(c)}`).join(', ')}` : '';
    const statement = db.prepare(`SELECT ${select} FROM ${q(plan.table)} AS t WHERE ${plan.where}${order}`).raw(true);
    iterator = statement.iterate() as IterableIterator<unknown[]>;
    let rows = 0;
    let buffer = '';
    const flush = async () => {
      if (streamError !== undefined) throw streamError;
      if (out.destroyed || out.writableEnded) throw new Error('output stream closed before the export ended');
      const ok = out.write(buffer);
      buffer = '';
      onRows?.(rows);
      if (!ok) await waitForDrain(out);
    };
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const values = next.value;
      let line = '[';
      for (let i = 0; i < classes.length; i += 1) {
        if (i > 0) line += ',';
        line += encodeSqliteValue(values[i], classes[i]!);
      }
      buffer += `${line}]\n`;
      rows += 1;
      if (buffer.length >= WRITE_CHUNK_CHARS) await flush();
    }
    iterator = undefined;
    if (buffer.length > 0) await flush();
    if (streamError !== undefined) throw streamError;
    out.end();
    onRows?.(rows);
    return { rows };
  };
  return run()
    .catch((error: unknown) => {
      iterator?.return?.();
      const wrapped = asOperationError(`Exporting table "${plan.table}" failed`, error);
      out.destroy(wrapped);
      throw wrapped;
    })
    .finally(() => out.off('error', onError));
}

export function findOrganizationRow(db: Database, config: OrganizationsConfig, id: string): OrganizationRow | null {
  return findOrganizationRows(db, config, id, false)[0] ?? null;
}

/**
 * The organization with id `id`; with `orCode`, every row (at most 10) whose id or code equals it.
 * The id is compared by the id column's declared type: an INTEGER column takes only integers (a
 * value it cannot hold is a UsageError, or only looked up as a code), a UUID/GUID column compares uuids
 * without regard to case; other columns compare by SQLite's affinity rules.
 */
export function findOrganizationRows(db: Database, config: OrganizationsConfig, id: string, orCode: boolean): OrganizationRow[] {
  const columns = tableColumns(db, config.table);
  if (columns.length === 0) throw new ConfigError(`The organizations table "${config.table}" does not exist in the shared database.`);
  const column = (name: string) => columns.find((c) => fold(c.name) === fold(name) && c.hidden !== 1n);
  const idInfo = column(config.idColumn);
  if (idInfo === undefined) {
    throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
  }
  const idColumn = idInfo.name;
  const codeColumn = column(config.codeColumn)?.name;
  const byId = idComparison(`t.${q(idColumn)}`, idInfo.type, id);
  const byCode = orCode && codeColumn !== undefined ? `t.${q(codeColumn)} = ${sqliteDialect.literal(id)}` : null;
  if (byId === null && byCode === null) throw invalidOrganizationId(id, { table: config.table, column: idColumn, type: idInfo.type || 'BLOB' });
  const where = [byId, byCode].filter((part): part is string => part !== null);
  const pick = (name: string | undefined) => (name === undefined ? 'NULL' : `t.${q(name)}`);
  const sql =
    `SELECT ${pick(idColumn)}, ${pick(column(config.nameColumn)?.name)}, ${pick(codeColumn)}, ${pick(column('auto_backup_enabled')?.name)}` +
    ` FROM ${q(config.table)} AS t WHERE ${where.join(' OR ')} ORDER BY 1 LIMIT ${orCode ? 10 : 1}`;
  const rows = db.prepare(sql).raw(true).all() as unknown[][];
  return rows.map(([rowId, name, code, autoBackup]) => ({ id: asText(rowId) ?? id, name: asText(name), code: asText(code), autoBackupEnabled: asBoolean(autoBackup) }));
}

/** `<ref> = …` for `id` by the column's declared type, or null when that type cannot hold it. */
function idComparison(ref: string, declared: string, id: string): string | null {
  if (/INT/i.test(declared)) return /^\d+$/.test(id) && BigInt(id) <= INT64_MAX ? `${ref} = ${BigInt(id).toString()}` : null;
  if (/UUID|GUID/i.test(declared)) return UUID_TEXT.test(id) ? `lower(${ref}) = lower(${sqliteDialect.literal(id)})` : null;
  return `${ref} = ${sqliteDialect.literal(id)}`;
}

export function countRows(db: Database, plan: Pick<TablePlan, 'table' | 'where'>): number {
  try {
    return Number(
      db
        .prepare(`SELECT count(*) FROM ${q(plan.table)} AS t WHERE ${plan.where}`)
        .pluck()
        .get(),
    );
  } catch (error) {
    throw asOperationError(`Counting the rows of table "${plan.table}" failed`, error);
  }
}

function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint' || typeof value === 'string') return String(value);
  if (typeof value === 'number') return realText(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return String(value);
}

function asBoolean(value: unknown): boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return ['1', 'true', 't', 'yes', 'y', 'on'].includes(value.trim().toLowerCase());
  return null;
}
