/**
 * The planner's side of issue 9: conditions of organizations.include (checked as text, bound,
 * placed last, their children reached through them), settings that match nothing (config errors
 * naming the setting and what the schema offers), and what a plan leaves out (plan-reach.ts).
 * The same shapes run against real servers in test/integration/plan-realworld.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { bindCondition, checkConditionText } from '../../src/core/plan-condition.js';
import { planOrganizationTables, type PlanSettings } from '../../src/core/plan-organization.js';
import { excludedReferenceWarnings, findReaches } from '../../src/core/plan-reach.js';
import type { SchemaInfo } from '../../src/engines/types.js';
import { col, dialect, fk, table } from '../helpers/plan-schema.js';
import { ConfigError } from '../../src/errors.js';

/** Shaped like the issue's invoicing product: companies / company_id, shared users, polymorphic versions. */
const invoicing: SchemaInfo = {
  tables: [
    table('companies', ['id', 'subdomain', 'name']),
    table('users', ['id', 'email']),
    table('memberships', ['id', 'company_id', 'user_id'], [fk(['company_id'], 'companies'), fk(['user_id'], 'users')]),
    table('invoices', ['id', 'company_id', 'number'], [fk(['company_id'], 'companies')]),
    table('invoice_items', ['id', 'invoice_id'], [fk(['invoice_id'], 'invoices')]),
    table('versions', ['id', 'item_type', 'item_id', 'whodunnit'], [fk(['whodunnit'], 'users')]),
    table('version_changes', ['id', 'version_id'], [fk(['version_id'], 'versions')]),
    table('comments', ['id', 'invoice_id', 'body'], [fk(['invoice_id'], 'invoices')]),
    table('audit_events', ['id', 'org_id']),
    table('invoice_notes', ['id', 'invoice_id'], [fk(['invoice_id'], 'invoices')]),
  ],
};
const VERSIONS = "item_type = 'Invoice' AND item_id IN (SELECT id FROM invoices WHERE company_id = :org)";
const settings: PlanSettings = { table: 'companies', tenantColumn: 'company_id', idColumn: 'id', tables: 'auto', exclude: [], codeColumn: 'subdomain', nameColumn: 'name' };
const plan = (extra: Partial<PlanSettings> = {}, schema = invoicing) => planOrganizationTables(schema, { ...settings, ...extra }, dialect, '42');

describe('organizations.include', () => {
  it('takes the included table by its condition, :org bound, after the tables it reads, its children through it', () => {
    const plans = plan({ include: { versions: VERSIONS } });
    const names = plans.map((p) => p.table);
    const versions = plans.find((p) => p.table === 'versions')!;
    expect(versions.selection).toEqual({ kind: 'condition', condition: VERSIONS });
    expect(versions.where).toBe(`(item_type = 'Invoice' AND item_id IN (SELECT id FROM invoices WHERE company_id = '42'))`);
    // Last but its own child: a restore deletes it before the invoices its condition reads, inserts it after.
    expect(names.slice(-2)).toEqual(['versions', 'version_changes']);
    expect(plans.find((p) => p.table === 'version_changes')!.where).toBe(
      `EXISTS (SELECT 1 FROM (SELECT t."id" AS k0 FROM "versions" t WHERE (item_type = 'Invoice' AND item_id IN (SELECT id FROM invoices WHERE company_id = '42'))) o WHERE o.k0 = t."version_id")`,
    );
    // Without include, versions and its child are not part of the plan at all (today's behaviour).
    expect(plan().map((p) => p.table)).not.toContain('versions');
    expect(plan().map((p) => p.table)).not.toContain('version_changes');
  });

  it('keeps included tables when organizations.tables narrows the plan', () => {
    expect(plan({ include: { versions: VERSIONS }, tables: ['invoices'] }).map((p) => p.table)).toEqual(['companies', 'invoices', 'versions']);
  });

  it('binds :org only where it is a placeholder', () => {
    expect(bindCondition('v', 'a = :org AND b = \':org\' AND c::org_type IS NOT NULL AND "x:org" = :org_id OR d=:org', '7')).toBe(
      'a = 7 AND b = \':org\' AND c::org_type IS NOT NULL AND "x:org" = :org_id OR d=7',
    );
  });

  it.each([
    ['a = :org; DROP TABLE users', /contains ";"/],
    ['a = :org -- note', /contains a comment/],
    ['a = :org /* x */', /contains a comment/],
    ['a = :org) OR (1 = 1', /closes a parenthesis it did not open/],
    ['(a = :org', /leaves a parenthesis open/],
    ["a = :org AND b = 'x", /unterminated string literal/],
    ["a = :org AND b = 'it\\'s'", /backslash inside a string literal/],
    ["item_type = 'Invoice'", /does not use :org/],
    ['   ', /is empty/],
  ])('refuses the condition %j as a config error naming the setting', (condition, message) => {
    expect(() => checkConditionText('versions', condition)).toThrow(message);
    expect(() => plan({ include: { versions: condition } })).toThrow(ConfigError);
    expect(() => plan({ include: { versions: condition } })).toThrow(/^organizations\.include\.versions/);
  });

  it('refuses tables that are missing, excluded, the organizations table, or already reached', () => {
    expect(() => plan({ include: { nope: 'id = :org' } })).toThrow(/organizations\.include\.nope: "nope" is not a table/);
    expect(() => plan({ include: { versions: VERSIONS }, exclude: ['versions'] })).toThrow(/also listed in organizations\.exclude/);
    expect(() => plan({ include: { companies: 'id = :org' } })).toThrow(/organizations table is always part of a backup/);
    expect(() => plan({ include: { invoices: 'company_id = :org' } })).toThrow(/"invoices" is already part of every backup \(it has the tenant column "company_id"\)/);
    expect(() => plan({ include: { invoice_items: 'id = :org' } })).toThrow(
      /"invoice_items" is already part of every backup \(foreign key invoice_id_fk \(invoice_id → invoices\) reaches it\)/,
    );
  });
});

