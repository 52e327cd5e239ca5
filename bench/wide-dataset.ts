/**
 * A wide schema with a small organization (pair 9: the fixed cost per table). 130 tables, as in an
 * application that has grown for years: `organizations`, 85 tables tagged with `organization_id`
 * (every third one also referencing the previous tagged table, every fifth one with a jsonb and a
 * bytea column) and 44 child tables without it, each referencing one tagged table. Every foreign-key
 * column and every `organization_id` is indexed, as Rails and Laravel migrations do.
 *
 * Five organizations of the same shape; organization 1 (the measured one) holds WIDE_ORG_ROWS rows
 * (~25 per tagged table, ~20 per child table), the others as many each.
 */
import type pg from 'pg';

export const WIDE_TAGGED = 85;
export const WIDE_CHILDREN = 44;
export const WIDE_TABLES = 1 + WIDE_TAGGED + WIDE_CHILDREN;
const TAGGED_ROWS = 25; // per organization and tagged table
const CHILD_ROWS = 20; // per organization and child table
const ORGS = 5;
export const WIDE_ORG_ROWS = 1 + WIDE_TAGGED * TAGGED_ROWS + WIDE_CHILDREN * CHILD_ROWS;

const tagged = (i: number) => `t_${String(i).padStart(3, '0')}`;
const child = (i: number) => `c_${String(i).padStart(3, '0')}`;

/** The statements creating and filling the schema (PostgreSQL), in order. */
export function wideSchemaPostgres(): string[] {
  const statements: string[] = [
    `DROP SCHEMA IF EXISTS wide CASCADE`,
    `CREATE SCHEMA wide`,
    `SET search_path = wide`,
    `CREATE TABLE organizations (id bigint PRIMARY KEY, name text NOT NULL, code text UNIQUE)`,
    `INSERT INTO organizations SELECT g, 'Organization ' || g, 'org' || g FROM generate_series(1, ${ORGS}) g`,
  ];
  for (let i = 1; i <= WIDE_TAGGED; i++) {
    const name = tagged(i);
    const parent = i > 1 && i % 3 === 0 ? tagged(i - 1) : null;
    const heavy = i % 5 === 0;
    statements.push(
      `CREATE TABLE ${name} (
         id bigint PRIMARY KEY,
         organization_id bigint NOT NULL REFERENCES organizations (id),
         ${parent ? `parent_id bigint REFERENCES ${parent} (id),` : ''}
         name text NOT NULL,
         amount numeric(12,2),
         active boolean NOT NULL DEFAULT true,
         created_at timestamptz(6) NOT NULL,
         ${heavy ? 'settings jsonb, picture bytea,' : ''}
         note text)`,
      `CREATE INDEX ON ${name} (organization_id)`,
      ...(parent ? [`CREATE INDEX ON ${name} (parent_id)`] : []),
      // Row g belongs to organization 1 + (g - 1) % ORGS; its parent (if any) is the row of the same id.
      `INSERT INTO ${name} SELECT g, 1 + (g - 1) % ${ORGS}, ${parent ? 'g, ' : ''}'${name} row ' || g || CASE WHEN g % 7 = 0 THEN E' "quoted"\\ttab' ELSE '' END,
         (g * 3.25)::numeric(12,2), g % 4 <> 0, timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes',
         ${heavy ? `jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')), decode(md5(g::text), 'hex'),` : ''}
         CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END
       FROM generate_series(1, ${TAGGED_ROWS * ORGS}) g`,
    );
  }
  for (let i = 1; i <= WIDE_CHILDREN; i++) {
    const name = child(i);
    const parent = tagged(1 + ((i * 7) % WIDE_TAGGED));
    statements.push(
      `CREATE TABLE ${name} (id bigint PRIMARY KEY, ${parent}_id bigint NOT NULL REFERENCES ${parent} (id), quantity integer NOT NULL, label text)`,
      `CREATE INDEX ON ${name} (${parent}_id)`,
      // Child row g points at parent row 1 + (g - 1) % (parent rows): organization 1 + (g - 1) % ORGS.
      `INSERT INTO ${name} SELECT g, 1 + (g - 1) % ${TAGGED_ROWS * ORGS}, g % 17, 'label ' || g FROM generate_series(1, ${CHILD_ROWS * ORGS}) g`,
    );
  }
  statements.push(`ANALYZE`);
  return statements;
}

export async function generateWidePostgres(client: pg.Client): Promise<void> {
  for (const statement of wideSchemaPostgres()) await client.query(statement);
}
