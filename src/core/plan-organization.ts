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
 * Cycles: a child is selected only through foreign keys to tables discovered at an EARLIER level
 * of the breadth-first walk. Self-references (`accounts.parent_id → accounts.id`) and back-edges
 * of cycles therefore never select rows; they only matter for insert order, which is
 * parents-first by a topological sort that ignores self-references and breaks remaining cycles
 * deterministically (engines then defer foreign-key checks to commit, scoped to the restore).
 */
import type { OrganizationsConfig } from '../config/schema.js';
import type { ForeignKeyInfo, SchemaInfo, SqlDialect, TableInfo, TablePlan } from '../engines/types.js';
import { ConfigError } from '../errors.js';

export { hasForeignKeyCycle } from '../engines/plan-order.js';

interface Discovered {
  info: TableInfo;
  level: number;
  plan: Omit<TablePlan, 'where'>;
}

export function planOrganizationTables(
  schema: SchemaInfo,
  config: Pick<OrganizationsConfig, 'table' | 'tenantColumn' | 'idColumn' | 'tables' | 'exclude'>,
  dialect: SqlDialect,
  organizationId: string,
): TablePlan[] {
  const byName = new Map(schema.tables.map((table) => [table.name, table]));
  const orgTable = byName.get(config.table);
  if (!orgTable) throw new ConfigError(`The organizations table "${config.table}" does not exist in the shared database.`);
  if (!orgTable.columns.some((c) => c.name === config.idColumn)) {
    throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn).`);
  }
  if (config.exclude.includes(config.table)) {
    throw new ConfigError(`organizations.exclude lists the organizations table "${config.table}" itself; it is always part of a backup.`);
  }
  for (const name of config.exclude) {
    if (!byName.has(name)) throw new ConfigError(`organizations.exclude lists "${name}", which is not a table of the shared database.`);
  }
  const excluded = new Set(config.exclude);
  const hasTenantColumn = (table: TableInfo) => table.columns.some((c) => c.name === config.tenantColumn);

  const discovered = new Map<string, Discovered>();
  const add = (info: TableInfo, level: number, selection: TablePlan['selection']) =>
    discovered.set(info.name, {
      info,
      level,
      plan: { table: info.name, columns: info.columns.filter((c) => !c.generated), primaryKey: info.primaryKey, selection, parents: [] },
    });

  add(orgTable, 0, { kind: 'organization-row', idColumn: config.idColumn });
  for (const table of schema.tables) {
    if (table.name !== orgTable.name && !excluded.has(table.name) && hasTenantColumn(table)) {
      add(table, 0, { kind: 'tenant-column', column: config.tenantColumn });
    }
  }
  // Breadth-first over foreign keys pointing at discovered tables.
  for (let level = 1; ; level += 1) {
    const found: Array<[TableInfo, ForeignKeyInfo[]]> = [];
    for (const table of schema.tables) {
      if (discovered.has(table.name) || excluded.has(table.name)) continue;
      const via = table.foreignKeys.filter((fk) => fk.referencedTable !== table.name && discovered.has(fk.referencedTable));
      if (via.length > 0) found.push([table, via]);
    }
    if (found.length === 0) break;
    for (const [table, via] of found) add(table, level, { kind: 'children', via });
  }

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
    selected = selected.filter((d) => d.info.name === orgTable.name || wanted.has(d.info.name));
    for (const d of selected) {
      if (d.plan.selection.kind === 'children') {
        // A child whose every parent was narrowed away would select through tables not backed up.
        const via = d.plan.selection.via.filter((fk) => wanted.has(fk.referencedTable) || fk.referencedTable === orgTable.name);
        if (via.length === 0) {
          throw new ConfigError(`organizations.tables lists "${d.info.name}" without any of the tables it is reached through (${d.plan.selection.via.map((fk) => fk.referencedTable).join(', ')}).`);
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
  const whereOf = (name: string, alias: string, depth: number): string => buildWhere(plans, name, alias, depth, dialect, organizationId);
  return orderParentsFirst(selected).map((d) => ({ ...d.plan, where: whereOf(d.info.name, 't', 0) }));
}

function buildWhere(
  plans: Map<string, Omit<TablePlan, 'where'>>,
  name: string,
  alias: string,
  depth: number,
  dialect: SqlDialect,
  organizationId: string,
): string {
  const plan = plans.get(name)!;
  const q = dialect.quoteIdentifier;
  const selection = plan.selection;
  const compare = (column: string) => `${alias}.${q(column)} = ${dialect.literal(organizationId, plan.columns.find((c) => c.name === column))}`;
  if (selection.kind === 'organization-row') return compare(selection.idColumn);
  if (selection.kind === 'tenant-column') return compare(selection.column);
  const parentAlias = `p${depth + 1}`;
  const branches = selection.via.map((fk) => {
    const join = fk.columns.map((column, i) => `${parentAlias}.${q(fk.referencedColumns[i]!)} = ${alias}.${q(column)}`).join(' AND ');
    const parentWhere = buildWhere(plans, fk.referencedTable, parentAlias, depth + 1, dialect, organizationId);
    return `EXISTS (SELECT 1 FROM ${q(fk.referencedTable)} ${parentAlias} WHERE ${join} AND ${parentWhere})`;
  });
  return branches.length === 1 ? branches[0]! : `(${branches.join(' OR ')})`;
}

/** Kahn's algorithm over parent edges; on a cycle, the lowest-ranked remaining table goes next. */
function orderParentsFirst(selected: Discovered[]): Discovered[] {
  const remaining = new Map(selected.map((d) => [d.info.name, d]));
  const ordered: Discovered[] = [];
  // The organization's own row first, then by discovery level and name: stable, readable plans.
  const orgFirst = (d: Discovered) => (d.plan.selection.kind === 'organization-row' ? 0 : 1);
  const rank = (a: Discovered, b: Discovered) =>
    orgFirst(a) - orgFirst(b) || a.level - b.level || (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0);
  while (remaining.size > 0) {
    const ready = [...remaining.values()].filter((d) => d.plan.parents.every((fk) => !remaining.has(fk.referencedTable))).sort(rank);
    const next = ready[0] ?? [...remaining.values()].sort(rank)[0]!;
    ordered.push(next);
    remaining.delete(next.info.name);
  }
  return ordered;
}