describe('settings that match nothing', () => {
  it('a tenantColumn no table has names the setting and the columns that reference the organizations table', () => {
    const error = (() => {
      try {
        plan({ tenantColumn: 'organization_id' });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /^organizations\.tenantColumn is "organization_id", but no table of the shared database has such a column\. Columns that reference "companies": company_id \(2 tables\)/,
    );
    expect(error.details).toMatchObject({ setting: 'organizations.tenantColumn', candidates: ['company_id'] });
  });

  it("a codeColumn or nameColumn that does not exist names the setting and the table's columns; the defaults may be absent", () => {
    expect(() => plan({ codeColumn: 'subdomian' })).toThrow(
      /^organizations\.codeColumn is "subdomian", but the organizations table "companies" has no such column\. Its columns: id, subdomain, name\./,
    );
    expect(() => plan({ nameColumn: 'title' })).toThrow(/^organizations\.nameColumn is "title"/);
    expect(() => plan({ codeColumn: 'code' })).not.toThrow();
  });

  it('a missing organizations table names organizations.table and the tables that look like it', () => {
    expect(() => plan({ table: 'organizations' })).toThrow(
      /^organizations\.table is "organizations", but the shared database has no such table\. Tables that look like it: companies\./,
    );
    const schema: SchemaInfo = { tables: [table('orgs', ['id']), table('x', ['id', 'org_id'], [fk(['org_id'], 'orgs')])] };
    expect(() => planOrganizationTables(schema, { ...settings, table: 'organisations', tenantColumn: 'org_id' }, dialect, '1')).toThrow(/Tables that look like it: orgs\./);
  });
});

describe('what a plan leaves out', () => {
  it('names shared parents, tables referencing planned rows from outside, tenant-like columns without a foreign key, and NULL links', () => {
    const config = { ...settings, exclude: ['invoice_notes'] };
    const plans = planOrganizationTables(invoicing, config, dialect, '42');
    const reaches = findReaches(invoicing, config, plans, dialect, '42');
    const summary = reaches.map((r) => `${r.kind} ${r.table}${r.related_table ? ` ${r.related_table}` : ''}`);
    expect([...summary].sort()).toEqual([
      'excluded-reference invoice_notes invoices',
      // Rows whose link is NULL (the unit schema's columns are all nullable).
      'null-reference comments',
      'null-reference invoice_items',
      'null-reference invoices',
      'null-reference memberships',
      'shared-parent users memberships',
      'tenant-like-column audit_events',
    ]);
    // versions has no link the foreign keys can see: not reported (include is how to take it).
    expect(summary.filter((line) => line.includes('versions'))).toEqual([]);
    const users = reaches.find((r) => r.kind === 'shared-parent')!;
    expect(users.count).toEqual({
      table: 'users',
      where: `EXISTS (SELECT 1 FROM (SELECT t."user_id" AS k0 FROM "memberships" t WHERE t."company_id" = '42') o WHERE o.k0 = t."id")`,
    });
    expect(reaches.find((r) => r.kind === 'tenant-like-column')!.count).toEqual({ table: 'audit_events', where: `t."org_id" = '42'` });
    expect(reaches.find((r) => r.table === 'comments')!.count).toEqual({ table: 'comments', where: `(t."invoice_id" IS NULL)` });
    expect(excludedReferenceWarnings(invoicing, config, plans)).toEqual([
      expect.stringMatching(/^organizations\.exclude lists "invoice_notes", whose foreign key invoice_id_fk \(invoice_id\) references "invoices"/),
    ]);
    expect(excludedReferenceWarnings(invoicing, settings, planOrganizationTables(invoicing, settings, dialect, '42'))).toEqual([]);
  });

  it('does not count a tenant-like column whose type cannot be compared with the organization id', () => {
    const schema: SchemaInfo = {
      tables: [
        table('companies', [col('id', { type: 'uuid' }), 'subdomain', 'name']),
        table('t', ['id', 'company_id']),
        table('a', ['id', col('org_id', { type: 'uuid' })]),
        table('b', ['id', col('org_id', { type: 'integer' })]),
      ],
    };
    const reaches = findReaches(schema, settings, planOrganizationTables(schema, settings, dialect, '1'), dialect, '1');
    expect(reaches.find((r) => r.table === 'a')).toMatchObject({ kind: 'tenant-like-column', count: { where: `t."org_id" = '1'` } });
    expect(reaches.find((r) => r.table === 'b')).toMatchObject({ kind: 'tenant-like-column', count: null });
  });
});
