/**
 * Configuration discovery and loading: `--config`, else `$TENANT_BACKUP_CONFIG`, else `.backuprc`
 * in the current directory or its parents. `${VAR}` in any string is replaced from the environment
 * (a missing variable is an error naming it). Relative paths resolve against the config file's folder.
 */
import { open, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError, describeJsonError, registerSecrets } from '../errors.js';
import { systemTimeZone } from '../retention/clock.js';
import { defineConfigSchemas, PART_SIZE_MIB, UPLOAD_CONCURRENCY, type SERVER_SIDE_ENCRYPTIONS, type STORAGE_CLASSES } from './define.js';
import { fastParseConfig } from './fast-check.js';
import { sameDatabase } from './same-database.js';
import type { ParsedConfig } from './schema.js';
import { assertConnectionUsable, connectionSecretValues, encryptionSecretValues, holdsLiteralPassword, notificationSecretValues } from './secrets.js';

export const CONFIG_FILE_NAME = '.backuprc';

export interface ResolvedConfig extends Omit<ParsedConfig, 'timezone'> {
  /** Absolute path of the file this came from; null for a configuration given as an object. */
  file: string | null;
  timezone: string;
  storage: ResolvedStorage;
  /**
   * `${VAR}`s of connection settings whose variable is not set, by section (`organizations`,
   * `tenants.<name>`). Commands that never connect (list, status, auto's skip path) work without
   * them; connecting raises the ConfigError (see `assertConnectionReady`).
   */
  missingConnectionEnv: Record<string, { variable: string; path: string }>;
}

/** `storage` with its defaults filled in; `dir` is absolute (the archives, or the S3 store's staging). */
export type ResolvedStorage =
  | { type: 'local'; dir: string }
  | {
      type: 's3';
      dir: string;
      bucket: string;
      /** '' or ending with '/'. */
      prefix: string;
      region?: string;
      endpoint?: string;
      forcePathStyle: boolean;
      serverSideEncryption?: (typeof SERVER_SIDE_ENCRYPTIONS)[number];
      sseKmsKeyId?: string;
      storageClass?: (typeof STORAGE_CLASSES)[number];
      partSizeBytes: number;
      uploadConcurrency: number;
      keepLocalCopy: boolean;
    };

export interface LoadConfigOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where warnings go (a readable file holding a password); default: one line on stderr. */
  warn?: (message: string) => void;
}

export async function findConfigFile(options: LoadConfigOptions = {}): Promise<string> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (options.configPath) return path.resolve(cwd, options.configPath);
  if (env.TENANT_BACKUP_CONFIG) return path.resolve(cwd, env.TENANT_BACKUP_CONFIG);
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, CONFIG_FILE_NAME);
    if (await isFile(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw ConfigError.notFound(`no ${CONFIG_FILE_NAME} in ${cwd} or its parents, no --config, no TENANT_BACKUP_CONFIG`);
}

export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const file = await findConfigFile(options);
  let text: string;
  let mode: number;
  try {
    const handle = await open(file, 'r');
    try {
      mode = (await handle.stat()).mode;
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw ConfigError.notFound(`${file} does not exist`);
    throw new ConfigError(`Cannot read configuration ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Configuration ${file} is ${describeJsonError(error, text)}.`);
  }
  const config = resolveConfig(raw, file, options.env ?? process.env);
  if ((mode & 0o044) !== 0 && (connectionsOf(raw).some(holdsLiteralPassword) || passphrasesOf(raw).some(isLiteral))) {
    warnOnce(
      file,
      `warning: ${file} holds a password in clear and is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 on it, or take the password from the environment with \${VAR}.`,
      options.warn,
    );
  }
  return config;
}

const warned = new Set<string>();

/** Each warning once per process and file (a library may load the same file many times). */
function warnOnce(file: string, message: string, warn: ((message: string) => void) | undefined): void {
  if (warned.has(file)) return;
  warned.add(file);
  (warn ?? ((text: string) => process.stderr.write(`${text}\n`)))(message);
}

/** The encryption passphrases of a configuration object, as written (unvalidated). */
function passphrasesOf(raw: unknown): unknown[] {
  if (!raw || typeof raw !== 'object') return [];
  const { encryption, tenants } = raw as { encryption?: { passphrase?: unknown }; tenants?: Record<string, { encryption?: { passphrase?: unknown } }> };
  const list: unknown[] = [encryption?.passphrase];
  if (tenants && typeof tenants === 'object') for (const tenant of Object.values(tenants)) list.push(tenant?.encryption?.passphrase);
  return list;
}

/** A string with text outside `${VAR}` references. */
function isLiteral(value: unknown): boolean {
  return typeof value === 'string' && value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/g, '') !== '';
}

