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

/**
 * One calendar day of a zone: its date, weekday, and the instants it starts and ends. Days the
 * process already knows (`rememberDay`, from a cache written by an earlier run) answer `localDate`
 * and `localWeekday` without ICU: setting up ICU's formatter costs ~10 ms, which is most of what
 * `auto`'s nothing-to-do path would cost beyond Node's own start.
 */
export interface ZonedDay {
  timeZone: string;
  date: string;
  weekday: Weekday;
  /** Epoch milliseconds of the day's first instant, and of the next day's. */
  from: number;
  until: number;
}

const knownDays: ZonedDay[] = [];

export function rememberDay(day: ZonedDay): void {
  knownDays.push(day);
}

function knownDay(instant: Date, timeZone: string): ZonedDay | undefined {
  const at = instant.getTime();
  return knownDays.find((day) => day.timeZone === timeZone && day.from <= at && at < day.until);
}

/** The day `instant` falls on in `timeZone`, with its bounds. */
export function dayOf(instant: Date, timeZone: string): ZonedDay {
  const known = knownDay(instant, timeZone);
  if (known) return known;
  const p = zonedParts(instant, timeZone);
  const from = localMidnight(Number(p.year), Number(p.month), Number(p.day), timeZone)!;
  const next = new Date(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day) + 1));
  const until = localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone)!;
  return { timeZone, date: `${p.year}-${p.month}-${p.day}`, weekday: p.weekday, from: from.getTime(), until: until.getTime() };
}

/** The instant of midnight starting `year-month-day` in `timeZone` (null for an impossible date). */
export function localMidnight(year: number, month: number, day: number, timeZone: string): Date | null {
  const naive = Date.UTC(year, month - 1, day);
  const check = new Date(naive);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  // Twice: the second pass corrects for an offset that differs at the first guess (DST change).
  let guess = naive;
  for (let i = 0; i < 2; i += 1) {
    const p = zonedParts(new Date(guess), timeZone);
    const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
    guess -= wall - naive;
  }
  return new Date(guess);
}

/** True when `timeZone` is an IANA name this Node runtime knows (a remembered day's zone was checked by ICU). */
export function isValidTimeZone(timeZone: string): boolean {
  if (isUtc(timeZone)) return true;
  if (knownDays.some((day) => day.timeZone === timeZone)) return true;
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
  const known = knownDay(instant, timeZone);
  if (known) return known.date;
  const p = zonedParts(instant, timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}

export function localWeekday(instant: Date, timeZone: string): Weekday {
  return knownDay(instant, timeZone)?.weekday ?? zonedParts(instant, timeZone).weekday;
}

/** `YYYY-MM-DD_HH-mm-ss` of `instant` in `timeZone`, used in timestamped archive names. */
export function localStamp(instant: Date, timeZone: string): string {
  const p = zonedParts(instant, timeZone);
  return `${p.year}-${p.month}-${p.day}_${p.hour}-${p.minute}-${p.second}`;
}
