/**
 * Pure retention (restic/spatie semantics) over a frozen set of backup instants.
 */
import { describe, expect, it } from 'vitest';
import { hasRetentionRules, isRetentionCandidate, isoWeekOf, selectForRemoval } from '../../src/retention/policy.js';

// id → instant. 2026-01-01 is a Thursday (ISO week 2026-W01 runs Mon 2025-12-29 … Sun 2026-01-04).
const BACKUPS = [
  { id: 1, created_at: '2026-01-01T10:00:00.000Z' }, // W01, January
  { id: 2, created_at: '2026-01-01T18:00:00.000Z' }, // W01, same day as 1
  { id: 3, created_at: '2026-01-02T09:00:00.000Z' }, // W01 (Friday)
  { id: 4, created_at: '2026-01-05T09:00:00.000Z' }, // W02 (Monday)
  { id: 5, created_at: '2026-01-05T20:00:00.000Z' }, // W02, same day as 4
  { id: 6, created_at: '2026-01-12T08:00:00.000Z' }, // W03, newest of January
  { id: 7, created_at: '2026-02-01T08:00:00.000Z' }, // W05 (Sunday), February
  { id: 8, created_at: '2026-02-03T08:00:00.000Z' }, // W06, newest of February
  { id: 9, created_at: '2026-03-15T08:00:00.000Z' }, // W11, March, newest overall
];

const remove = (policy: Parameters<typeof selectForRemoval>[1], timeZone = 'UTC', records = BACKUPS) => selectForRemoval(records, policy, timeZone).sort((a, b) => a - b);

describe('selectForRemoval', () => {
  it('keepLast keeps the N newest', () => {
    expect(remove({ keepLast: 3 })).toEqual([1, 2, 3, 4, 5, 6]);
    expect(remove({ keepLast: 20 })).toEqual([]);
  });

  it('keepDaily keeps the newest backup of each of the last N days that have backups', () => {
    expect(remove({ keepDaily: 3 })).toEqual([1, 2, 3, 4, 5, 6]);
    expect(remove({ keepDaily: 5 })).toEqual([1, 2, 3, 4]); // 2026-01-05 keeps its newest (5), not 4
    expect(remove({ keepDaily: 7 })).toEqual([1, 4]);
  });

  it('keepWeekly counts ISO weeks that have backups', () => {
    expect(remove({ keepWeekly: 3 })).toEqual([1, 2, 3, 4, 5, 6]);
    expect(remove({ keepWeekly: 6 })).toEqual([1, 2, 4]);
  });

  it('keepMonthly keeps the newest backup of each month', () => {
    expect(remove({ keepMonthly: 2 })).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(remove({ keepMonthly: 3 })).toEqual([1, 2, 3, 4, 5, 7]);
  });

  it('keeps a backup kept by any rule', () => {
    expect(remove({ keepLast: 1, keepMonthly: 3 })).toEqual([1, 2, 3, 4, 5, 7]);
    expect(remove({ keepLast: 2, keepWeekly: 4, keepMonthly: 3 })).toEqual([1, 2, 3, 4, 5]);
    expect(remove({ keepLast: 2, keepWeekly: 5, keepMonthly: 3 })).toEqual([1, 2, 3, 4]);
  });

  it('never removes the newest backup, and removes nothing without rules', () => {
    expect(remove({ keepMonthly: 1 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(remove({})).toEqual([]);
    expect(remove({ keepLast: 0, keepDaily: 0 })).toEqual([]);
    expect(remove({ keepLast: 1 }, 'UTC', [])).toEqual([]);
    expect(remove({ keepLast: 1 }, 'UTC', [BACKUPS[0]!])).toEqual([]);
  });

  it('does not depend on the input order; equal instants are ordered by id', () => {
    const shuffled = [...BACKUPS].reverse();
    expect(remove({ keepDaily: 5 }, 'UTC', shuffled)).toEqual([1, 2, 3, 4]);
    const same = [
      { id: 10, created_at: '2026-05-01T00:00:00.000Z' },
      { id: 11, created_at: '2026-05-01T00:00:00.000Z' },
    ];
    expect(remove({ keepLast: 1 }, 'UTC', same)).toEqual([10]);
  });

  it('uses days of the configured time zone', () => {
    const records = [
      { id: 1, created_at: '2026-01-01T10:00:00.000Z' }, // Tokyo: 01-01 19:00
      { id: 2, created_at: '2026-01-01T18:00:00.000Z' }, // Tokyo: 01-02 03:00
      { id: 3, created_at: '2026-01-02T01:00:00.000Z' }, // Tokyo: 01-02 10:00
    ];
    expect(remove({ keepDaily: 2 }, 'UTC', records)).toEqual([1]);
    expect(remove({ keepDaily: 2 }, 'Asia/Tokyo', records)).toEqual([2]);
  });
});

describe('isoWeekOf', () => {
  it('follows ISO 8601 week numbering across year boundaries', () => {
    expect(isoWeekOf('2026-01-01')).toBe('2026-W01');
    expect(isoWeekOf('2025-12-29')).toBe('2026-W01');
    expect(isoWeekOf('2027-01-01')).toBe('2026-W53');
    expect(isoWeekOf('2021-01-03')).toBe('2020-W53');
    expect(isoWeekOf('2024-12-30')).toBe('2025-W01');
    expect(isoWeekOf('2026-03-15')).toBe('2026-W11');
  });
});

describe('isRetentionCandidate', () => {
  const record = { status: 'success' as const, tenant: 'acme', backup_filename: 'acme_2026-01-01_10-00-00.zip' };

  it('accepts successful timestamped backups of the tenant only', () => {
    expect(isRetentionCandidate(record, 'manual', 'acme')).toBe(true);
    expect(isRetentionCandidate(record, null, 'acme')).toBe(true);
    expect(isRetentionCandidate(record, 'pre_restore', 'acme')).toBe(false);
    expect(isRetentionCandidate({ ...record, status: 'failed' }, 'manual', 'acme')).toBe(false);
    expect(isRetentionCandidate({ ...record, status: 'in_progress' }, 'manual', 'acme')).toBe(false);
    expect(isRetentionCandidate({ ...record, backup_filename: 'acme_monday_backup.zip' }, 'manual', 'acme')).toBe(false);
    expect(isRetentionCandidate(record, 'manual', 'other')).toBe(false);
    expect(isRetentionCandidate({ ...record, tenant: 'acme', backup_filename: 'acme.eu_2026-01-01_10-00-00.zip' }, 'manual', 'acme')).toBe(false);
    // Encrypted archives are backups like any other.
    expect(isRetentionCandidate({ ...record, backup_filename: 'acme_2026-01-01_10-00-00.zip.age' }, 'manual', 'acme')).toBe(true);
    expect(isRetentionCandidate({ ...record, backup_filename: 'acme_monday_backup.zip.age' }, 'manual', 'acme')).toBe(false);
  });

  it('knows when a policy has rules', () => {
    expect(hasRetentionRules(undefined)).toBe(false);
    expect(hasRetentionRules({})).toBe(false);
    expect(hasRetentionRules({ keepLast: 0 })).toBe(false);
    expect(hasRetentionRules({ keepWeekly: 1 })).toBe(true);
  });
});
