/**
 * Settings of the `organizations` section that must match the schema: a setting that matches
 * nothing is a ConfigError naming the setting and what the schema offers instead, never a quiet
 * default (a `tenantColumn` no table has would otherwise back up through foreign keys alone; a
 * misspelt `codeColumn` would silently name files by id).
 */
import type { OrganizationsConfig } from '../config/schema.js';
import type { SchemaInfo, TableInfo } from '../engines/types.js';
import { ConfigError } from '../errors.js';

/** The defaults of `codeColumn` and `nameColumn` may be absent from the table (files are then named by id). */
const OPTIONAL_COLUMN_DEFAULTS = { codeColumn: 'code', nameColumn: 'name' } as const;

/** Words of table names that usually hold tenants. */
const TENANT_WORDS = /organi[sz]ation|compan|tenant|team|workspace|account|customer|client|firm|business|org/i;

export type SettingsToCheck = Pick<OrganizationsConfig, 'table' | 'tenantColumn' | 'idColumn'> & Partial<Pick<OrganizationsConfig, 'codeColumn' | 'nameColumn'>>;

/** The organizations table, checked with every setting that names one of its columns or a tenant column. */
export function checkOrganizationSettings(schema: SchemaInfo, config: SettingsToCheck): TableInfo {
  const orgTable = schema.tables.find((table) => table.name === config.table);
  if (!orgTable) {
    const like = tablesLikeOrganizations(schema, config.table);
    throw new ConfigError(
      `organizations.table is "${config.table}", but the shared database has no such table.` +
        (like.length > 0
          ? ` Tables that look like it: ${like.join(', ')}. Set organizations.table to the table with one row per organization.`
          : ' Set organizations.table to the table with one row per organization.'),
      { setting: 'organizations.table', candidates: like },
    );
  }
  const columnNames = orgTable.columns.map((c) => c.name);
  if (!columnNames.includes(config.idColumn)) {
    throw new ConfigError(`The organizations table "${config.table}" has no id column "${config.idColumn}" (organizations.idColumn). Its columns: ${columnNames.join(', ')}.`, {
      setting: 'organizations.idColumn',
      columns: columnNames,
    });
  }
  for (const setting of ['codeColumn', 'nameColumn'] as const) {
    const value = config[setting];
    if (value === undefined || value === OPTIONAL_COLUMN_DEFAULTS[setting] || columnNames.includes(value)) continue;
    throw new ConfigError(`organizations.${setting} is "${value}", but the organizations table "${config.table}" has no such column. Its columns: ${columnNames.join(', ')}.`, {
      setting: `organizations.${setting}`,
      columns: columnNames,
    });
  }
  const tagged = schema.tables.some((table) => table.name !== orgTable.name && table.columns.some((c) => c.name === config.tenantColumn));
  if (!tagged) {
    const candidates = tenantColumnCandidates(schema, orgTable);
    const offer =
      candidates.length > 0
        ? ` Columns that reference "${orgTable.name}": ${candidates.map((c) => `${c.column} (${c.tables} table${c.tables === 1 ? '' : 's'})`).join(', ')}. Set organizations.tenantColumn to the one that tags rows with their organization.`
        : ` No column named like *_id references "${orgTable.name}" through a foreign key either: set organizations.tenantColumn to the column that tags rows with their organization.`;
    throw new ConfigError(`organizations.tenantColumn is "${config.tenantColumn}", but no table of the shared database has such a column.${offer}`, {
      setting: 'organizations.tenantColumn',
      candidates: candidates.map((c) => c.column),
    });
  }
  return orgTable;
}

/**
 * Columns named like `*_id` that reference the organizations table through a single-column
 * foreign key, most used first (how many tables have each).
 */
export function tenantColumnCandidates(schema: SchemaInfo, orgTable: TableInfo): Array<{ column: string; tables: number }> {
  const counts = new Map<string, number>();
  for (const table of schema.tables) {
    if (table.name === orgTable.name) continue;
    const seen = new Set<string>();
    for (const fk of table.foreignKeys) {
      const column = fk.columns[0]!;
      if (fk.referencedTable === orgTable.name && fk.columns.length === 1 && /_id$/i.test(column) && !seen.has(column)) {
        seen.add(column);
        counts.set(column, (counts.get(column) ?? 0) + 1);
      }
    }
  }
  return [...counts].map(([column, tables]) => ({ column, tables })).sort((a, b) => b.tables - a.tables || (a.column < b.column ? -1 : 1));
}

/**
 * Tables that could be the organizations table: names close to the configured one or made of
 * tenant words (`companies`, `tenants`, `accounts`, …), the most referenced by foreign keys
 * first. At most five.
 */
export function tablesLikeOrganizations(schema: SchemaInfo, configured: string): string[] {
  const references = new Map<string, number>();
  for (const table of schema.tables) {
    for (const fk of table.foreignKeys) {
      if (fk.referencedTable !== table.name) references.set(fk.referencedTable, (references.get(fk.referencedTable) ?? 0) + 1);
    }
  }
  const close = (name: string) => editDistance(name.toLowerCase(), configured.toLowerCase()) <= 3;
  return schema.tables
    .map((t) => t.name)
    .filter((name) => close(name) || TENANT_WORDS.test(name))
    .sort((a, b) => Number(close(b)) - Number(close(a)) || (references.get(b) ?? 0) - (references.get(a) ?? 0) || (a < b ? -1 : 1))
    .slice(0, 5);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
