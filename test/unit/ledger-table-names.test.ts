/**
 * `ledger.table` / `ledger.settingsTable`: plain names only, and the records table short enough
 * that every name derived from it (its indexes) fits the engines' identifier limit — PostgreSQL
 * cuts longer names silently (two indexes could then meet under one name, and CREATE INDEX IF NOT
 * EXISTS would skip the second), MariaDB refuses them.
 */
import { describe, expect, it } from 'vitest';
import { ledgerTables } from '../../src/core/context.js';
import { ConfigError } from '../../src/errors.js';
import { DIALECTS, MAX_LOGS_TABLE } from '../../src/ledger/database/dialect.js';

const tables = (table: string, settingsTable = 'auto_backup_settings') =>
  ledgerTables({ ledger: { type: 'database', table, settingsTable } } as Parameters<typeof ledgerTables>[0]);

describe("the database ledger's table names", () => {
  it('derive index names that all fit 63 characters, at the longest table name allowed', () => {
    const longest = 'l'.repeat(MAX_LOGS_TABLE);
    expect(tables(longest)).toEqual({ logs: longest, settings: 'auto_backup_settings' });
    for (const dialect of Object.values(DIALECTS)) {
      const statements = dialect.createStatements({ logs: longest, settings: 's'.repeat(63) }).join('\n');
      const identifiers = [...statements.matchAll(/["`]([A-Za-z0-9_]+)["`]/g)].map((m) => m[1]!);
      expect(identifiers.filter((name) => name.startsWith(`${longest}_`)).length).toBeGreaterThanOrEqual(6);
      expect(identifiers.filter((name) => name.length > 63)).toEqual([]);
      expect(new Set(identifiers.filter((name) => name.startsWith(`${longest}_`))).size).toBe(6);
    }
  });

  it('refuses a records table name whose index names would not fit, and other names that are not plain, with a ConfigError', () => {
    for (const [table, settings, message] of [
      [
        'l'.repeat(MAX_LOGS_TABLE + 1),
        'auto_backup_settings',
        /ledger.table "l+" is not a plain table name \(letters, digits and _, at most 50: its index names add up to 13 more\)/,
      ],
      ['auto_backup_logs', 's'.repeat(64), /ledger.settingsTable "s+" is not a plain table name \(letters, digits and _, at most 63\)/],
      ['logs; DROP TABLE x', 'auto_backup_settings', /ledger.table .* is not a plain table name/],
      ['1logs', 'auto_backup_settings', /ledger.table "1logs"/],
    ] as const) {
      const error = (() => {
        try {
          tables(table, settings);
          return null;
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
    expect(tables('auto_backup_logs', 's'.repeat(63)).settings).toHaveLength(63);
  });
});
