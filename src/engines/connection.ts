/**
 * Reading a knex-style `connection` (an object, possibly with a `connectionString`, or a URL) — the
 * form of `tenants.<name>.connection` and `organizations.connection`. Two readings, both here:
 * - `serverParams`: the settings in one shape (host, port, user, password, database, …), for the
 *   dump tools' environment and option files; invalid forms are ConfigErrors that never quote the
 *   text (it may hold a password).
 * - `connectionSecrets`: every form of every secret the connection holds, for redacting messages.
 *   It never throws; a form it cannot read yields no secret.
 * The organization engines hand the connection object to their driver as it is (pg and mysql2 read
 * knex's forms themselves) and use `connectionSecrets` for their messages.
 */
import type { TenantConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';

type KnexConnection = TenantConfig['connection'];

/** A server connection in one shape, whatever form (object or URL) the configuration used. */
export interface ServerParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  socketPath?: string;
  /** Raw `ssl` setting of the knex connection (driver form), or a libpq `sslmode` from a URL. */
  ssl?: unknown;
  sslmode?: string;
}

/** Normalizes a knex connection (object, possibly with `connectionString`, or URL) to ServerParams. */
export function serverParams(connection: KnexConnection, tenant: string): ServerParams {
  if (typeof connection === 'string') return paramsFromUrl(connection, tenant);
  const c = connection as Record<string, unknown>;
  const fromString = typeof c.connectionString === 'string' ? paramsFromUrl(c.connectionString, tenant) : {};
  const str = (key: string) => (typeof c[key] === 'string' && c[key] !== '' ? (c[key] as string) : undefined);
  const port = c.port === undefined || c.port === null || c.port === '' ? undefined : Number(c.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new ConfigError(`tenants.${tenant}.connection.port is not a valid port.`);
  }
  return {
    ...fromString,
    ...definedOnly({
      host: str('host'),
      port,
      user: str('user') ?? str('username'),
      password: str('password'),
      database: str('database'),
      socketPath: str('socketPath'),
      ssl: c.ssl === undefined || c.ssl === false ? undefined : c.ssl,
    }),
  };
}

function paramsFromUrl(text: string, tenant: string): ServerParams {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text may hold a password: never quote it.
    throw new ConfigError(`tenants.${tenant}.connection is not a valid connection URL.`);
  }
  const decode = (value: string) => (value === '' ? undefined : decodeURIComponent(value));
  return definedOnly({
    host: decode(url.hostname.replace(/^\[(.*)\]$/, '$1')),
    port: url.port ? Number(url.port) : undefined,
    user: decode(url.username),
    password: decode(url.password),
    database: decode(url.pathname.replace(/^\//, '')),
    sslmode: url.searchParams.get('sslmode') ?? (url.searchParams.get('ssl') === 'true' ? 'require' : undefined),
  });
}

function definedOnly<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Every form of the password that could appear in a message (raw and URL-encoded). */
export function secretsOf(params: ServerParams): string[] {
  if (!params.password) return [];
  return [...new Set([params.password, encodeURIComponent(params.password)])];
}

export function describeServer(params: ServerParams): string {
  const where = params.socketPath ?? `${params.host ?? 'localhost'}${params.port ? `:${params.port}` : ''}`;
  return `${where}/${params.database ?? ''}${params.user ? ` as ${params.user}` : ''}`;
}

/**
 * Every form of every secret of a knex connection that could appear in a message: a URL's password
 * (raw and decoded) and its `password` / `sslpassword` parameters, an object's `password`, and the
 * secrets of its `connectionString`.
 */
export function connectionSecrets(connection: unknown): string[] {
  const secrets: string[] = [];
  const fromUrl = (text: string) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return;
    }
    if (url.password) secrets.push(url.password, safeDecode(url.password));
    for (const key of ['password', 'sslpassword']) {
      const secret = url.searchParams.get(key);
      if (secret) secrets.push(secret);
    }
  };
  if (typeof connection === 'string') fromUrl(connection);
  else if (connection && typeof connection === 'object') {
    const c = connection as { password?: unknown; connectionString?: unknown };
    if (typeof c.connectionString === 'string') fromUrl(c.connectionString);
    if (typeof c.password === 'string' && c.password !== '') secrets.push(c.password);
  }
  return [...new Set(secrets)];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
