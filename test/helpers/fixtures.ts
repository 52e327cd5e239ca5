/**
 * The billing fixture (fixtures/billing/{postgres,mysql,sqlite}.sql): a multi-tenant billing app with
 * several organizations, used by organization-scoped backup/restore tests.
 *
 * Contract:
 * - `loadBillingFixture(knex, engine)` creates the schema and data in the database `knex` points at
 *   (the script first drops its own objects, so loading twice gives the same state). It runs the
 *   file statement by statement on ONE raw driver connection, bypassing Knex's `?` binding syntax
 *   (the data contains `?`, `:name`, `$$`). PostgreSQL and SQLite load in one transaction (all or
 *   nothing); MariaDB DDL commits implicitly, so a failed load leaves a partial schema and the
 *   connection is destroyed rather than returned to the pool with changed session settings.
 *   SQLite: `PRAGMA foreign_key_check` runs afterwards and must find nothing.
 * - Statement splitting (`splitSqlStatements`): a statement ends at a line whose last non-blank
 *   character is `;`; lines starting with `--` outside a statement are dropped. The fixture files
 *   guarantee that string literals never span lines, so this is exact for them (it is not a general
 *   SQL parser).
 * - The table lists and row counts below describe the files; test/integration/fixtures.test.ts checks
 *   them against every engine, so they stay in sync.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';

export type FixtureEngine = 'postgres' | 'mysql' | 'sqlite';
export type OrganizationId = string | number | bigint;

/** Absolute path of the fixture folder (…/fixtures/billing/). */
export const BILLING_FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/billing/', import.meta.url));

export function billingFixturePath(engine: FixtureEngine): string {
  return `${BILLING_FIXTURE_DIR}${engine}.sql`;
}

/** The tenant table: one row per organization; it has no organization_id column itself. */
export const BILLING_TENANT_TABLE = 'organizations';

/** Tables not tied to any organization; never part of an organization backup or restore. */
export const BILLING_GLOBAL_TABLES = ['currencies', 'exchange_rates'] as const;

/**
 * Tables whose rows belong to an organization: those with `organization_id` plus their children
 * reached by foreign keys (which have no `organization_id`). Listed parents before children.
 * This is exactly what `tables: "auto"` should discover from `organizations` / `organization_id`.
 */
export const BILLING_ORG_TABLES = [
  'users',
  'customers',
  'items',
  'item_prices',
  'accounts',
  'ledgers',
  'ledger_entries',
  'sale_transactions',
  'sale_transaction_items',
  'sale_transaction_item_taxes',
  'audit-log',
  'type_samples',
] as const;
export type BillingOrgTable = (typeof BILLING_ORG_TABLES)[number];

/** Organization tables WITHOUT an organization_id column (reached through their parent). */
export const BILLING_CHILD_TABLES = ['ledger_entries', 'sale_transaction_items', 'sale_transaction_item_taxes'] as const;

/** Every base table of the fixture (views excluded), parents before children. */
export const BILLING_TABLES = [...BILLING_GLOBAL_TABLES, BILLING_TENANT_TABLE, ...BILLING_ORG_TABLES] as const;
export type BillingTable = (typeof BILLING_TABLES)[number];

/** Views: `customer_balances` has an organization_id column but is not a table to back up. */
export const BILLING_VIEWS = ['customer_balances'] as const;

/** How each child table reaches its organization (child column -> parent table). */
export const BILLING_CHILD_PARENTS = {
  ledger_entries: { column: 'ledger_id', parent: 'ledgers' },
  sale_transaction_items: { column: 'sale_transaction_id', parent: 'sale_transactions' },
  sale_transaction_item_taxes: { column: 'sale_transaction_item_id', parent: 'sale_transaction_items' },
} as const;

export interface BillingOrganization {
  /** Decimal string: 9007199254740993 does not fit a JS number. */
  id: string;
  code: string | null;
  name: string;
  autoBackupEnabled: boolean;
}

export const BILLING_ORGANIZATIONS = [
  { id: '1', code: 'acme', name: 'ACME Corporation', autoBackupEnabled: true },
  { id: '2', code: 'globex', name: 'Globex Gesellschaft für Überseehandel mbH', autoBackupEnabled: true },
  { id: '3', code: null, name: 'Initech', autoBackupEnabled: false },
  { id: '4', code: '', name: "Umbrella 'Holdings' \\ Co", autoBackupEnabled: true },
  { id: '9007199254740993', code: 'zeta', name: 'Zeta Big-Id Holdings 🚀', autoBackupEnabled: true },
] as const satisfies readonly BillingOrganization[];

