/**
 * The benchmark's shared billing database, generated server-side (PostgreSQL `generate_series`,
 * MariaDB's Sequence engine `seq_1_to_N`) so that a million rows take seconds, not minutes.
 *
 * Five organizations; rows of organizations 2–5 are interleaved with organization 1's in id
 * order (every 6th row), so that reading organization 1 is a real selection, not a whole-table
 * scan in disguise. Organization 1 (the measured one) holds ~`rows` rows:
 *
 * | table                  | share | selected through                         | heavy columns                       |
 * |------------------------|-------|------------------------------------------|-------------------------------------|
 * | organizations          | 1 row | its id                                   |                                     |
 * | customers              | 4 %   | organization_id                          | numeric, timestamptz, jsonb, text   |
 * | items                  | 1 %   | organization_id                          | numeric, bytea (64 B), jsonb        |
 * | sale_transactions      | 25 %  | organization_id                          | numeric, timestamptz, text, jsonb   |
 * | payments               | 15 %  | organization_id (+ FK to transactions)   | numeric, timestamptz                |
 * | sale_transaction_items | 50 %  | FKs to sale_transactions OR items (child, no organization_id) | numeric, text  |
 * | attachments            | 5 %   | FK to sale_transactions (child, no organization_id) | bytea (~300 B)           |
 *
 * Text includes quotes, backslashes, tabs, newlines and non-ASCII now and then, so escaping paths
 * are exercised; ~30 % of nullable columns are NULL.
 */
import type pg from 'pg';
import type mysql from 'mysql2/promise';

export const MEASURED_ORG = '1';
export const OTHER_ORGS = ['2', '3', '4', '5'];

const SHARES = {
  customers: 0.04,
  items: 0.01,
  sale_transactions: 0.25,
  payments: 0.15,
  sale_transaction_items: 0.5,
  attachments: 0.05,
} as const;
export type BenchTable = keyof typeof SHARES;
export const BENCH_TABLES = ['organizations', ...(Object.keys(SHARES) as BenchTable[])] as const;

