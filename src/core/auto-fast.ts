/**
 * `auto --org <id>`'s nothing-to-do path at the cost of little more than Node's own start: the
 * CLI tries it before loading Commander and the rest (cli/fast-auto.ts). It loads only the
 * configuration, the ledger and the store — for the database ledger, its driver and one indexed
 * query — and answers from the day cache of the JSON ledger (ledger/json/day-cache.ts) when it
 * holds today. It decides nothing itself: the rules are
 * `autoSkipReason`'s; when a backup is due (or anything is unusual) it returns null and the full
 * command runs as always.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findConfigFile, loadConfig } from '../config/load.js';
import { readDayCache } from '../ledger/json/day-cache.js';
import { dayOf, rememberDay, type ZonedDay } from '../retention/clock.js';
import { autoSkipReason, type AutoOptions, type AutoResult } from './auto-rules.js';
import { createDeps } from './context.js';

export interface FastAutoOptions extends Pick<AutoOptions, 'organizationId' | 'userId' | 'role' | 'owner'> {
  configPath?: string;
  warn?: (message: string) => void;
}

export async function fastAutoSkip(options: FastAutoOptions): Promise<Extract<AutoResult, { action: 'skipped' }> | null> {
  const configFile = await findConfigFile({ configPath: options.configPath });
  const cached = await peekDayCache(configFile);
  if (cached) rememberDay(cached);
  const config = await loadConfig({ configPath: configFile, warn: options.warn });
  const deps = await createDeps({ config });
  let skip: Awaited<ReturnType<typeof autoSkipReason>>;
  try {
    skip = await autoSkipReason(deps, { organizationId: options.organizationId, userId: options.userId ?? null, role: options.role, owner: options.owner });
  } finally {
    // The database ledger's connection: the shortcut's process must end when it has answered.
    await deps.ledger.close();
  }
  const now = deps.clock.now().getTime();
  const ledger = deps.ledger as Partial<{ cacheDay(day: ZonedDay): Promise<void> }>;
  if (ledger.cacheDay && (!cached || cached.timeZone !== config.timezone || now < cached.from || now >= cached.until)) {
    const day = dayOf(new Date(now), config.timezone);
    // Cached only when its bounds check out (a zone whose midnight is skipped by DST is not cached).
    if (dayOf(new Date(day.from), config.timezone).date === day.date && dayOf(new Date(day.until - 1), config.timezone).date === day.date) {
      await ledger.cacheDay(day);
    }
  }
  return skip;
}

/**
 * The day cache of the store the configuration names, read before the configuration is validated
 * (so that validating its time zone needs no ICU either). Only a literal `storage.dir` is
 * followed; the store's ownership is checked right after, by `createDeps`, before anything is used.
 */
async function peekDayCache(configFile: string) {
  try {
    const raw = JSON.parse(await readFile(configFile, 'utf8')) as { storage?: { dir?: unknown }; timezone?: unknown };
    const dir = raw.storage?.dir;
    if (typeof dir !== 'string' || dir.includes('${') || typeof raw.timezone !== 'string') return null;
    const day = await readDayCache(path.resolve(path.dirname(configFile), dir));
    return day?.timeZone === raw.timezone ? day : null;
  } catch {
    return null;
  }
}