/** The organization whose id is beyond Number.MAX_SAFE_INTEGER (2^53 + 1). */
export const BILLING_BIG_ORG_ID = '9007199254740993';

/** Rows per organization and organization table (children counted with their parent's organization). */
export const BILLING_ORG_ROW_COUNTS: Readonly<Record<string, Readonly<Record<BillingOrgTable, number>>>> = {
  '1': {
    users: 20,
    customers: 22,
    items: 21,
    item_prices: 42,
    accounts: 21,
    ledgers: 20,
    ledger_entries: 49,
    sale_transactions: 24,
    sale_transaction_items: 48,
    sale_transaction_item_taxes: 64,
    'audit-log': 21,
    type_samples: 22,
  },
  '2': {
    users: 21,
    customers: 20,
    items: 20,
    item_prices: 41,
    accounts: 20,
    ledgers: 21,
    ledger_entries: 53,
    sale_transactions: 20,
    sale_transaction_items: 39,
    sale_transaction_item_taxes: 29,
    'audit-log': 20,
    type_samples: 20,
  },
  '3': {
    users: 4,
    customers: 4,
    items: 4,
    item_prices: 9,
    accounts: 3,
    ledgers: 4,
    ledger_entries: 4,
    sale_transactions: 4,
    sale_transaction_items: 4,
    sale_transaction_item_taxes: 4,
    'audit-log': 4,
    type_samples: 3,
  },
  '4': {
    users: 2,
    customers: 2,
    items: 2,
    item_prices: 5,
    accounts: 2,
    ledgers: 2,
    ledger_entries: 2,
    sale_transactions: 2,
    sale_transaction_items: 2,
    sale_transaction_item_taxes: 2,
    'audit-log': 2,
    type_samples: 2,
  },
  '9007199254740993': {
    users: 3,
    customers: 3,
    items: 3,
    item_prices: 6,
    accounts: 3,
    ledgers: 3,
    ledger_entries: 3,
    sale_transactions: 3,
    sale_transaction_items: 3,
    sale_transaction_item_taxes: 3,
    'audit-log': 3,
    type_samples: 4,
  },
};

/** Total rows per table (all organizations, plus the super admin user that has no organization). */
export const BILLING_TABLE_ROW_COUNTS: Readonly<Record<BillingTable, number>> = (() => {
  const totals: Record<string, number> = { currencies: 8, exchange_rates: 21, organizations: BILLING_ORGANIZATIONS.length };
  for (const table of BILLING_ORG_TABLES) {
    totals[table] = Object.values(BILLING_ORG_ROW_COUNTS).reduce((sum, counts) => sum + counts[table], 0);
  }
  totals['users'] = (totals['users'] ?? 0) + 1; // user_id 1: super_admin, organization_id NULL
  return totals as Record<BillingTable, number>;
})();

/** An organization id as a decimal string, refusing anything that is not an exact integer. */
export function organizationIdLiteral(orgId: OrganizationId): string {
  if (typeof orgId === 'number' && !Number.isSafeInteger(orgId)) {
    throw new Error(`organization id ${orgId} is not a safe integer; pass it as a string or bigint`);
  }
  const text = String(orgId);
  if (!/^-?\d{1,20}$/.test(text)) throw new Error(`not an integer organization id: ${JSON.stringify(text)}`);
  return text;
}

/**
 * The WHERE clause that selects one organization's rows of a fixture table, as plain SQL valid on
 * every engine (the id is inlined as an integer literal so that MariaDB compares it exactly; a
 * string binding would be compared as a double). Columns are unqualified: use with `FROM <table>`.
 */
export function billingOrganizationFilter(table: string, orgId: OrganizationId): { sql: string; bindings: unknown[] } {
  const id = organizationIdLiteral(orgId);
  switch (table) {
    case BILLING_TENANT_TABLE:
      return { sql: `id = ${id}`, bindings: [] };
    case 'ledger_entries':
      return { sql: `ledger_id IN (SELECT id FROM ledgers WHERE organization_id = ${id})`, bindings: [] };
    case 'sale_transaction_items':
      return { sql: `sale_transaction_id IN (SELECT id FROM sale_transactions WHERE organization_id = ${id})`, bindings: [] };
    case 'sale_transaction_item_taxes':
      return {
        sql: `sale_transaction_item_id IN (SELECT sti.id FROM sale_transaction_items sti JOIN sale_transactions st ON st.id = sti.sale_transaction_id WHERE st.organization_id = ${id})`,
        bindings: [],
      };
    default:
      if ((BILLING_ORG_TABLES as readonly string[]).includes(table)) return { sql: `organization_id = ${id}`, bindings: [] };
      throw new Error(`${table} is not an organization table of the billing fixture`);
  }
}

