/**
 * Which tables, and which rows of them, make up one organization — a pure function of the schema.
 *
 * - The organizations table contributes the organization's own row.
 * - Every table with the tenant column contributes the rows tagged with the organization.
 * - Every table reachable from those by foreign keys pointing at them (children without the
 *   tenant column, e.g. `sale_transaction_items`) contributes the rows whose parent row is
 *   selected, transitively. A child reachable through several foreign keys is selected when ANY
 *   of its parents is (a row pointing at one of the organization's rows must go with it, or its
 *   restore could not delete that parent).
 *
 * - Every table of `organizations.include` contributes the rows matching its condition (rows the
 *   foreign keys cannot see: polymorphic `record_type`/`record_id` pairs, JSON links), and its
 *   foreign-key children come with it like any other table's. Such tables go after every table
 *   they do not feed (their conditions read the organization's other tables: a restore deletes
 *   them before those and inserts them after).
 *
 * Settings that match nothing in the schema are ConfigErrors (plan-settings.ts); conditions are
 * checked as text here (plan-condition.ts) and against the database before anything is written
 * (plan-check.ts).
 *
 * Cycles: a child is selected only through foreign keys to tables discovered at an EARLIER level
 * of the breadth-first walk. Self-references (`accounts.parent_id → accounts.id`) and back-edges
 * of cycles therefore never select rows; they only matter for insert order, which is
 * parents-first by a topological sort that ignores self-references and breaks remaining cycles
 * deterministically (engines then defer foreign-key checks to commit, scoped to the restore).
 */
import type { OrganizationsConfig } from '../config/schema.js';
import type { ForeignKeyInfo, SchemaInfo, SqlDialect, TableInfo, TablePlan } from '../engines/types.js';
import { ConfigError } from '../errors.js';
import { keyAmongRows } from '../engines/restore-checks.js';
import { bindCondition, checkConditionText, includeSetting } from './plan-condition.js';
import { checkOrganizationSettings } from './plan-settings.js';

export { hasForeignKeyCycle } from '../engines/plan-order.js';

/** The settings the planner reads (`include`, `codeColumn`, `nameColumn` may be left out). */
export type PlanSettings = Pick<OrganizationsConfig, 'table' | 'tenantColumn' | 'idColumn' | 'tables' | 'exclude'> &
  Partial<Pick<OrganizationsConfig, 'include' | 'codeColumn' | 'nameColumn'>>;

interface Discovered {
  info: TableInfo;
  level: number;
  /** 0: the organization's row; 1: reached by the tenant column or foreign keys; 2: by a condition (or from such a table). */
  group: 0 | 1 | 2;
  plan: Omit<TablePlan, 'where'>;
}

