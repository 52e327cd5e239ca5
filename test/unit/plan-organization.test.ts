import { describe, expect, it } from 'vitest';
import { hasForeignKeyCycle, planOrganizationTables } from '../../src/core/plan-organization.js';
import type { SchemaInfo } from '../../src/engines/types.js';
import { col, dialect, fk, table } from '../helpers/plan-schema.js';
import { ConfigError } from '../../src/errors.js';

const billing: SchemaInfo = {
  tables: [
    table('sale_transaction_item_taxes', ['id', 'item_id'], [fk(['item_id'], 'sale_transaction_items')]),
    table('sale_transaction_items', ['id', 'sale_transaction_id', 'item_id'], [fk(['sale_transaction_id'], 'sale_transactions'), fk(['item_id'], 'items')]),
    table('sale_transactions', ['id', 'organization_id', 'customer_id', 'currency'], [fk(['customer_id'], 'customers'), fk(['currency'], 'currencies', ['code'])]),
    table('customers', ['id', 'organization_id'], [fk(['organization_id'], 'organizations')]),
    table('items', ['id', 'organization_id']),
    table('accounts', ['id', 'organization_id', 'parent_id'], [fk(['parent_id'], 'accounts')]),
    table('organizations', ['id', 'name', 'code']),
    table('currencies', ['code']),
    table('organization_settings', ['org_id', 'key'], [fk(['org_id'], 'organizations')], ['org_id', 'key']),
    table('audit log', ['id', 'organization_id']),
  ],
};
const config = { table: 'organizations', tenantColumn: 'organization_id', idColumn: 'id', tables: 'auto' as const, exclude: [] as string[] };

