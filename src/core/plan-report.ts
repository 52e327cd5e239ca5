/**
 * `plan --org <id|code>`: what a backup of one organization would take, and what it would not,
 * without writing anything (no archive, no ledger record, no lock: a read-only snapshot).
 *
 * - Tables taken, each with why (the organization's row, the tenant column, the foreign-key path
 *   to a tagged table, or a condition of `organizations.include`) and its rows — every count in
 *   one snapshot, the same the backup would read.
 * - Tables left out that still reach the organization (plan-reach.ts), with their rows.
 * - The warnings a backup would give (excluded tables referencing planned ones).
 * Conditions are checked against the database first, as a backup checks them.
 */
import type { EngineName, ForeignKeyInfo, TablePlan } from '../engines/types.js';
import { ENGINE_OF_CLIENT } from '../engines/registry.js';
import { NotFoundError } from '../errors.js';
import type { Deps } from './context.js';
import { abortSessionOn } from './organization-config.js';
import { withOrganizationsSession } from './organizations.js';
import { assertExactId, checkConditions } from './plan-check.js';
import { planOrganizationTables } from './plan-organization.js';
import { excludedReferenceWarnings, findReaches, type ReachKind } from './plan-reach.js';

export interface PlanReportOptions {
  organizationId: string;
  /** Aborting ends the session's connections. */
  signal?: AbortSignal;
}

export type TakenBecause = 'organization-row' | 'tenant-column' | 'foreign-key' | 'condition';

export interface PlannedTable {
  table: string;
  rows: number;
  because: TakenBecause;
  /** Why, in words: the tenant column, the foreign-key path, or the condition. */
  detail: string;
  /** For `foreign-key`: the foreign keys followed up to a table tagged with the organization (first of each table's). */
  path: PathStep[];
}

export interface PathStep {
  table: string;
  foreign_key: string;
  columns: string[];
  referenced_table: string;
  referenced_columns: string[];
}

export interface LeftOutTable {
  kind: ReachKind;
  table: string;
  columns: string[];
  foreign_key: string | null;
  related_table: string | null;
  /** Rows concerned for this organization (all organizations for `null-reference`); null when not countable. */
  rows: number | null;
  note: string;
}

export interface OrganizationPlanReport {
  organization: { id: string; name: string | null; code: string | null };
  engine: EngineName;
  tables: PlannedTable[];
  total_rows: number;
  left_out: LeftOutTable[];
  warnings: string[];
}

export async function planOrganizationReport(deps: Pick<Deps, 'config' | 'progress'>, options: PlanReportOptions): Promise<OrganizationPlanReport> {
  options.signal?.throwIfAborted();
  try {
    return await withOrganizationsSession(deps, async (session, config) => {
      const stopAborting = abortSessionOn(session, options.signal, 'Planning');
      try {
        deps.progress.update('Reading the schema…');
        const schema = await session.introspect();
        const plans = planOrganizationTables(schema, config, session.dialect, options.organizationId);
        const reaches = findReaches(schema, config, plans, session.dialect, options.organizationId);
        return await session.withSnapshot(async (reader) => {
          const found = await reader.findOrganization(config, options.organizationId);
          if (!found) throw NotFoundError.organization(options.organizationId, config.table);
          assertExactId(found, options.organizationId, config.table);
          await checkConditions(reader, plans);
          const tables: PlannedTable[] = [];
          for (const plan of plans) {
            deps.progress.update(`Counting the rows of ${plan.table}…`);
            tables.push({ table: plan.table, rows: await reader.countRows(plan), ...explain(plan, plans) });
          }
          const leftOut: LeftOutTable[] = [];
          for (const reach of reaches) {
            deps.progress.update(`Counting the rows of ${reach.table}…`);
            const rows = reach.count ? await reader.countRows(reach.count) : null;
            // NULL references matter only where there are some.
            if (reach.kind === 'null-reference' && rows === 0) continue;
            leftOut.push({
              kind: reach.kind,
              table: reach.table,
              columns: reach.columns,
              foreign_key: reach.foreign_key,
              related_table: reach.related_table,
              rows,
              note: reach.note,
            });
          }
          return {
            organization: { id: found.id, name: found.name, code: found.code },
            engine: ENGINE_OF_CLIENT[config.client],
            tables,
            total_rows: tables.reduce((sum, t) => sum + t.rows, 0),
            left_out: leftOut,
            warnings: excludedReferenceWarnings(schema, config, plans),
          };
        });
      } finally {
        stopAborting();
      }
    });
  } finally {
    deps.progress.stop();
  }
}

function explain(plan: TablePlan, plans: TablePlan[]): Omit<PlannedTable, 'table' | 'rows'> {
  const selection = plan.selection;
  switch (selection.kind) {
    case 'organization-row':
      return { because: 'organization-row', detail: `the organization's own row (by ${selection.idColumn})`, path: [] };
    case 'tenant-column':
      return { because: 'tenant-column', detail: `tenant column ${selection.column}`, path: [] };
    case 'condition':
      return { because: 'condition', detail: `organizations.include: ${selection.condition}`, path: [] };
    case 'children': {
      const path = pathUp(plan, plans);
      const others = selection.via.slice(1).map((fk) => `${fk.columns.join(', ')} → ${fk.referencedTable}`);
      return { because: 'foreign-key', detail: `${describePath(path, plans)}${others.length > 0 ? ` (or ${others.join(', ')})` : ''}`, path };
    }
  }
}

/** The first foreign key of each table, up to a table with the tenant column, the organization's row or a condition. */
function pathUp(plan: TablePlan, plans: TablePlan[]): PathStep[] {
  const byName = new Map(plans.map((p) => [p.table, p]));
  const steps: PathStep[] = [];
  const seen = new Set<string>();
  for (let current: TablePlan | undefined = plan; current && current.selection.kind === 'children' && !seen.has(current.table);) {
    seen.add(current.table);
    const fk: ForeignKeyInfo = current.selection.via[0]!;
    steps.push({ table: current.table, foreign_key: fk.name, columns: fk.columns, referenced_table: fk.referencedTable, referenced_columns: fk.referencedColumns });
    current = byName.get(fk.referencedTable);
  }
  return steps;
}

/** `taxes.item_id → items.sale_id → sales.organization_id`: the path in words, ending at what ties it to the organization. */
function describePath(path: PathStep[], plans: TablePlan[]): string {
  const first = path[0]!;
  let text = `${first.table}.${first.columns.join(', ')}`;
  for (const [i, current] of path.entries()) {
    const next = path[i + 1];
    const root = plans.find((p) => p.table === current.referenced_table);
    const tail = next
      ? next.columns.join(', ')
      : root?.selection.kind === 'tenant-column'
        ? root.selection.column
        : root?.selection.kind === 'condition'
          ? '(organizations.include)'
          : current.referenced_columns.join(', ');
    text += ` → ${current.referenced_table}${tail.startsWith('(') ? ` ${tail}` : `.${tail}`}`;
  }
  return text;
}
