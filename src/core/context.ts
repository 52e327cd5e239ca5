/**
 * What every use case receives: the resolved configuration, an injected clock, the store, the
 * ledger and a progress reporter. The CLI builds it once per command; library callers may build
 * their own (e.g. with a frozen clock in tests).
 */
import path from 'node:path';
import { assertConnectionReady, loadConfig, resolveConfig, type LoadConfigOptions, type ResolvedConfig } from '../config/load.js';
import type { RawConfig } from '../config/schema.js';
import { ConfigError, UsageError } from '../errors.js';
import type { LedgerTables } from '../ledger/database/dialect.js';
import { MAX_LOGS_TABLE, assertTableName } from '../ledger/database/dialect.js';
import type { SessionTarget } from '../ledger/database/session.js';
import { sharedFileSystemOf } from '../ledger/host.js';
import type { Ledger } from '../ledger/types.js';
import { systemClock, type Clock } from '../retention/clock.js';
import { DEFAULT_HISTORY_POLICY, type HistoryPolicy } from '../retention/history.js';
import { LocalStore } from '../store/local.js';
import { StoreGuard } from '../store/safety.js';
import type { Store } from '../store/types.js';

/** Progress for long operations. The CLI shows a spinner on a TTY; everywhere else it is silent. */
export interface Progress {
  update(text: string): void;
  /** A line worth keeping (warnings, recovered records); goes to stderr, never stdout. */
  note(text: string): void;
  stop(): void;
}

export const silentProgress: Progress = { update: () => undefined, note: () => undefined, stop: () => undefined };

export interface Deps {
  config: ResolvedConfig;
  clock: Clock;
  /** Where archives live: the local folder, or an S3 bucket staging in that folder (`storage.type`). */
  store: Store;
  ledger: Ledger;
  progress: Progress;
}

export interface CreateDepsOptions extends LoadConfigOptions {
  /**
   * The configuration itself instead of a file: either what `resolveConfig` returned, or a plain
   * `.backuprc`-shaped object (validated here; relative paths resolve against `baseDir`).
   */
  config?: ResolvedConfig | RawConfig;
  /** With a plain `config` object: the folder relative paths resolve against (default: the current directory). */
  baseDir?: string;
  clock?: Clock;
  progress?: Progress;
}

export async function createDeps(options: CreateDepsOptions = {}): Promise<Deps> {
  if (options === null || typeof options !== 'object') throw new UsageError('createDeps takes an options object, e.g. createDeps({ configPath: ".backuprc" }).');
  const config =
    options.config === undefined
      ? await loadConfig(options)
      : isResolved(options.config)
        ? options.config
        : resolveConfig(options.config, { baseDir: options.baseDir ?? options.cwd }, options.env);
  const clock = options.clock ?? systemClock;
  // The store's ownership rules (store/safety.ts), checked once per command before anything else:
  // every command refuses an unsafe store, even one that would only read it or report per item.
  const guard = new StoreGuard(config.storage.dir);
  await guard.check();
  const local = new LocalStore(config.storage.dir, guard);
  return {
    config,
    clock,
    store: config.storage.type === 's3' ? await createS3Store(config.storage, local) : local,
    ledger: await createLedger(config, clock, guard),
    progress: options.progress ?? silentProgress,
  };
}

/** The SDK is loaded only for an S3 store (~100 ms), so local stores start as fast as before. */
async function createS3Store(settings: Extract<ResolvedConfig['storage'], { type: 's3' }>, staging: LocalStore): Promise<Store> {
  const { S3Store } = await import('../store/s3.js');
  return new S3Store(settings, staging);
}

/**
 * The ledger kind the configuration names (`ledger.type`): the JSON ledger in the store (default),
 * or the `auto_backup_logs` table of a database. Each is imported only when chosen: a command on
 * the JSON ledger loads no database driver, and the other way round.
 */
async function createLedger(config: ResolvedConfig, clock: Clock, guard: StoreGuard): Promise<Ledger> {
  const keep = historyPolicyOf(config);
  if (config.ledger?.type !== 'database') {
    const { JsonFileLedger } = await import('../ledger/json-file.js');
    return new JsonFileLedger(config.storage.dir, clock, guard, { keep });
  }
  const { DatabaseLedger } = await import('../ledger/database/index.js');
  return new DatabaseLedger({ target: await databaseLedgerTarget(config), tables: ledgerTables(config), clock, keep });
}

/** The tables of the database ledger (`ledger.table`, `ledger.settingsTable`), checked. */
export function ledgerTables(config: Pick<ResolvedConfig, 'ledger'>): LedgerTables {
  const logs = config.ledger?.table ?? 'auto_backup_logs';
  const settings = config.ledger?.settingsTable ?? 'auto_backup_settings';
  for (const [key, name, max] of [
    ['ledger.table', logs, MAX_LOGS_TABLE],
    ['ledger.settingsTable', settings, undefined],
  ] as const) {
    try {
      assertTableName(name, key, max);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  return { logs, settings };
}

/**
 * Where the database ledger lives: `ledger.client` + `ledger.connection`, else the organizations
 * database. Its `${VAR}`s must be set and its URL readable (as for any connection). A SQLite ledger
 * on a file system several machines share is refused (SQLite's locking is not safe there).
 */
export async function databaseLedgerTarget(config: ResolvedConfig): Promise<SessionTarget> {
  const ledger = config.ledger;
  const own = ledger?.connection !== undefined;
  const client = ledger?.client ?? config.organizations?.client;
  const connection = own ? ledger!.connection : ledger?.client === undefined || ledger.client === config.organizations?.client ? config.organizations?.connection : undefined;
  if (client === undefined || connection === undefined) {
    throw new ConfigError(
      'ledger.type "database" keeps the ledger in a database: configure the organizations database (organizations.client and .connection), or ledger.client and ledger.connection.',
    );
  }
  assertConnectionReady(config, own ? 'ledger' : 'organizations');
  const target: SessionTarget = { client, connection, mayCreateFile: own, sharedWithOrganizations: !own };
  if (client === 'better-sqlite3') {
    const { sqliteFile } = await import('../ledger/database/session.js');
    const shared = await sharedFileSystemOf(path.dirname(sqliteFile(connection)));
    if (shared)
      throw new ConfigError(
        `The SQLite ledger ${sqliteFile(connection)} is on ${shared}, a file system several machines share, where SQLite's locking is not safe: use PostgreSQL or MariaDB for a ledger shared between servers.`,
      );
  }
  return target;
}

/** `ledger.keep`, with its defaults. */
export function historyPolicyOf(config: Pick<ResolvedConfig, 'ledger'>): HistoryPolicy {
  return { ...DEFAULT_HISTORY_POLICY, ...config.ledger?.keep };
}

/** A resolved configuration carries what no `.backuprc` may contain (its strict schema refuses these keys). */
function isResolved(config: ResolvedConfig | RawConfig): config is ResolvedConfig {
  return typeof config === 'object' && config !== null && 'missingConnectionEnv' in config && 'file' in config;
}
