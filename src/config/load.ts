/**
 * Configuration discovery and loading: `--config`, else `$TENANT_BACKUP_CONFIG`, else `.backuprc`
 * in the current directory or its parents. `${VAR}` in any string is replaced from the environment
 * (a missing variable is an error naming it). Relative paths resolve against the config file's folder.
 */
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { systemTimeZone } from '../retention/clock.js';
import { defineConfigSchemas } from './define.js';
import { fastParseConfig } from './fast-check.js';
import type { ParsedConfig } from './schema.js';

export const CONFIG_FILE_NAME = '.backuprc';

export interface ResolvedConfig extends Omit<ParsedConfig, 'timezone'> {
  /** Absolute path of the file this came from; null for a configuration given as an object. */
  file: string | null;
  timezone: string;
  storage: { dir: string };
  /**
   * `${VAR}`s of connection settings whose variable is not set, by section (`organizations`,
   * `tenants.<name>`). Commands that never connect (list, status, auto's skip path) work without
   * them; connecting raises the ConfigError (see `assertConnectionReady`).
   */
  missingConnectionEnv: Record<string, { variable: string; path: string }>;
}

export interface LoadConfigOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
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
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw ConfigError.notFound(`${file} does not exist`);
    throw new ConfigError(`Cannot read configuration ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Configuration ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return resolveConfig(raw, file, options.env ?? process.env);
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
  return {
    ...config,
    file,
    missingConnectionEnv,
    timezone: config.timezone ?? systemTimeZone(),
    storage: { dir: path.resolve(baseDir, config.storage.dir) },
    tenants: Object.fromEntries(
      Object.entries(config.tenants).map(([name, tenant]) => [name, { ...tenant, connection: resolveSqliteFile(tenant.client, tenant.connection, baseDir) }]),
    ),
    organizations: config.organizations && {
      ...config.organizations,
      connection: resolveSqliteFile(config.organizations.client, config.organizations.connection, baseDir),
    },
    notifications: config.notifications?.email?.caFile
      ? { ...config.notifications, email: { ...config.notifications.email, caFile: path.resolve(baseDir, config.notifications.email.caFile) } }
      : config.notifications,
  };
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
  const match = /^(organizations|tenants\.[^.[\]]+)\.connection(?:[.[]|$)/.exec(at);
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
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, at ? `${at}.${key}` : key, deferred)]),
    );
  }
  return value;
}

/** Before connecting to a section's database: its `${VAR}`s must all have been set. */
export function assertConnectionReady(config: Pick<ResolvedConfig, 'missingConnectionEnv' | 'file'>, section: string): void {
  const missing = config.missingConnectionEnv[section];
  if (missing) throw ConfigError.missingEnv(missing.variable, missing.path);
}

function formatPath(segments: readonly PropertyKey[]): string {
  return segments
    .map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`))
    .join('');
}

async function isFile(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isFile();
  } catch {
    return false;
  }
}
