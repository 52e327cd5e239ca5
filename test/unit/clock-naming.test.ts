import { describe, expect, it } from 'vitest';
import { frozenClock, localDate, localStamp, localWeekday } from '../../src/retention/clock.js';
import {
  assertArchiveFileName,
  organizationArchiveName,
  parseOrganizationArchiveName,
  parseTenantArchiveName,
  rotationSibling,
  tenantTimestampedName,
  tenantWeekdayName,
} from '../../src/retention/naming.js';
import { InvalidNameError } from '../../src/errors.js';

describe('time zone arithmetic', () => {
  // 2026-11-23 is a Monday. 23:30 UTC on Sunday 22nd is already Monday in Berlin (UTC+1).
  const instant = new Date('2026-11-22T23:30:00Z');

  it('decides today and the weekday in the configured zone', () => {
    expect(localDate(instant, 'UTC')).toBe('2026-11-22');
    expect(localWeekday(instant, 'UTC')).toBe('sunday');
    expect(localDate(instant, 'Europe/Berlin')).toBe('2026-11-23');
    expect(localWeekday(instant, 'Europe/Berlin')).toBe('monday');
    expect(localWeekday(instant, 'America/Los_Angeles')).toBe('sunday');
  });

  it('formats timestamps for file names with zero padding and a 24 h clock', () => {
    expect(localStamp(new Date('2026-01-02T03:04:05Z'), 'UTC')).toBe('2026-01-02_03-04-05');
    expect(localStamp(new Date('2026-01-02T00:00:00Z'), 'UTC')).toBe('2026-01-02_00-00-00');
  });

  it('lets tests freeze and move the clock', () => {
    const clock = frozenClock('2026-11-23T10:00:00Z');
    expect(clock.now().toISOString()).toBe('2026-11-23T10:00:00.000Z');
    clock.set('2026-11-30T10:00:00Z');
    expect(localWeekday(clock.now(), 'UTC')).toBe('monday');
  });
});

describe('archive names', () => {
  it('names organization archives by code, else id, and parses them back', () => {
    expect(organizationArchiveName({ id: '42', code: 'ACME' }, 'monday')).toBe('org_ACME_monday_backup.zip');
    expect(organizationArchiveName({ id: '42', code: '' }, 'monday')).toBe('org_42_monday_backup.zip');
    expect(organizationArchiveName({ id: '42', code: null }, 'friday')).toBe('org_42_friday_backup.zip');
    expect(parseOrganizationArchiveName('org_ACME_monday_backup.zip')).toEqual({ token: 'ACME', weekday: 'monday' });
    expect(parseOrganizationArchiveName('org_ACME_funday_backup.zip')).toBeNull();
  });

  it('encodes separators and path characters in codes so names stay safe and distinct', () => {
    const slash = organizationArchiveName({ id: '1', code: 'a/b' }, 'monday');
    const under = organizationArchiveName({ id: '2', code: 'a_b' }, 'monday');
    const dots = organizationArchiveName({ id: '3', code: '..' }, 'monday');
    expect(slash).toBe('org_a%2Fb_monday_backup.zip');
    expect(under).toBe('org_a%5Fb_monday_backup.zip');
    expect(dots).toBe('org_%2E%2E_monday_backup.zip');
    for (const name of [slash, under, dots]) expect(() => assertArchiveFileName(name)).not.toThrow();
    expect(organizationArchiveName({ id: '4', code: 'Ünïcode' }, 'monday')).toBe('org_%C3%9Cn%C3%AFcode_monday_backup.zip');
  });

  it("parses tenant names exactly, so one tenant never claims another tenant's file", () => {
    const instant = new Date('2026-11-21T19:04:00Z');
    expect(tenantTimestampedName('acme', instant, 'UTC')).toBe('acme_2026-11-21_19-04-00.zip');
    expect(tenantWeekdayName('acme', 'saturday')).toBe('acme_saturday_backup.zip');
    expect(parseTenantArchiveName('acme_2026-11-21_19-04-00.zip')).toEqual({ tenant: 'acme', stamp: '2026-11-21_19-04-00' });
    expect(parseTenantArchiveName('acme-eu_2026-11-21_19-04-00.zip')?.tenant).toBe('acme-eu');
    expect(parseTenantArchiveName('acme_saturday_backup.zip')).toEqual({ tenant: 'acme', weekday: 'saturday' });
    expect(parseTenantArchiveName('acme_eu_2026-11-21_19-04-00.zip')).toBeNull();
    expect(() => tenantTimestampedName('ac_me', instant, 'UTC')).toThrow(InvalidNameError);
    expect(() => tenantTimestampedName('../x', instant, 'UTC')).toThrow(InvalidNameError);
  });

  it.each([
    ['', 'empty'],
    ['../etc/passwd.zip', 'path separator'],
    ['a\\b.zip', 'path separator'],
    ['x..zip', '".."'],
    ['a\0.zip', 'NUL'],
    ['a\nb.zip', 'control'],
    ['.hidden.zip', 'starts with "."'],
    ['backup.tar', '.zip'],
  ])('refuses the file name %j (%s)', (name, fragment) => {
    expect(() => assertArchiveFileName(name)).toThrow(InvalidNameError);
    expect(() => assertArchiveFileName(name)).toThrow(fragment);
  });
});

describe('encrypted archive names', () => {
  it('are the plain names with .age, owned, rotated and parsed alike', () => {
    expect(organizationArchiveName({ id: '42', code: 'acme' }, 'friday', '.age')).toBe('org_acme_friday_backup.zip.age');
    expect(tenantWeekdayName('acme', 'friday', '.age')).toBe('acme_friday_backup.zip.age');
    expect(parseOrganizationArchiveName('org_acme_friday_backup.zip.age')).toEqual({ token: 'acme', weekday: 'friday' });
    expect(parseTenantArchiveName('acme_2026-11-21_19-04-00.zip.age')).toEqual({ tenant: 'acme', stamp: '2026-11-21_19-04-00' });
    expect(parseTenantArchiveName('acme_friday_backup.zip.age')).toEqual({ tenant: 'acme', weekday: 'friday' });
    for (const bad of ['org_acme_friday_backup.age', 'org_acme_friday_backup.zip.age.zip', 'org_acme_friday_backup.zip.agex']) expect(parseOrganizationArchiveName(bad)).toBeNull();
    expect(() => assertArchiveFileName('acme_friday_backup.zip.age')).not.toThrow();
    expect(() => assertArchiveFileName('acme_friday_backup.age')).toThrow(/does not end in \.zip/);
  });

  it("pair a weekday slot's two files, and leave timestamped names alone", () => {
    expect(rotationSibling('org_acme_friday_backup.zip')).toBe('org_acme_friday_backup.zip.age');
    expect(rotationSibling('org_acme_friday_backup.zip.age')).toBe('org_acme_friday_backup.zip');
    expect(rotationSibling('acme_friday_backup.zip.age')).toBe('acme_friday_backup.zip');
    expect(rotationSibling('acme_2026-11-21_19-04-00.zip.age')).toBeNull();
  });
});