/** Rows per table, all organizations together: organization 1 gets 5 of every 6. */
export function tableSizes(rows: number): Record<BenchTable, number> {
  const sizes = {} as Record<BenchTable, number>;
  for (const [table, share] of Object.entries(SHARES) as Array<[BenchTable, number]>) {
    // At least 48 rows: the id helpers below need a few rows of every organization.
    sizes[table] = Math.max(48, Math.round((rows * share * 6) / 5));
  }
  // Two items per transaction.
  sizes.sale_transaction_items = 2 * sizes.sale_transactions;
  return sizes;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export async function generatePostgres(client: pg.Client, rows: number): Promise<void> {
  const n = tableSizes(rows);
  const org = (i: string) => `bench_org(${i})`;
  const sql = `
    DROP TABLE IF EXISTS attachments, sale_transaction_items, payments, sale_transactions, items, customers, organizations CASCADE;
    -- The organization of row i of any table (organizations 2..5 take every 6th row).
    CREATE OR REPLACE FUNCTION bench_org(i bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN i % 6 = 0 THEN 2 + (i / 6) % 4 ELSE 1 END $$;
    -- An id in 1..n whose bench_org is o, chosen by seed.
    CREATE OR REPLACE FUNCTION bench_pick(o bigint, seed bigint, n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
      $$ SELECT CASE WHEN o = 1 THEN 6 * (seed % (n / 6)) + 1 + seed % 5
                     ELSE 6 * (4 * (1 + seed % (n / 24 - 1)) + (o - 2)) END $$;

    CREATE TABLE organizations (
      id bigint PRIMARY KEY, name text NOT NULL, code text UNIQUE, created_at timestamptz(6) NOT NULL);
    CREATE TABLE customers (
      id bigint NOT NULL, organization_id bigint NOT NULL, name text NOT NULL, email text,
      balance numeric(20,6) NOT NULL, created_at timestamptz(6) NOT NULL, attributes jsonb);
    CREATE TABLE items (
      id bigint NOT NULL, organization_id bigint NOT NULL, sku text NOT NULL, name text NOT NULL,
      price numeric(20,6) NOT NULL, thumbnail bytea, attributes jsonb);
    CREATE TABLE sale_transactions (
      id bigint NOT NULL, organization_id bigint NOT NULL, customer_id bigint NOT NULL, number text NOT NULL,
      total numeric(20,6) NOT NULL, status text NOT NULL, created_at timestamptz(6) NOT NULL, notes text, meta jsonb);
    CREATE TABLE payments (
      id bigint NOT NULL, organization_id bigint NOT NULL, sale_transaction_id bigint NOT NULL,
      amount numeric(20,6) NOT NULL, paid_at timestamptz(6) NOT NULL, method text NOT NULL, reference text);
    CREATE TABLE sale_transaction_items (
      id bigint NOT NULL, sale_transaction_id bigint NOT NULL, item_id bigint NOT NULL, quantity integer NOT NULL,
      unit_price numeric(20,6) NOT NULL, amount numeric(20,6) NOT NULL, description text);
    CREATE TABLE attachments (
      id bigint NOT NULL, sale_transaction_id bigint NOT NULL, filename text NOT NULL, content bytea NOT NULL,
      created_at timestamptz(6) NOT NULL);

    INSERT INTO organizations
      SELECT i, 'Organization ' || i, 'org' || i, timestamptz '2019-01-01 00:00:00+00' + i * interval '1 day'
      FROM generate_series(1::bigint, 5) i;

    INSERT INTO customers
      SELECT i, ${org('i')}, 'Customer ' || i || CASE WHEN i % 97 = 0 THEN E' "Zoë" \\\\ O''Brien\\t✓' ELSE '' END,
             CASE WHEN i % 10 = 0 THEN NULL ELSE 'customer' || i || '@example.com' END,
             ((i * 7919) % 100000000)::numeric / 1000 - 5000,
             timestamptz '2020-01-01 00:00:00+00' + i * interval '67.123457 seconds',
             CASE WHEN i % 3 = 0 THEN NULL
                  ELSE jsonb_build_object('tier', (ARRAY['free', 'pro', 'enterprise'])[(1 + i % 3)::int], 'score', i % 1000,
                                          'tags', jsonb_build_array('a' || i % 7, 'b' || i % 11)) END
      FROM generate_series(1::bigint, ${n.customers}) i;

    INSERT INTO items
      SELECT i, ${org('i')}, 'SKU-' || lpad(i::text, 8, '0'),
             'Item ' || i || CASE WHEN i % 50 = 0 THEN E' "quoted"\\ttab \\\\ back ünï\\n2nd line' ELSE '' END,
             ((i * 104729) % 10000000)::numeric / 100,
             CASE WHEN i % 4 = 0 THEN NULL ELSE decode(md5(i::text) || md5((i + 1)::text) || md5((i + 2)::text) || md5((i + 3)::text), 'hex') END,
             jsonb_build_object('color', (ARRAY['red', 'green', 'blue', 'black'])[(1 + i % 4)::int], 'weight_g', i % 5000, 'active', i % 9 <> 0)
      FROM generate_series(1::bigint, ${n.items}) i;

    INSERT INTO sale_transactions
      SELECT i, ${org('i')}, bench_pick(${org('i')}, i, ${n.customers}), 'INV-' || lpad(i::text, 10, '0'),
             ((i * 15485863) % 1000000000)::numeric / 10000,
             (ARRAY['draft', 'posted', 'paid', 'void'])[(1 + i % 4)::int],
             timestamptz '2021-01-01 00:00:00+00' + i * interval '13.654321 seconds',
             CASE WHEN i % 10 < 7 THEN NULL WHEN i % 10 = 7 THEN E'Deliver to the back door\\nring twice' ELSE 'Thanks for your business, order ' || i END,
             CASE WHEN i % 2 = 0 THEN NULL ELSE jsonb_build_object('channel', (ARRAY['web', 'pos', 'api'])[(1 + i % 3)::int], 'discount', (i % 20)::numeric / 100) END
      FROM generate_series(1::bigint, ${n.sale_transactions}) i;

    INSERT INTO payments
      SELECT i, ${org('s')}, s, ((i * 2654435761) % 100000000)::numeric / 1000,
             timestamptz '2021-01-02 00:00:00+00' + i * interval '22.5 seconds',
             (ARRAY['card', 'cash', 'transfer'])[(1 + i % 3)::int],
             CASE WHEN i % 3 = 0 THEN NULL ELSE 'PAY-' || md5(i::text) END
      FROM (SELECT i, 1 + (i - 1) * ${n.sale_transactions}::bigint / ${n.payments} AS s FROM generate_series(1::bigint, ${n.payments}) i) g;

    INSERT INTO sale_transaction_items
      SELECT i, s, bench_pick(${org('s')}, i, ${n.items}), 1 + i % 12,
             ((i * 48271) % 10000000)::numeric / 100, ((i * 48271) % 10000000)::numeric / 100 * (1 + i % 12),
             CASE WHEN i % 5 = 0 THEN NULL ELSE 'Line ' || i || CASE WHEN i % 101 = 0 THEN E' \\\\ "special" ünï' ELSE '' END END
      FROM (SELECT i, (i + 1) / 2 AS s FROM generate_series(1::bigint, ${n.sale_transaction_items}) i) g;

    INSERT INTO attachments
      SELECT i, s, 'receipt-' || i || '.bin',
             decode(repeat(md5(i::text), 8) || substr(md5((i * 31)::text), 1, (2 * (i % 16))::int), 'hex'),
             timestamptz '2021-01-03 00:00:00+00' + i * interval '61.000001 seconds'
      FROM (SELECT i, 1 + (i - 1) * ${n.sale_transactions}::bigint / ${n.attachments} AS s FROM generate_series(1::bigint, ${n.attachments}) i) g;

    ALTER TABLE customers ADD PRIMARY KEY (id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id);
    ALTER TABLE items ADD PRIMARY KEY (id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id);
    ALTER TABLE sale_transactions ADD PRIMARY KEY (id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id),
      ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
    ALTER TABLE payments ADD PRIMARY KEY (id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id),
      ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id);
    ALTER TABLE sale_transaction_items ADD PRIMARY KEY (id), ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id),
      ADD FOREIGN KEY (item_id) REFERENCES items (id);
    ALTER TABLE attachments ADD PRIMARY KEY (id), ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id);
    CREATE INDEX ON customers (organization_id);
    CREATE INDEX ON items (organization_id);
    CREATE INDEX ON sale_transactions (organization_id);
    CREATE INDEX ON sale_transactions (customer_id);
    CREATE INDEX ON payments (organization_id);
    CREATE INDEX ON payments (sale_transaction_id);
    CREATE INDEX ON sale_transaction_items (sale_transaction_id);
    CREATE INDEX ON sale_transaction_items (item_id);
    CREATE INDEX ON attachments (sale_transaction_id);
    DROP FUNCTION bench_pick(bigint, bigint, bigint);
    DROP FUNCTION bench_org(bigint);`;
  await client.query(sql);
  // Hint bits, visibility map and statistics: the first measured read must not pay for them.
  await client.query('VACUUM (FREEZE, ANALYZE)');
}

// ---------------------------------------------------------------------------------------------
// MariaDB

export async function generateMariadb(connection: mysql.Connection, rows: number): Promise<void> {
  const n = tableSizes(rows);
  const org = (i: string) => `(CASE WHEN ${i} % 6 = 0 THEN 2 + (${i} DIV 6) % 4 ELSE 1 END)`;
  const pick = (o: string, seed: string, size: number) =>
    `(CASE WHEN ${o} = 1 THEN 6 * (${seed} % ${Math.floor(size / 6)}) + 1 + ${seed} % 5
           ELSE 6 * (4 * (1 + ${seed} % ${Math.floor(size / 24) - 1}) + (${o} - 2)) END)`;
  const statements = [
    'SET FOREIGN_KEY_CHECKS = 0',
    "SET time_zone = '+00:00'",
    'DROP TABLE IF EXISTS attachments, sale_transaction_items, payments, sale_transactions, items, customers, organizations',
    `CREATE TABLE organizations (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, code VARCHAR(50) UNIQUE,
       created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`,
    `CREATE TABLE customers (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, organization_id BIGINT UNSIGNED NOT NULL, name VARCHAR(255) NOT NULL,
       email VARCHAR(255), balance DECIMAL(20,6) NOT NULL, created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
       attributes JSON) ENGINE=InnoDB`,
    `CREATE TABLE items (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, organization_id BIGINT UNSIGNED NOT NULL, sku VARCHAR(32) NOT NULL,
       name VARCHAR(255) NOT NULL, price DECIMAL(20,6) NOT NULL, thumbnail BLOB, attributes JSON) ENGINE=InnoDB`,
    `CREATE TABLE sale_transactions (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, organization_id BIGINT UNSIGNED NOT NULL, customer_id BIGINT UNSIGNED NOT NULL,
       number VARCHAR(32) NOT NULL, total DECIMAL(20,6) NOT NULL, status VARCHAR(16) NOT NULL,
       created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), notes TEXT, meta JSON) ENGINE=InnoDB`,
    `CREATE TABLE payments (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, organization_id BIGINT UNSIGNED NOT NULL, sale_transaction_id BIGINT UNSIGNED NOT NULL,
       amount DECIMAL(20,6) NOT NULL, paid_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), method VARCHAR(16) NOT NULL,
       reference VARCHAR(64)) ENGINE=InnoDB`,
    `CREATE TABLE sale_transaction_items (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, sale_transaction_id BIGINT UNSIGNED NOT NULL, item_id BIGINT UNSIGNED NOT NULL,
       quantity INT NOT NULL, unit_price DECIMAL(20,6) NOT NULL, amount DECIMAL(20,6) NOT NULL, description TEXT) ENGINE=InnoDB`,
    `CREATE TABLE attachments (
       id BIGINT UNSIGNED NOT NULL PRIMARY KEY, sale_transaction_id BIGINT UNSIGNED NOT NULL, filename VARCHAR(255) NOT NULL,
       content BLOB NOT NULL, created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`,
    `INSERT INTO organizations SELECT seq, CONCAT('Organization ', seq), CONCAT('org', seq),
       TIMESTAMP'2019-01-01 00:00:00' + INTERVAL seq DAY FROM seq_1_to_5`,
    `INSERT INTO customers SELECT seq, ${org('seq')},
       CONCAT('Customer ', seq, IF(seq % 97 = 0, ' "Zoë" \\\\ O''Brien\\t✓', '')),
       IF(seq % 10 = 0, NULL, CONCAT('customer', seq, '@example.com')),
       ((seq * 7919) % 100000000) / 1000 - 5000,
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL (seq * 67123457) MICROSECOND,
       IF(seq % 3 = 0, NULL, JSON_OBJECT('tier', ELT(1 + seq % 3, 'free', 'pro', 'enterprise'), 'score', seq % 1000,
                                         'tags', JSON_ARRAY(CONCAT('a', seq % 7), CONCAT('b', seq % 11))))
       FROM seq_1_to_${n.customers}`,
    `INSERT INTO items SELECT seq, ${org('seq')}, CONCAT('SKU-', LPAD(seq, 8, '0')),
       CONCAT('Item ', seq, IF(seq % 50 = 0, ' "quoted"\\ttab \\\\ back ünï\\n2nd line', '')),
       ((seq * 104729) % 10000000) / 100,
       IF(seq % 4 = 0, NULL, UNHEX(CONCAT(MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3)))),
       JSON_OBJECT('color', ELT(1 + seq % 4, 'red', 'green', 'blue', 'black'), 'weight_g', seq % 5000, 'active', seq % 9 <> 0)
       FROM seq_1_to_${n.items}`,
    `INSERT INTO sale_transactions SELECT seq, ${org('seq')}, ${pick(org('seq'), 'seq', n.customers)},
       CONCAT('INV-', LPAD(seq, 10, '0')), ((seq * 15485863) % 1000000000) / 10000,
       ELT(1 + seq % 4, 'draft', 'posted', 'paid', 'void'),
       TIMESTAMP'2021-01-01 00:00:00' + INTERVAL (seq * 13654321) MICROSECOND,
       CASE WHEN seq % 10 < 7 THEN NULL WHEN seq % 10 = 7 THEN 'Deliver to the back door\\nring twice'
            ELSE CONCAT('Thanks for your business, order ', seq) END,
       IF(seq % 2 = 0, NULL, JSON_OBJECT('channel', ELT(1 + seq % 3, 'web', 'pos', 'api'), 'discount', (seq % 20) / 100))
       FROM seq_1_to_${n.sale_transactions}`,
    `INSERT INTO payments SELECT g.i, ${org('g.s')}, g.s, ((g.i * 2654435761) % 100000000) / 1000,
       TIMESTAMP'2021-01-02 00:00:00' + INTERVAL (g.i * 22500000) MICROSECOND,
       ELT(1 + g.i % 3, 'card', 'cash', 'transfer'), IF(g.i % 3 = 0, NULL, CONCAT('PAY-', MD5(g.i)))
       FROM (SELECT seq AS i, 1 + (seq - 1) * ${n.sale_transactions} DIV ${n.payments} AS s FROM seq_1_to_${n.payments}) g`,
    `INSERT INTO sale_transaction_items SELECT g.i, g.s, ${pick(org('g.s'), 'g.i', n.items)}, 1 + g.i % 12,
       ((g.i * 48271) % 10000000) / 100, ((g.i * 48271) % 10000000) / 100 * (1 + g.i % 12),
       IF(g.i % 5 = 0, NULL, CONCAT('Line ', g.i, IF(g.i % 101 = 0, ' \\\\ "special" ünï', '')))
       FROM (SELECT seq AS i, (seq + 1) DIV 2 AS s FROM seq_1_to_${n.sale_transaction_items}) g`,
    `INSERT INTO attachments SELECT g.i, g.s, CONCAT('receipt-', g.i, '.bin'),
       UNHEX(CONCAT(REPEAT(MD5(g.i), 8), SUBSTR(MD5(g.i * 31), 1, 2 * (g.i % 16)))),
       TIMESTAMP'2021-01-03 00:00:00' + INTERVAL (g.i * 61000001) MICROSECOND
       FROM (SELECT seq AS i, 1 + (seq - 1) * ${n.sale_transactions} DIV ${n.attachments} AS s FROM seq_1_to_${n.attachments}) g`,
    // Indexes after the load (sorted builds); foreign keys added without re-checking (checks off).
    'ALTER TABLE customers ADD INDEX (organization_id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id)',
    'ALTER TABLE items ADD INDEX (organization_id), ADD FOREIGN KEY (organization_id) REFERENCES organizations (id)',
    `ALTER TABLE sale_transactions ADD INDEX (organization_id), ADD INDEX (customer_id),
       ADD FOREIGN KEY (organization_id) REFERENCES organizations (id), ADD FOREIGN KEY (customer_id) REFERENCES customers (id)`,
    `ALTER TABLE payments ADD INDEX (organization_id), ADD INDEX (sale_transaction_id),
       ADD FOREIGN KEY (organization_id) REFERENCES organizations (id), ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id)`,
    `ALTER TABLE sale_transaction_items ADD INDEX (sale_transaction_id), ADD INDEX (item_id),
       ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id), ADD FOREIGN KEY (item_id) REFERENCES items (id)`,
    'ALTER TABLE attachments ADD INDEX (sale_transaction_id), ADD FOREIGN KEY (sale_transaction_id) REFERENCES sale_transactions (id)',
    'SET FOREIGN_KEY_CHECKS = 1',
    'ANALYZE TABLE organizations, customers, items, sale_transactions, payments, sale_transaction_items, attachments',
  ];
  for (const statement of statements) await connection.query(statement);
}
