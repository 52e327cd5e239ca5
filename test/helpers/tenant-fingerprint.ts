/**
 * What a tenant database holds, computed by the server itself, for "exactly equal" assertions:
 * every table's row count and a checksum over all its rows (order-independent, NULL distinct
 * from ''), and the definitions of views, routines and triggers. PostgreSQL: schema `public`;
 * MariaDB: the connection's database.
 */
import type { Knex } from 'knex';

type Row = Record<string, unknown>;

export async function tenantFingerprint(k: Knex, engine: 'postgres' | 'mysql'): Promise<Record<string, unknown>> {
  return engine === 'postgres' ? postgresFingerprint(k) : mysqlFingerprint(k);
}

async function postgresFingerprint(k: Knex): Promise<Record<string, unknown>> {
  const rows = async (sql: string) => (await k.raw(sql)).rows as Row[];
  const out: Record<string, unknown> = {};
  const tables = await rows(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  out.tables = tables;
  for (const { t } of tables) {
    out[`table ${String(t)}`] = (await rows(`SELECT count(*) AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS md5 FROM public."${String(t)}" x`))[0];
  }
  out.views = await rows(`SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1`);
  out.functions = await rows(`SELECT p.proname, pg_get_functiondef(p.oid) AS def FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`);
  out.triggers = await rows(`SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`);
  out.sequences = await rows(`SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`);
  return out;
}

async function mysqlFingerprint(k: Knex): Promise<Record<string, unknown>> {
  const rows = async (sql: string, bindings: string[] = []) => (await k.raw(sql, bindings))[0] as Row[];
  const out: Record<string, unknown> = {};
  const tables = await rows(`SELECT TABLE_NAME AS t, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`);
  out.tables = tables;
  for (const { t, type } of tables as Array<{ t: string; type: string }>) {
    if (type === 'VIEW') continue;
    const columns = await rows(`SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, [t]);
    const row = `MD5(CONCAT_WS('|', ${columns.map(({ c }) => `IFNULL(HEX(CAST(\`${String(c)}\` AS BINARY)), 'NULL')`).join(', ')}))`;
    out[`table ${t}`] = (await rows(`SELECT COUNT(*) AS n, MD5(IFNULL(GROUP_CONCAT(${row} ORDER BY ${row} SEPARATOR ''), '')) AS md5 FROM \`${t}\``))[0];
  }
  out.views = await rows(`SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1`);
  out.routines = await rows(`SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY 1`);
  out.triggers = await rows(`SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1`);
  return out;
}
