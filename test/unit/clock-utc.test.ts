/**
 * UTC's wall-clock parts are computed from the Date itself (no ICU at start-up): they must be
 * exactly what Intl gives for UTC, at every hour, across leap years and year ends.
 */
import { describe, expect, it } from 'vitest';
import { isValidTimeZone, localStamp, zonedParts } from '../../src/retention/clock.js';

const intl = new Intl.DateTimeFormat('en-US', {
  timeZone: 'UTC',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  weekday: 'long',
});

function intlParts(instant: Date) {
  const parts: Record<string, string> = {};
  for (const part of intl.formatToParts(instant)) parts[part.type] = part.value;
  return {
    year: parts.year!.padStart(4, '0'),
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute,
    second: parts.second,
    weekday: parts.weekday!.toLowerCase(),
  };
}

describe('UTC without Intl', () => {
  it("gives Intl's parts for every name of UTC", () => {
    for (let t = Date.UTC(1999, 11, 31, 22, 59, 58); t < Date.UTC(2029, 0, 2); t += 3_600_000 * 5 + 1_001) {
      const instant = new Date(t);
      const expected = intlParts(instant);
      for (const zone of ['UTC', 'utc', 'Etc/UTC', 'GMT', 'Etc/GMT']) expect(zonedParts(instant, zone)).toEqual(expected);
    }
    expect(localStamp(new Date('2024-02-29T23:59:59.999Z'), 'UTC')).toBe('2024-02-29_23-59-59');
    expect(isValidTimeZone('Etc/UTC')).toBe(true);
    expect(isValidTimeZone('Not/AZone')).toBe(false);
  });
});
