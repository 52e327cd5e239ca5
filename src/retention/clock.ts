/**
 * The injected clock and time-zone arithmetic. Every rule that depends on "today" or "this weekday"
 * takes a Clock, so tests can freeze time (spatie's setNow) instead of waiting for Monday.
 */

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that always answers the same instant; tests move it with `set`. */
export function frozenClock(at: Date | string): Clock & { set(at: Date | string): void } {
  let current = new Date(at);
  return {
    now: () => new Date(current),
    set(next) {
      current = new Date(next);
    },
  };
}

export const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface ZonedParts {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
  weekday: Weekday;
}

const formatterCache = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatterCache.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'long',
    });
    formatterCache.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * UTC under its usual names (compared as Intl compares zone names: case aside). Its parts come
 * from the Date itself: no ICU time-zone data is loaded, which costs ~10 ms of every start-up
 * (`auto`'s nothing-to-do path, bench/PERFORMANCE.md pair 7). Any other zone goes through Intl.
 */
const UTC_NAMES = new Set(['utc', 'etc/utc', 'gmt', 'etc/gmt']);
const isUtc = (timeZone: string) => UTC_NAMES.has(timeZone.toLowerCase());
const WEEKDAYS_FROM_SUNDAY: readonly Weekday[] = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const two = (n: number) => String(n).padStart(2, '0');

/** True when `timeZone` is an IANA name this Node runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (isUtc(timeZone)) return true;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function systemTimeZone(): string {
  if (process.env.TZ !== undefined && isUtc(process.env.TZ)) return 'UTC';
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** The wall-clock parts of `instant` in `timeZone`. */
export function zonedParts(instant: Date, timeZone: string): ZonedParts {
  if (isUtc(timeZone)) {
    return {
      year: String(instant.getUTCFullYear()).padStart(4, '0'),
      month: two(instant.getUTCMonth() + 1),
      day: two(instant.getUTCDate()),
      hour: two(instant.getUTCHours()),
      minute: two(instant.getUTCMinutes()),
      second: two(instant.getUTCSeconds()),
      weekday: WEEKDAYS_FROM_SUNDAY[instant.getUTCDay()]!,
    };
  }
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant)) parts[part.type] = part.value;
  const weekday = (parts.weekday ?? '').toLowerCase() as Weekday;
  return {
    year: (parts.year ?? '').padStart(4, '0'),
    month: parts.month ?? '',
    day: parts.day ?? '',
    hour: parts.hour ?? '',
    minute: parts.minute ?? '',
    second: parts.second ?? '',
    weekday,
  };
}

/** `YYYY-MM-DD` of `instant` in `timeZone`: the `backup_date` of a ledger record. */
export function localDate(instant: Date, timeZone: string): string {
  const p = zonedParts(instant, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

export function localWeekday(instant: Date, timeZone: string): Weekday {
  return zonedParts(instant, timeZone).weekday;
}

/** `YYYY-MM-DD_HH-mm-ss` of `instant` in `timeZone`, used in timestamped archive names. */
export function localStamp(instant: Date, timeZone: string): string {
  const p = zonedParts(instant, timeZone);
  return `${p.year}-${p.month}-${p.day}_${p.hour}-${p.minute}-${p.second}`;
}