export function planOrganizationTables(schema: SchemaInfo, config: PlanSettings, dialect: SqlDialect, organizationId: string): TablePlan[] {
  const byName = new Map(schema.tables.map((table) => [table.name, table]));
  const orgTable = checkOrganizationSettings(schema, config);
  if (config.exclude.includes(config.table)) {
    throw new ConfigError(`organizations.exclude lists the organizations table "${config.table}" itself; it is always part of a backup.`);
  }
  for (const name of config.exclude) {
    if (!byName.has(name)) throw new ConfigError(`organizations.exclude lists "${name}", which is not a table of the shared database.`);
  }
  const excluded = new Set(config.exclude);
  const included = Object.entries(config.include ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, condition] of included) {
    const setting = includeSetting(name);
    if (!byName.has(name)) throw new ConfigError(`${setting}: "${name}" is not a table of the shared database.`, { setting });
    if (name === orgTable.name)
      throw new ConfigError(`${setting}: the organizations table is always part of a backup; include is for tables the foreign keys cannot reach.`, { setting });
    if (excluded.has(name)) throw new ConfigError(`${setting}: "${name}" is also listed in organizations.exclude; choose one.`, { setting });
    checkConditionText(name, condition);
  }
  const hasTenantColumn = (table: TableInfo) => table.columns.some((c) => c.name === config.tenantColumn);

  const discovered = new Map<string, Discovered>();
  const add = (info: TableInfo, level: number, group: Discovered['group'], selection: TablePlan['selection']) =>
    discovered.set(info.name, {
      info,
      level,
      group,
      plan: { table: info.name, columns: info.columns.filter((c) => !c.generated), primaryKey: info.primaryKey, selection, parents: [] },
    });
  /** Breadth-first over foreign keys pointing at discovered tables; returns the last level used. */
  const walk = (from: number, group: Discovered['group']): number => {
    for (let level = from; ; level += 1) {
      const found: Array<[TableInfo, ForeignKeyInfo[]]> = [];
      for (const table of schema.tables) {
        if (discovered.has(table.name) || excluded.has(table.name)) continue;
        const via = table.foreignKeys.filter((fk) => fk.referencedTable !== table.name && discovered.has(fk.referencedTable));
        if (via.length > 0) found.push([table, via]);
      }
      if (found.length === 0) return level - 1;
      for (const [table, via] of found) add(table, level, group, { kind: 'children', via });
    }
  };

  add(orgTable, 0, 0, { kind: 'organization-row', idColumn: config.idColumn });
  for (const table of schema.tables) {
    if (table.name !== orgTable.name && !excluded.has(table.name) && hasTenantColumn(table)) {
      add(table, 0, 1, { kind: 'tenant-column', column: config.tenantColumn });
    }
  }
  const last = walk(1, 1);
  for (const [name, condition] of included) {
    const already = discovered.get(name);
    if (already) {
      const how =
        already.plan.selection.kind === 'tenant-column'
          ? `it has the tenant column "${config.tenantColumn}"`
          : `foreign key ${(already.plan.selection as { via: ForeignKeyInfo[] }).via.map((fk) => `${fk.name} (${fk.columns.join(', ')} → ${fk.referencedTable})`).join(', ')} reaches it`;
      throw new ConfigError(`${includeSetting(name)}: "${name}" is already part of every backup (${how}); include is for tables the foreign keys cannot reach.`, {
        setting: includeSetting(name),
      });
    }
    add(byName.get(name)!, last + 1, 2, { kind: 'condition', condition });
  }
  if (included.length > 0) walk(last + 2, 2);

  let selected = [...discovered.values()];
  if (config.tables !== 'auto') {
    const wanted = new Set(config.tables);
    for (const name of wanted) {
      if (!byName.has(name)) throw new ConfigError(`organizations.tables lists "${name}", which is not a table of the shared database.`);
      if (!discovered.has(name)) {
        throw new ConfigError(
          `organizations.tables lists "${name}", but it has no "${config.tenantColumn}" column and no foreign key leading to an organization's rows${excluded.has(name) ? ' (it is also excluded)' : ''}.`,
        );
      }
    }
    // The organization's row and the tables of organizations.include are always taken.
    selected = selected.filter((d) => d.group === 0 || d.plan.selection.kind === 'condition' || wanted.has(d.info.name));
    const kept = new Set(selected.map((d) => d.info.name));
    for (const d of selected) {
      if (d.plan.selection.kind === 'children') {
        // A child whose every parent was narrowed away would select through tables not backed up.
        const via = d.plan.selection.via.filter((fk) => kept.has(fk.referencedTable));
        if (via.length === 0) {
          throw new ConfigError(
            `organizations.tables lists "${d.info.name}" without any of the tables it is reached through (${d.plan.selection.via.map((fk) => fk.referencedTable).join(', ')}).`,
          );
        }
        d.plan.selection = { kind: 'children', via };
      }
    }
  }

  const selectedNames = new Set(selected.map((d) => d.info.name));
  for (const d of selected) {
    d.plan.parents = d.info.foreignKeys.filter((fk) => selectedNames.has(fk.referencedTable) && fk.referencedTable !== d.info.name);
  }
  const plans = new Map(selected.map((d) => [d.info.name, d.plan]));
  const idLiteral = dialect.literal(
    organizationId,
    orgTable.columns.find((c) => c.name === config.idColumn),
  );
  const context: WhereContext = { plans, dialect, organizationId, idLiteral };
  return orderParentsFirst(selected).map((d) => ({ ...d.plan, where: buildWhere(context, d.info.name, 't', 0) }));
}

