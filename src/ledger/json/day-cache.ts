/**
 * `<storage>/ledger/today.json`: today's date in the configured zone, with the instants the day
 * starts and ends, as computed by an earlier run. `auto`'s nothing-to-do path reads it instead of
 * setting up ICU (~10 ms, more than everything else it does beyond Node's start). Only a cache:
 * missing, unreadable, of another zone or another day, it is ignored and written again.
 */
import { lstat } from 'node:fs/promises';
import { WEEKDAYS, type ZonedDay } from '../../retention/clock.js';
import { LedgerPaths, readLedgerFile, writeLedgerFile } from './files.js';

const HOUR = 3_600_000;

export function dayCacheFile(storageDir: string): string {
  return new LedgerPaths(storageDir).todayCache;
}

/** The cached day, if the file holds a plausible one (a day of 20 to 26 hours, a real weekday). */
export async function readDayCache(storageDir: string): Promise<ZonedDay | null> {
  const text = await readLedgerFile(dayCacheFile(storageDir)).catch(() => null);
  if (!text) return null;
  try {
    const day = JSON.parse(text) as Partial<ZonedDay>;
    const plausible =
      typeof day.timeZone === 'string' &&
      typeof day.date === 'string' &&
      /^\d{4}-\d{2}-\d{2}$/.test(day.date) &&
      WEEKDAYS.includes(day.weekday as ZonedDay['weekday']) &&
      typeof day.from === 'number' &&
      typeof day.until === 'number' &&
      day.until - day.from >= 20 * HOUR &&
      day.until - day.from <= 26 * HOUR;
    return plausible ? (day as ZonedDay) : null;
  } catch {
    return null;
  }
}

/** Writes the day (best effort: a cache that cannot be written is simply not there next time). */
export async function writeDayCache(storageDir: string, day: ZonedDay): Promise<void> {
  const paths = new LedgerPaths(storageDir);
  // Only beside a ledger that exists: a skip never creates the ledger's folder.
  if (!(await lstat(paths.dir).catch(() => null))?.isDirectory()) return;
  await writeLedgerFile(paths, paths.todayCache, `${JSON.stringify(day)}\n`, { durable: false }).catch(() => undefined);
}