/** Splits a fixture SQL file into statements (see the splitting contract above). */
export function splitSqlStatements(text: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (current.length === 0 && (trimmed === '' || trimmed.startsWith('--'))) continue;
    current.push(line);
    if (!trimmed.startsWith('--') && trimmed.endsWith(';')) {
      statements.push(current.join('\n'));
      current = [];
    }
  }
  const rest = current.filter((l) => l.trim() !== '' && !l.trim().startsWith('--'));
  if (rest.length > 0) throw new Error(`SQL text ends inside a statement (no terminating ';'): ${rest[0]}`);
  return statements;
}

export async function readBillingFixture(engine: FixtureEngine): Promise<string[]> {
  return splitSqlStatements(await readFile(billingFixturePath(engine), 'utf8'));
}

/** Loads the billing fixture into the (empty) database of `knex`. */
export async function loadBillingFixture(knex: Knex, engine: FixtureEngine): Promise<void> {
  const statements = await readBillingFixture(engine);
  await runStatements(knex, engine, statements);
}

/** Runs already split statements on one raw connection of `knex` (see the module contract). */
export async function runStatements(knex: Knex, engine: FixtureEngine, statements: readonly string[]): Promise<void> {
  const client = knex.client as Knex.Client;
  const connection: unknown = await client.acquireConnection();
  let discard = false;
  try {
    if (engine === 'postgres') await runPostgres(connection as PgLike, statements);
    else if (engine === 'mysql') {
      try {
        await runMysql(connection as MysqlLike, statements);
      } catch (error) {
        discard = true;
        throw error;
      }
    } else runSqlite(connection as SqliteLike, statements);
  } finally {
    if (discard) (connection as MysqlLike).destroy();
    await client.releaseConnection(connection);
  }
}

// Minimal shapes of the raw driver connections Knex hands out (pg.Client, mysql2 Connection,
// better-sqlite3 Database), so this file does not depend on driver typings.
interface PgLike {
  query(text: string): Promise<unknown>;
}
interface MysqlLike {
  query(sql: string, callback: (error: Error | null) => void): unknown;
  destroy(): void;
}
interface SqliteLike {
  exec(sql: string): unknown;
  prepare(sql: string): { all(): unknown[] };
}

function statementError(engine: FixtureEngine, index: number, statement: string, cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  const excerpt = statement.length > 300 ? `${statement.slice(0, 300)}…` : statement;
  return new Error(`billing fixture (${engine}): statement ${index + 1} failed: ${message}\n${excerpt}`, { cause });
}

async function runPostgres(connection: PgLike, statements: readonly string[]): Promise<void> {
  await connection.query('BEGIN');
  try {
    for (const [index, statement] of statements.entries()) {
      try {
        await connection.query(statement);
      } catch (error) {
        throw statementError('postgres', index, statement, error);
      }
    }
    await connection.query('COMMIT');
  } catch (error) {
    await connection.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function runMysql(connection: MysqlLike, statements: readonly string[]): Promise<void> {
  for (const [index, statement] of statements.entries()) {
    try {
      // No values argument: mysql2 then sends the text as is (no placeholder substitution).
      await new Promise<void>((resolve, reject) => {
        connection.query(statement, (error) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      throw statementError('mysql', index, statement, error);
    }
  }
}

function runSqlite(connection: SqliteLike, statements: readonly string[]): void {
  connection.exec('BEGIN');
  try {
    for (const [index, statement] of statements.entries()) {
      try {
        connection.exec(statement);
      } catch (error) {
        throw statementError('sqlite', index, statement, error);
      }
    }
    connection.exec('COMMIT');
  } catch (error) {
    try {
      connection.exec('ROLLBACK');
    } catch {
      // the failed statement may already have ended the transaction
    }
    throw error;
  }
  const violations = connection.prepare('PRAGMA foreign_key_check').all();
  if (violations.length > 0) {
    throw new Error(`billing fixture (sqlite): foreign key violations after load: ${JSON.stringify(violations.slice(0, 5))}`);
  }
}
