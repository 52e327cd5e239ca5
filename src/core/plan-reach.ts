/**
 * What a plan leaves out although it still touches the organization — a pure function of the
 * schema and the plan, each item with the condition that counts its rows (alias `t`):
 *
 * - `excluded-reference` / `outside-reference`: a table outside the plan (listed in
 *   `organizations.exclude`, or left out of `organizations.tables`) with a foreign key into a
 *   planned table. Its rows pointing at the organization's rows are not in the backup, and a
 *   restore cannot remove those rows while they point at them (or, ON DELETE CASCADE, removes
 *   them with the organization's rows).
 * - `shared-parent`: a table outside the plan that planned rows reference (`memberships.user_id →
 *   users`): the rows referenced are not in the backup, and a restore needs them to exist.
 * - `tenant-like-column`: a table outside the plan with a column named like a tenant column
 *   (`company_id`, the configured tenant column, columns that elsewhere reference the
 *   organizations table) but no foreign key, so nothing ties its rows to the organization.
 * - `null-reference`: rows of a planned table whose tenant column, or every foreign key it is
 *   reached through, is NULL: no organization's backup holds them.
 */
import type { OrganizationsConfig } from '../config/schema.js';
import type { ColumnInfo, SchemaInfo, SqlDialect, TableInfo, TablePlan } from '../engines/types.js';
import { referencesSelected } from './plan-organization.js';
import { tenantColumnCandidates } from './plan-settings.js';

export type ReachKind = 'excluded-reference' | 'outside-reference' | 'shared-parent' | 'tenant-like-column' | 'null-reference';

export interface Reach {
  kind: ReachKind;
  /** The table whose rows the backup does not hold. */
  table: string;
  /** The columns that make the link (the foreign key's, the tenant-like column, or those that are NULL). */
  columns: string[];
  foreign_key: string | null;
  /** The planned table on the other side of the link, if any. */
  related_table: string | null;
  note: string;
  /** Counts the rows concerned (alias `t`), or null when they cannot be counted safely. */
  count: { table: string; where: string } | null;
}

type ReachSettings = Pick<OrganizationsConfig, 'table' | 'tenantColumn' | 'idColumn' | 'exclude'>;

/** Generic names of tenant columns, beside the configured one and those found by foreign keys. */
const TENANT_LIKE = ['organization_id', 'organisation_id', 'org_id', 'tenant_id', 'company_id', 'workspace_id', 'team_id'];

export function findReaches(schema: SchemaInfo, config: ReachSettings, plans: TablePlan[], dialect: SqlDialect, organizationId: string): Reach[] {
  const q = dialect.quoteIdentifier;
  const planned = new Map(plans.map((p) => [p.table, p]));
  const excluded = new Set(config.exclude);
  const orgTable = schema.tables.find((t) => t.name === config.table)!;
  const idColumn = orgTable.columns.find((c) => c.name === config.idColumn)!;
  const reaches: Reach[] = [];
  const tenantLike = new Set([config.tenantColumn, `${singular(orgTable.name)}_id`, ...tenantColumnCandidates(schema, orgTable).map((c) => c.column), ...TENANT_LIKE]);

  for (const table of schema.tables) {
    if (planned.has(table.name)) continue;
    for (const fk of table.foreignKeys) {
      const parent = planned.get(fk.referencedTable);
      if (!parent) continue;
      const isExcluded = excluded.has(table.name);
      reaches.push({
        kind: isExcluded ? 'excluded-reference' : 'outside-reference',
        table: table.name,
        columns: fk.columns,
        foreign_key: fk.name,
        related_table: parent.table,
        note:
          `references the organization's rows of "${parent.table}" through foreign key ${fk.name} (${fk.columns.join(', ')}), ` +
          `but is ${isExcluded ? 'listed in organizations.exclude' : 'not in organizations.tables'}: a restore cannot remove those rows while these point at them`,
        count: { table: table.name, where: referencesSelected(dialect, 't', fk.columns, parent.table, fk.referencedColumns, parent.where) },
      });
    }
    const linked = new Set(table.foreignKeys.flatMap((fk) => fk.columns));
    for (const column of table.columns) {
      if (!tenantLike.has(column.name) || linked.has(column.name) || table.name === orgTable.name) continue;
      const comparable = sameType(column, idColumn);
      reaches.push({
        kind: 'tenant-like-column',
        table: table.name,
        columns: [column.name],
        foreign_key: null,
        related_table: null,
        note:
          excluded.has(table.name) && column.name === config.tenantColumn
            ? `has the tenant column "${column.name}" but is listed in organizations.exclude`
            : `column "${column.name}" looks like a tenant column but has no foreign key to "${orgTable.name}"${comparable ? '' : ` (type ${column.type}, not ${idColumn.type}: rows not counted)`}`,
        count: comparable ? { table: table.name, where: `t.${q(column.name)} = ${dialect.literal(organizationId, column)}` } : null,
      });
    }
  }

  for (const plan of plans) {
    const info = schema.tables.find((t) => t.name === plan.table)!;
    for (const fk of info.foreignKeys) {
      if (planned.has(fk.referencedTable)) continue;
      reaches.push({
        kind: 'shared-parent',
        table: fk.referencedTable,
        columns: fk.referencedColumns,
        foreign_key: fk.name,
        related_table: plan.table,
        note: `referenced by "${plan.table}" through foreign key ${fk.name} (${fk.columns.join(', ')}); not in the backup: a restore needs these rows to exist`,
        count: { table: fk.referencedTable, where: referencesSelected(dialect, 't', fk.referencedColumns, plan.table, fk.columns, plan.where) },
      });
    }
    const nulls = nullSelection(info, plan);
    if (nulls) {
      reaches.push({
        kind: 'null-reference',
        table: plan.table,
        columns: nulls.columns,
        foreign_key: nulls.foreignKeys.length > 0 ? nulls.foreignKeys.join(', ') : null,
        related_table: null,
        note: `rows whose ${nulls.columns.join(' / ')} ${nulls.columns.length === 1 ? 'is' : 'are'} NULL belong to no organization: no organization's backup holds them`,
        count: { table: plan.table, where: nulls.where.map((part) => `(${part.map((c) => `t.${q(c)} IS NULL`).join(' OR ')})`).join(' AND ') },
      });
    }
  }
  return reaches;
}

