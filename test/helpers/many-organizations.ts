/**
 * Many small organizations in a billing-like schema, generated server-side (PostgreSQL): what
 * `auto --all` at scale is measured (bench/auto-all.ts) and tested (test/integration/auto-all-run.test.ts) on.
 */

/** Anything with pg's `query(text, values)`: a pg.Client, a pg.Pool. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/**
 * 28 rows an organization: its own row, 5 customers, 3 products, 6 invoices, 9 invoice items
 * (reached through invoices: no tenant column) and 4 payments. Generated with generate_series.
 */
export async function generateOrganizations(client: Queryable, organizations: number): Promise<number> {
  await client.query(`
    CREATE TABLE organizations (id bigint PRIMARY KEY, code text UNIQUE NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE customers (id bigint PRIMARY KEY, organization_id bigint NOT NULL REFERENCES organizations(id), name text NOT NULL, email text);
    CREATE TABLE products (id bigint PRIMARY KEY, organization_id bigint NOT NULL REFERENCES organizations(id), sku text NOT NULL, price numeric(12,2) NOT NULL);
    CREATE TABLE invoices (id bigint PRIMARY KEY, organization_id bigint NOT NULL REFERENCES organizations(id), customer_id bigint NOT NULL REFERENCES customers(id),
                           issued_on date NOT NULL, total numeric(12,2) NOT NULL);
    CREATE TABLE invoice_items (id bigint PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices(id), product_id bigint NOT NULL REFERENCES products(id),
                                quantity integer NOT NULL, amount numeric(12,2) NOT NULL);
    CREATE TABLE payments (id bigint PRIMARY KEY, organization_id bigint NOT NULL REFERENCES organizations(id), invoice_id bigint NOT NULL REFERENCES invoices(id),
                           paid_at timestamptz NOT NULL, amount numeric(12,2) NOT NULL);
    CREATE INDEX ON customers (organization_id); CREATE INDEX ON products (organization_id); CREATE INDEX ON invoices (organization_id);
    CREATE INDEX ON invoice_items (invoice_id); CREATE INDEX ON payments (organization_id);`);
  await client.query(`INSERT INTO organizations (id, code, name) SELECT o, 'org' || o, 'Organization ' || o FROM generate_series(1, $1::int) o`, [organizations]);
  await client.query(
    `INSERT INTO customers SELECT (o - 1) * 5 + c, o, 'Customer ' || c, 'c' || c || '@org' || o || '.example' FROM generate_series(1, $1::int) o, generate_series(1, 5) c`,
    [organizations],
  );
  await client.query(`INSERT INTO products SELECT (o - 1) * 3 + p, o, 'SKU-' || p, p * 9.5 FROM generate_series(1, $1::int) o, generate_series(1, 3) p`, [organizations]);
  await client.query(
    `INSERT INTO invoices SELECT (o - 1) * 6 + i, o, (o - 1) * 5 + 1 + (i % 5), date '2026-01-01' + i, i * 19.0 FROM generate_series(1, $1::int) o, generate_series(1, 6) i`,
    [organizations],
  );
  await client.query(
    `INSERT INTO invoice_items SELECT (o - 1) * 9 + k, (o - 1) * 6 + 1 + (k % 6), (o - 1) * 3 + 1 + (k % 3), k, k * 9.5 FROM generate_series(1, $1::int) o, generate_series(1, 9) k`,
    [organizations],
  );
  await client.query(
    `INSERT INTO payments SELECT (o - 1) * 4 + p, o, (o - 1) * 6 + p, timestamptz '2026-02-01 10:00Z' + p * interval '1 day', p * 19.0 FROM generate_series(1, $1::int) o, generate_series(1, 4) p`,
    [organizations],
  );
  await client.query('ANALYZE');
  return 28;
}