interface WhereContext {
  plans: Map<string, Omit<TablePlan, 'where'>>;
  dialect: SqlDialect;
  organizationId: string;
  /** The organization id as the organizations table's id column compares it (what `:org` becomes). */
  idLiteral: string;
}

function buildWhere(context: WhereContext, name: string, alias: string, depth: number): string {
  const { plans, dialect, organizationId } = context;
  const plan = plans.get(name)!;
  const q = dialect.quoteIdentifier;
  const selection = plan.selection;
  const compare = (column: string) =>
    `${alias}.${q(column)} = ${dialect.literal(
      organizationId,
      plan.columns.find((c) => c.name === column),
    )}`;
  if (selection.kind === 'organization-row') return compare(selection.idColumn);
  if (selection.kind === 'tenant-column') return compare(selection.column);
  if (selection.kind === 'condition') {
    // Conditions name the table's columns bare or as `t.<column>`: they only ever stand where the
    // table is aliased `t` (children reach them through referencesSelected's subquery).
    if (alias !== 't') throw new Error(`internal: the condition of "${name}" placed under alias ${alias}`);
    return `(${bindCondition(name, selection.condition, context.idLiteral)})`;
  }
  const parentAlias = `p${depth + 1}`;
  const branches = selection.via.map((fk) => {
    const parent = plans.get(fk.referencedTable)!;
    if (parent.selection.kind === 'condition') {
      return referencesSelected(dialect, alias, fk.columns, fk.referencedTable, fk.referencedColumns, buildWhere(context, fk.referencedTable, 't', 0));
    }
    const join = fk.columns.map((column, i) => `${parentAlias}.${q(fk.referencedColumns[i]!)} = ${alias}.${q(column)}`).join(' AND ');
    const parentWhere = buildWhere(context, fk.referencedTable, parentAlias, depth + 1);
    return `EXISTS (SELECT 1 FROM ${q(fk.referencedTable)} ${parentAlias} WHERE ${join} AND ${parentWhere})`;
  });
  return branches.length === 1 ? branches[0]! : `(${branches.join(' OR ')})`;
}

/**
 * `<alias>.<columns>` is one of the key values of `parentTable`'s rows matching `parentWhere`
 * (a condition on alias `t`, which inside the subquery names the parent: an inner alias hides an
 * outer one of the same name in every engine).
 */
export function referencesSelected(dialect: SqlDialect, alias: string, columns: string[], parentTable: string, parentColumns: string[], parentWhere: string): string {
  const q = dialect.quoteIdentifier;
  return keyAmongRows(
    columns.map((c) => `${alias}.${q(c)}`),
    q(parentTable),
    parentColumns.map(q),
    parentWhere,
  );
}

/** Kahn's algorithm over parent edges; on a cycle, the lowest-ranked remaining table goes next. */
function orderParentsFirst(selected: Discovered[]): Discovered[] {
  const remaining = new Map(selected.map((d) => [d.info.name, d]));
  const ordered: Discovered[] = [];
  // The organization's own row first, tables found by a condition last (their conditions read the
  // others), then by discovery level and name: stable, readable plans.
  const rank = (a: Discovered, b: Discovered) => a.group - b.group || a.level - b.level || (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0);
  while (remaining.size > 0) {
    const ready = [...remaining.values()].filter((d) => d.plan.parents.every((fk) => !remaining.has(fk.referencedTable))).sort(rank);
    const next = ready[0] ?? [...remaining.values()].sort(rank)[0]!;
    ordered.push(next);
    remaining.delete(next.info.name);
  }
  return ordered;
}
