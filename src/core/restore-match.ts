/**
 * Matching an organization archive with today's tables, before the database is touched: which
 * entry fills which planned table, with which columns (schema drift: restore-drift.ts), and which
 * planned tables the archive does not hold (created after the backup: their rows would be removed
 * and not put back).
 */
import type { Manifest, ManifestEntry } from '../archive/manifest.js';
import type { ColumnInfo, TablePlan, ValueEncoding } from '../engines/types.js';
import { ArchiveError, OperationError } from '../errors.js';
import { compareColumn, compareNewColumn } from './restore-drift.js';

const ENCODINGS = new Set<string>(['number', 'string', 'boolean', 'base64', 'json'] satisfies ValueEncoding[]);

/** One accepted difference between the archive's columns and today's (`--dry-run` lists them). */
export interface AcceptedDrift {
  table: string;
  column: string;
  change: string;
}

export interface MatchedArchive {
  entries: Map<string, ManifestEntry>;
  /** Per table in the archive: the columns to insert (today's names and types, the archive's encodings). */
  columns: Map<string, ColumnInfo[]>;
  drift: AcceptedDrift[];
  /** Planned tables the archive has no entry for. */
  absent: string[];
}

/**
 * Every archive table must still be planned (else its rows would have nowhere to go); the
 * organizations table must hold exactly one row (the organization's own: checked again after the
 * inserts); every column must take its archived values exactly. Refusals change nothing.
 */
export function matchArchive(plans: TablePlan[], manifest: Manifest, name: string): MatchedArchive {
  const planned = new Map(plans.map((p) => [p.table, p]));
  const entries = new Map<string, ManifestEntry>();
  const columns = new Map<string, ColumnInfo[]>();
  const drift: AcceptedDrift[] = [];
  const refusals: string[] = [];
  for (const entry of manifest.entries) {
    if (entry.table === undefined) continue;
    const plan = planned.get(entry.table);
    if (!plan) {
      throw new OperationError(
        `${name} holds table "${entry.table}", which is no longer part of this organization's tables in the shared database (dropped, renamed or excluded?). Nothing was changed.`,
      );
    }
    if (entry.rows === undefined || !entry.columns) throw new ArchiveError(`${name}: manifest entry ${entry.path} has no rows or columns.`);
    entries.set(entry.table, entry);
    columns.set(entry.table, matchColumns(manifest.engine, entry, plan, drift, refusals));
  }
  if (refusals.length > 0) {
    throw new OperationError(`${name} does not fit today's tables; restore refused, nothing was changed:\n${refusals.map((r) => `  - ${r}`).join('\n')}`, {
      details: { refused_columns: refusals },
    });
  }
  const organization = plans.find((p) => p.selection.kind === 'organization-row');
  const own = organization ? entries.get(organization.table) : undefined;
  if (organization && own?.rows !== 1) {
    throw new ArchiveError(
      `${name} must hold exactly the organization's own row of "${organization.table}"; it holds ${own?.rows ?? 0}. The archive may have been tampered with; nothing was changed.`,
      { details: { table: organization.table } },
    );
  }
  return { entries, columns, drift, absent: plans.filter((p) => !entries.has(p.table)).map((p) => p.table) };
}

function matchColumns(engine: Manifest['engine'], entry: ManifestEntry, plan: TablePlan, drift: AcceptedDrift[], refusals: string[]): ColumnInfo[] {
  const live = new Map(plan.columns.map((c) => [c.name, c]));
  const archived = new Set(entry.columns!.map((c) => c.name));
  const result: ColumnInfo[] = [];
  for (const column of entry.columns!) {
    const current = live.get(column.name);
    if (!current) {
      refusals.push(`table "${plan.table}" has no column "${column.name}" any more (or it is now generated), but the backup has it`);
      continue;
    }
    if (!ENCODINGS.has(column.encoding)) throw new ArchiveError(`Column "${plan.table}"."${column.name}" has an unknown encoding in the manifest.`);
    const encoding = column.encoding as ValueEncoding;
    const verdict = compareColumn(engine, column, current);
    if (verdict.kind === 'refused') refusals.push(`column "${plan.table}"."${column.name}": ${verdict.reason}`);
    else if (verdict.kind === 'accepted') drift.push({ table: plan.table, column: column.name, change: verdict.note });
    result.push(verdict.kind === 'same' ? current : { ...current, encoding, archivedType: column.type });
  }
  for (const current of plan.columns) {
    if (archived.has(current.name)) continue;
    const verdict = compareNewColumn(current);
    if (verdict.kind === 'refused') refusals.push(`column "${plan.table}"."${current.name}": ${verdict.reason}`);
    else if (verdict.kind === 'accepted') drift.push({ table: plan.table, column: current.name, change: verdict.note });
  }
  return result;
}