/** The rows of a planned table that its tenant column or its foreign keys cannot tie to any organization. */
function nullSelection(info: TableInfo, plan: TablePlan): { columns: string[]; foreignKeys: string[]; where: string[][] } | null {
  const nullable = (name: string) => info.columns.find((c) => c.name === name)?.nullable ?? false;
  if (plan.selection.kind === 'tenant-column') {
    const column = plan.selection.column;
    return nullable(column) ? { columns: [column], foreignKeys: [], where: [[column]] } : null;
  }
  if (plan.selection.kind !== 'children') return null;
  const via = plan.selection.via;
  // A foreign key with any NULL column references nothing (MATCH SIMPLE): the row is reached
  // through none of them when each has a NULL column.
  if (!via.every((fk) => fk.columns.some(nullable))) return null;
  return {
    columns: [...new Set(via.flatMap((fk) => fk.columns.filter(nullable)))],
    foreignKeys: via.map((fk) => fk.name),
    where: via.map((fk) => fk.columns.filter(nullable)),
  };
}

/** The foreign keys of excluded tables into planned tables, as warnings a backup reports. */
export function excludedReferenceWarnings(schema: SchemaInfo, config: Pick<OrganizationsConfig, 'exclude'>, plans: TablePlan[]): string[] {
  const planned = new Set(plans.map((p) => p.table));
  const warnings: string[] = [];
  for (const name of config.exclude) {
    const table = schema.tables.find((t) => t.name === name);
    for (const fk of table?.foreignKeys ?? []) {
      if (!planned.has(fk.referencedTable)) continue;
      warnings.push(
        `organizations.exclude lists "${name}", whose foreign key ${fk.name} (${fk.columns.join(', ')}) references "${fk.referencedTable}", which is backed up: ` +
          `its rows are not in the backup, and a restore cannot remove the organization's rows of "${fk.referencedTable}" while rows of "${name}" point at them ` +
          `(with ON DELETE CASCADE the database would remove those rows of "${name}"). Back "${name}" up with the rest (remove it from organizations.exclude) unless that is intended.`,
      );
    }
  }
  return warnings;
}

function singular(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith('ies')) return `${lower.slice(0, -3)}y`;
  if (/(ss|x|ch|sh)es$/.test(lower)) return lower.slice(0, -2);
  return lower.endsWith('s') ? lower.slice(0, -1) : lower;
}

/** Same base type (length, precision and `unsigned` aside): a comparison cannot fail on a cast. */
function sameType(a: ColumnInfo, b: ColumnInfo): boolean {
  const base = (column: ColumnInfo) =>
    column.type
      .toLowerCase()
      .replace(/\(.*?\)/g, '')
      .replace(/\bunsigned\b/, '')
      .trim();
  return base(a) === base(b);
}