describe('planOrganizationTables', () => {
  it('takes the organization row, tagged tables and their foreign-key children, parents first', () => {
    const plans = planOrganizationTables(billing, config, dialect, '42');
    const names = plans.map((p) => p.table);
    expect(names).not.toContain('currencies');
    expect(new Set(names)).toEqual(
      new Set([
        'organizations',
        'customers',
        'items',
        'sale_transactions',
        'sale_transaction_items',
        'sale_transaction_item_taxes',
        'accounts',
        'organization_settings',
        'audit log',
      ]),
    );
    const position = (name: string) => names.indexOf(name);
    expect(position('organizations')).toBe(0);
    expect(position('customers')).toBeLessThan(position('sale_transactions'));
    expect(position('sale_transactions')).toBeLessThan(position('sale_transaction_items'));
    expect(position('items')).toBeLessThan(position('sale_transaction_items'));
    expect(position('sale_transaction_items')).toBeLessThan(position('sale_transaction_item_taxes'));
    expect(hasForeignKeyCycle(plans)).toBe(false);
  });

  it('selects rows by id, tenant column, or through any selected parent', () => {
    const plans = new Map(planOrganizationTables(billing, config, dialect, '42').map((p) => [p.table, p]));
    expect(plans.get('organizations')!.where).toBe(`t."id" = '42'`);
    expect(plans.get('audit log')!.where).toBe(`t."organization_id" = '42'`);
    expect(plans.get('organization_settings')!.where).toBe(`EXISTS (SELECT 1 FROM "organizations" p1 WHERE p1."id" = t."org_id" AND p1."id" = '42')`);
    expect(plans.get('sale_transaction_items')!.where).toBe(
      `(EXISTS (SELECT 1 FROM "sale_transactions" p1 WHERE p1."id" = t."sale_transaction_id" AND p1."organization_id" = '42') OR ` +
        `EXISTS (SELECT 1 FROM "items" p1 WHERE p1."id" = t."item_id" AND p1."organization_id" = '42'))`,
    );
    expect(plans.get('sale_transaction_item_taxes')!.where).toContain(
      `EXISTS (SELECT 1 FROM "sale_transaction_items" p1 WHERE p1."id" = t."item_id" AND (EXISTS (SELECT 1 FROM "sale_transactions" p2 WHERE p2."id" = p1."sale_transaction_id"`,
    );
    // A tagged table with a self-reference is selected by its tag alone.
    expect(plans.get('accounts')!.where).toBe(`t."organization_id" = '42'`);
  });

  it('handles cycles between child tables without looping, selecting only through earlier tables', () => {
    const schema: SchemaInfo = {
      tables: [
        table('organizations', ['id']),
        table('orders', ['id', 'organization_id']),
        table('a', ['id', 'order_id', 'b_id'], [fk(['order_id'], 'orders'), fk(['b_id'], 'b')]),
        table('b', ['id', 'a_id'], [fk(['a_id'], 'a')]),
        table('node', ['id', 'parent_id', 'order_id'], [fk(['parent_id'], 'node'), fk(['order_id'], 'orders')]),
      ],
    };
    const plans = planOrganizationTables(schema, config, dialect, '1');
    const byName = new Map(plans.map((p) => [p.table, p]));
    expect(byName.get('b')!.selection).toMatchObject({ kind: 'children', via: [{ referencedTable: 'a' }] });
    expect(byName.get('a')!.selection).toMatchObject({ kind: 'children', via: [{ referencedTable: 'orders' }] });
    expect(byName.get('node')!.selection).toMatchObject({ kind: 'children', via: [{ referencedTable: 'orders' }] });
    expect(byName.get('node')!.parents.map((p) => p.referencedTable)).toEqual(['orders']);
    expect(hasForeignKeyCycle(plans)).toBe(true);
  });

  it('narrows to listed tables, applies exclude, and explains bad lists', () => {
    const narrowed = planOrganizationTables(billing, { ...config, tables: ['customers', 'sale_transactions'] }, dialect, '1');
    expect(narrowed.map((p) => p.table)).toEqual(['organizations', 'customers', 'sale_transactions']);
    const excluded = planOrganizationTables(billing, { ...config, exclude: ['sale_transaction_items'] }, dialect, '1');
    expect(excluded.map((p) => p.table)).not.toContain('sale_transaction_items');
    expect(excluded.map((p) => p.table)).not.toContain('sale_transaction_item_taxes');
    expect(() => planOrganizationTables(billing, { ...config, tables: ['currencies'] }, dialect, '1')).toThrow(/no "organization_id" column and no foreign key/);
    expect(() => planOrganizationTables(billing, { ...config, tables: ['nope'] }, dialect, '1')).toThrow(ConfigError);
    expect(() => planOrganizationTables(billing, { ...config, exclude: ['organizations'] }, dialect, '1')).toThrow(/always part of a backup/);
    expect(() => planOrganizationTables(billing, { ...config, table: 'orgs' }, dialect, '1')).toThrow(
      /organizations\.table is "orgs", but the shared database has no such table\. Tables that look like it: organizations/,
    );
    expect(() => planOrganizationTables(billing, { ...config, tables: ['sale_transaction_item_taxes'] }, dialect, '1')).toThrow(/without any of the tables/);
  });

  it('quotes every identifier, whatever its name', () => {
    const schema: SchemaInfo = { tables: [table('organizations', ['id']), table('we"ird', ['id', 'organization_id'])] };
    const plans = planOrganizationTables(schema, config, dialect, '1');
    expect(plans[1]!.where).toBe(`t."organization_id" = '1'`);
    expect(plans.map((p) => p.table)).toEqual(['organizations', 'we"ird']);
  });

  it('leaves generated columns out of the plan', () => {
    const schema: SchemaInfo = {
      tables: [table('organizations', ['id']), { ...table('x', ['id', 'organization_id']), columns: [col('id'), col('organization_id'), col('total', { generated: true })] }],
    };
    expect(planOrganizationTables(schema, config, dialect, '1')[1]!.columns.map((c) => c.name)).toEqual(['id', 'organization_id']);
  });
});
