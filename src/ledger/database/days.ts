/**
 * What `auto` decides on, from the database ledger: one organization's day (one indexed query),
 * or every organization's day at once for `auto --all` (two queries: every settings row, and the
 * day's success records found through the `created_at` index).
 */
import type { LedgerEntry, OrganizationDay, OrganizationSettings } from '../types.js';
import type { LedgerTables } from './dialect.js';
import { entryOfRow, selectRecords } from './rows.js';
import type { Row, SqlSession } from './session.js';

const DEFAULT_SETTINGS: OrganizationSettings = { auto_backup_enabled: true, updated_at: null };
const DAY_MS = 86_400_000;
/**
 * A record of `backup_date` D was created on day D in the configured time zone, i.e. after
 * D 00:00 UTC − 14 h. The bound only lets the index skip older records; a week of margin leaves
 * room for a time zone changed meanwhile. (A success missed by the bound would only make `auto
 * --all` take the organization's lock and read its day exactly, as `auto --org` does.)
 */
const CREATED_MARGIN_MS = 7 * DAY_MS;

function settingsOf(enabled: unknown, updated: unknown): OrganizationSettings {
  return { auto_backup_enabled: Number(enabled) === 1, updated_at: updated === null || updated === undefined ? null : String(updated) };
}

export async function dayOfOrganization(db: SqlSession, tables: LedgerTables, organizationId: string, backupDate: string): Promise<OrganizationDay> {
  const { dialect } = db;
  // One indexed query: the settings row (if any) joined with the day's successes (if any).
  const rows = await db.query(
    `SELECT CASE WHEN s.auto_backup_enabled THEN 1 ELSE 0 END AS s_enabled, ${dialect.timestampText('s.updated_at')} AS s_updated, s.organization_id AS s_id, ${dialect.selectList('l')} ` +
      `FROM (SELECT 1 AS one) x LEFT JOIN ${dialect.quote(tables.settings)} s ON s.organization_id = ? ` +
      `LEFT JOIN ${dialect.quote(tables.logs)} l ON l.organization_id = ? AND l.kind = 'organization' AND ${dialect.name === 'sqlite' ? '+' : ''}l.status = 'success' AND l.backup_date = ? ` +
      'ORDER BY l.created_at DESC, l.id DESC',
    [organizationId, organizationId, backupDate],
  );
  const first = rows[0];
  const found = first && first.s_id !== null && first.s_id !== undefined;
  return {
    settings: found ? settingsOf(first.s_enabled, first.s_updated) : { ...DEFAULT_SETTINGS },
    successes: rows.filter((row) => row.id !== null && row.id !== undefined).map(entryOfRow),
  };
}

export async function organizationDays(db: SqlSession, tables: LedgerTables, backupDate: string): Promise<Map<string, OrganizationDay | null>> {
  const { dialect } = db;
  const days = new Map<string, OrganizationDay>();
  const dayOf = (id: string) => days.get(id) ?? days.set(id, { settings: { ...DEFAULT_SETTINGS }, successes: [] }).get(id)!;
  const settings: Row[] = await db.query(
    `SELECT organization_id, CASE WHEN auto_backup_enabled THEN 1 ELSE 0 END AS enabled, ${dialect.timestampText('updated_at')} AS updated FROM ${dialect.quote(tables.settings)}`,
  );
  for (const row of settings) dayOf(String(row.organization_id)).settings = settingsOf(row.enabled, row.updated);
  const since = new Date(Date.parse(`${backupDate}T00:00:00Z`) - CREATED_MARGIN_MS).toISOString();
  const rows = await db.query(
    selectRecords(dialect, tables.logs, `l.created_at >= ? AND l.kind = 'organization' AND ${dialect.name === 'sqlite' ? '+' : ''}l.status = 'success' AND l.backup_date = ?`),
    [dialect.timestamp(since), backupDate],
  );
  for (const row of rows) {
    const entry: LedgerEntry = entryOfRow(row);
    if (entry.record.organization_id !== null) dayOf(entry.record.organization_id).successes.push(entry);
  }
  return days;
}