/** The connection settings of a configuration object, as written (unvalidated). */
function connectionsOf(raw: unknown): unknown[] {
  if (!raw || typeof raw !== 'object') return [];
  const { organizations, tenants, ledger } = raw as {
    organizations?: { connection?: unknown };
    tenants?: Record<string, { connection?: unknown }>;
    ledger?: { connection?: unknown };
  };
  const list: unknown[] = [organizations?.connection, ledger?.connection];
  if (tenants && typeof tenants === 'object') for (const tenant of Object.values(tenants)) list.push(tenant?.connection);
  return list.filter((connection) => connection !== undefined);
}

/**
 * Validates an already-parsed configuration object (also used by library callers). `source` is
 * the file it was read from (relative paths resolve against its folder), or for a configuration
 * that never was a file `{ baseDir }` (default: the current directory). A valid
 * configuration passes a zod-free check that gives zod's result (fast-check.ts); zod itself is
 * loaded only for anything else, so errors keep zod's exact paths and messages.
 */
export function resolveConfig(raw: unknown, source: string | { baseDir?: string } = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const file = typeof source === 'string' ? source : null;
  const baseDir = typeof source === 'string' ? path.dirname(source) : path.resolve(source.baseDir ?? process.cwd());
  const label = file ?? 'object';
  const missingConnectionEnv: ResolvedConfig['missingConnectionEnv'] = {};
  const interpolated = interpolateEnv(raw, env, '', missingConnectionEnv);
  const fast = fastParseConfig(interpolated);
  const result = fast ? ({ success: true, data: fast } as const) : zodConfigSchema().safeParse(interpolated);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const at = issue.path.length > 0 ? formatPath(issue.path) : '(top level)';
      const keys = issue.code === 'unrecognized_keys' ? `: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : '';
      return `  ${at}: ${issue.code === 'unrecognized_keys' ? 'not allowed' : issue.message}${keys}`;
    });
    throw new ConfigError(`Configuration ${label} is invalid:\n${problems.join('\n')}`, {
      file,
      issues: result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    });
  }
  const config = result.data;
  // Every secret of every connection (after substitution) is kept out of every error message.
  registerSecrets(connectionsOf(config).flatMap(connectionSecretValues));
  registerSecrets(notificationSecretValues(config.notifications));
  registerSecrets(encryptionSecretValues(config));
  const organizationsConnection = config.organizations && resolveSqliteFile(config.organizations.client, config.organizations.connection, baseDir);
  const ledgerConnection =
    config.ledger?.connection !== undefined ? resolveSqliteFile(config.ledger.client ?? config.organizations?.client ?? '', config.ledger.connection, baseDir) : undefined;
  return {
    ...config,
    file,
    missingConnectionEnv,
    timezone: config.timezone ?? systemTimeZone(),
    storage: resolveStorage(config.storage, baseDir),
    tenants: Object.fromEntries(
      Object.entries(config.tenants).map(([name, tenant]) => [
        name,
        { ...tenant, connection: resolveSqliteFile(tenant.client, tenant.connection, baseDir), encryption: resolveIdentityFile(tenant.encryption, baseDir) },
      ]),
    ),
    encryption: resolveIdentityFile(config.encryption, baseDir),
    organizations: config.organizations && {
      ...config.organizations,
      connection: organizationsConnection!,
      exclude: withLedgerTables(config.organizations.exclude, config.ledger, { client: config.organizations.client, connection: organizationsConnection }, ledgerConnection),
    },
    ledger: config.ledger && {
      ...config.ledger,
      ...(ledgerConnection !== undefined ? { connection: ledgerConnection } : {}),
    },
    notifications: config.notifications?.email?.caFile
      ? { ...config.notifications, email: { ...config.notifications.email, caFile: path.resolve(baseDir, config.notifications.email.caFile) } }
      : config.notifications,
  };
}

function resolveStorage(storage: ParsedConfig['storage'], baseDir: string): ResolvedStorage {
  const dir = path.resolve(baseDir, storage.dir);
  if (storage.type !== 's3') return { type: 'local', dir };
  const prefix = storage.prefix ?? '';
  return {
    type: 's3',
    dir,
    bucket: storage.bucket!,
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    ...(storage.region !== undefined && { region: storage.region }),
    ...(storage.endpoint !== undefined && { endpoint: storage.endpoint }),
    forcePathStyle: storage.forcePathStyle ?? false,
    ...(storage.serverSideEncryption !== undefined && { serverSideEncryption: storage.serverSideEncryption }),
    ...(storage.sseKmsKeyId !== undefined && { sseKmsKeyId: storage.sseKmsKeyId }),
    ...(storage.storageClass !== undefined && { storageClass: storage.storageClass }),
    partSizeBytes: (storage.partSizeMiB ?? PART_SIZE_MIB.default) * 1024 * 1024,
    uploadConcurrency: storage.uploadConcurrency ?? UPLOAD_CONCURRENCY.default,
    keepLocalCopy: storage.keepLocalCopy ?? false,
  };
}

/**
 * The database ledger kept in the organizations database — no `ledger.connection`, or one that
 * reaches the same database (same host, port and database, whatever the user): its two tables
 * have an `organization_id` column, yet they are never part of an organization's backup or
 * restore (restoring an organization must not rewrite what the ledger knows). They join `exclude`.
 */
function withLedgerTables(exclude: string[], ledger: ParsedConfig['ledger'], organizations: { client: string; connection: unknown }, ledgerConnection: unknown): string[] {
  if (ledger?.type !== 'database') return exclude;
  if (ledgerConnection !== undefined && !sameDatabase(organizations, { client: ledger.client ?? organizations.client, connection: ledgerConnection })) return exclude;
  return [...new Set([...exclude, ledger.table, ledger.settingsTable])];
}

let zodSchema: ReturnType<typeof defineConfigSchemas>['configSchema'] | undefined;

/** The zod schema, built on first need (zod's CommonJS build: this path must stay synchronous). */
function zodConfigSchema() {
  if (!zodSchema) {
    const { z } = createRequire(import.meta.url)('zod') as typeof import('zod');
    zodSchema = defineConfigSchemas(z).configSchema;
  }
  return zodSchema;
}

/** An identity file, like storage.dir, resolves against the config file's folder. */
function resolveIdentityFile<T extends { identityFile?: string | undefined }>(encryption: T | undefined, baseDir: string): T | undefined {
  if (!encryption?.identityFile) return encryption;
  return { ...encryption, identityFile: path.resolve(baseDir, encryption.identityFile) };
}

/** SQLite file names are paths: like storage.dir they resolve against the config file's folder. */
function resolveSqliteFile(client: string, connection: string | Record<string, unknown>, baseDir: string) {
  if (client !== 'better-sqlite3') return connection;
  if (typeof connection === 'string') return { filename: path.resolve(baseDir, connection) };
  const filename = connection.filename;
  if (typeof filename === 'string' && filename !== ':memory:') return { ...connection, filename: path.resolve(baseDir, filename) };
  return connection;
}

/** The section a connection setting belongs to (`organizations`, `tenants.<name>`), else null. */
function connectionSection(at: string): string | null {
  const match = /^(organizations|ledger|tenants\.[^.[\]]+)\.connection(?:[.[]|$)/.exec(at);
  return match ? match[1]! : null;
}

function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, at: string, deferred: ResolvedConfig['missingConnectionEnv']): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, name: string) => {
      const replacement = env[name];
      if (replacement !== undefined) return replacement;
      const section = connectionSection(at);
      if (section === null) throw ConfigError.missingEnv(name, at || '(top level)');
      deferred[section] ??= { variable: name, path: at };
      return match;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnv(item, env, `${at}[${index}]`, deferred));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, at ? `${at}.${key}` : key, deferred)]));
  }
  return value;
}

/**
 * Before connecting to a section's database: its `${VAR}`s must all have been set, and its
 * connection setting must be readable without guessing (see `assertConnectionUsable`): both are
 * configuration errors (exit 2), raised before anything is recorded.
 */
export function assertConnectionReady(
  config: Pick<ResolvedConfig, 'missingConnectionEnv' | 'file' | 'organizations' | 'tenants'> & { ledger?: ResolvedConfig['ledger'] },
  section: string,
): void {
  const missing = config.missingConnectionEnv[section];
  if (missing) throw ConfigError.missingEnv(missing.variable, missing.path);
  const connection =
    section === 'organizations'
      ? config.organizations?.connection
      : section === 'ledger'
        ? config.ledger?.connection
        : section.startsWith('tenants.')
          ? config.tenants[section.slice('tenants.'.length)]?.connection
          : undefined;
  assertConnectionUsable(connection, `${section}.connection`);
}

function formatPath(segments: readonly PropertyKey[]): string {
  return segments.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`)).join('');
}

async function isFile(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isFile();
  } catch {
    return false;
  }
}
