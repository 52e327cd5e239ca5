/**
 * Secrets in the configuration: which values are secret (registered with `registerSecrets` so no
 * error message can show them), whether a file holds one in clear, and whether a connection URL
 * can be parsed without guessing. A password with unencoded `@ / # ?` substituted into a URL
 * makes drivers read part of it as a host name and echo it back ("getaddrinfo ENOTFOUND …"): such
 * a URL is refused before any connection is tried.
 */
import { ConfigError } from '../errors.js';
import type { ParsedConfig } from './schema.js';

/** Keys of a connection object whose string values are secret (pg/mysql2/knex and TLS options). */
const SECRET_KEY = /pass|secret|token|private|^key$|^cert$|^pfx$/i;
const ENV_REFERENCE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/g;

/** Every secret value of one connection setting (URL or object), in every form a message may show. */
export function connectionSecretValues(connection: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key: string, depth: number) => {
    if (depth > 4) return;
    if (typeof value === 'string') {
      if (value.includes('://')) found.push(...urlSecretValues(value));
      else if (SECRET_KEY.test(key)) found.push(value);
      return;
    }
    if (value && typeof value === 'object') {
      for (const [child, item] of Object.entries(value)) visit(item, child, depth + 1);
    }
  };
  visit(connection, '', 0);
  // A `${VAR}` left in place (its variable unset) is a name, not a secret: errors must show it.
  const secrets = found.filter((value) => value.replace(ENV_REFERENCE, '') !== '');
  return [...new Set(secrets.flatMap(formsOf))].filter((value) => value !== '');
}

/**
 * The secret parts of a URL: its whole user information as a lenient reading takes it (before
 * the URL's last `@`), the password in it, and what a strict parser reads as password, plus
 * `password` / `sslpassword` query parameters.
 */
function urlSecretValues(text: string): string[] {
  const values: string[] = [];
  // A user name alone is not secret (and registering "u" would blank every "u" in messages).
  const userInfo = lenientUserInfo(text);
  const colon = userInfo?.indexOf(':') ?? -1;
  if (userInfo !== null && colon !== -1 && colon < userInfo.length - 1) values.push(userInfo, userInfo.slice(colon + 1));
  try {
    const url = new URL(text);
    values.push(url.password);
    for (const key of ['password', 'sslpassword', 'sslkey', 'sslcert']) {
      const value = url.searchParams.get(key);
      if (value) values.push(value);
    }
  } catch {
    // Not parseable: the lenient reading above is all there is.
  }
  return values;
}

/** `scheme://<this>@host…`: everything between `://` and the URL's last `@`, or null. */
function lenientUserInfo(text: string): string | null {
  const start = text.indexOf('://');
  const at = text.lastIndexOf('@');
  return start === -1 || at <= start + 3 ? null : text.slice(start + 3, at);
}

/** A secret as it may appear: raw, percent-decoded, percent-encoded. */
function formsOf(value: string): string[] {
  const forms = [value, encodeURIComponent(value)];
  try {
    forms.push(decodeURIComponent(value));
  } catch {
    // Not percent-encoded text.
  }
  return forms;
}

/**
 * True when a connection setting, as written in the file (before `${VAR}` substitution), holds a
 * password in clear: a secret key or URL password with any text outside `${VAR}` references.
 */
export function holdsLiteralPassword(connection: unknown): boolean {
  const literal = (value: string) => value.replace(ENV_REFERENCE, '') !== '';
  const visit = (value: unknown, key: string, depth: number): boolean => {
    if (depth > 4) return false;
    if (typeof value === 'string') {
      if (value.includes('://')) {
        const userInfo = lenientUserInfo(value);
        const colon = userInfo?.indexOf(':') ?? -1;
        return userInfo !== null && colon !== -1 && literal(userInfo.slice(colon + 1));
      }
      return SECRET_KEY.test(key) && literal(value);
    }
    if (value && typeof value === 'object') return Object.entries(value).some(([child, item]) => visit(item, child, depth + 1));
    return false;
  };
  return visit(connection, '', 0);
}

/**
 * Refuses (ConfigError, exit 2) a connection setting no driver can read without guessing: a URL
 * that does not parse, whose user information holds an unencoded `/`, `?` or `#`, or whose
 * port is not 1–65535; an object whose `port` is not one. Messages never quote the setting (it
 * may hold a password).
 */
export function assertConnectionUsable(connection: unknown, at: string): void {
  if (typeof connection === 'string') {
    if (connection.includes('://')) assertUrlUsable(connection, at);
    return;
  }
  if (!connection || typeof connection !== 'object') return;
  const c = connection as Record<string, unknown>;
  if (typeof c.connectionString === 'string' && c.connectionString.includes('://')) assertUrlUsable(c.connectionString, `${at}.connectionString`);
  if (c.port !== undefined && c.port !== null && c.port !== '' && !isPort(c.port)) {
    throw new ConfigError(`${at}.port is not a port number (an integer from 1 to 65535).`, { path: `${at}.port` });
  }
}

function assertUrlUsable(text: string, at: string): void {
  const refuse = (problem: string) => new ConfigError(`${at} is not a usable connection URL: ${problem}. (The URL is not shown: it may hold a password.)`, { path: at });
  // User information ends at the first "/", "?" or "#" (several "@" before it are fine: parsers
  // take the last). An "@" after that — in the path or fragment, or in the query when the
  // authority has none — means the password held one of them and a driver would read its pieces
  // as host, database or options.
  const rest = text.slice(text.indexOf('://') + 3);
  const authorityEnd = firstIndexOf(rest, ['/', '?', '#']);
  const hash = rest.indexOf('#', authorityEnd);
  const beforeFragment = hash === -1 ? rest.length : hash;
  const query = rest.indexOf('?', authorityEnd);
  const pathEnd = query === -1 || query > beforeFragment ? beforeFragment : query;
  const authority = rest.slice(0, authorityEnd);
  const atInAuthority = authority.includes('@');
  const atInPath = rest.slice(authorityEnd, pathEnd).includes('@');
  const atInFragment = hash !== -1 && rest.includes('@', hash);
  const atInQuery = rest.slice(pathEnd, beforeFragment).includes('@');
  if (atInPath || atInFragment || (!atInAuthority && atInQuery)) {
    throw refuse(
      'the user name or password holds an unencoded "/", "?" or "#" (an "@" follows it); percent-encode such characters (%2F, %3F, %23; "@" as %40, also in query values) or use the object form with a "password" key',
    );
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse(portOf(authority) !== null && !isPort(portOf(authority)) ? 'the port is not a number from 1 to 65535' : 'it does not parse');
  }
  if (url.port !== '' && !isPort(url.port)) throw refuse('the port is not a number from 1 to 65535');
}

/** The port text of an authority (`user:pw@host:port`, `[::1]:port`), or null when it names none. */
function portOf(authority: string): string | null {
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const colon = hostPort.lastIndexOf(':');
  if (colon === -1 || hostPort.lastIndexOf(']') > colon) return null;
  return hostPort.slice(colon + 1);
}

function isPort(value: unknown): boolean {
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(number) && number >= 1 && number <= 65535;
}

function firstIndexOf(text: string, characters: string[]): number {
  let first = text.length;
  for (const character of characters) {
    const index = text.indexOf(character);
    if (index !== -1 && index < first) first = index;
  }
  return first;
}

/**
 * The secrets of the notification settings: webhook and ping URLs carry their token in the path or
 * query (every URL whole, and its path, kept out of every error message), SMTP has a password.
 */
export function notificationSecretValues(notifications: ParsedConfig['notifications']): string[] {
  if (!notifications) return [];
  const urls = [
    notifications.webhook?.url,
    notifications.ping?.backupAll,
    notifications.ping?.autoAll,
    ...Object.values(notifications.ping?.tenants ?? {}),
    ...Object.values(notifications.ping?.organizations ?? {}),
  ].filter((url): url is string => url !== undefined);
  const values = urls.flatMap((url) => {
    try {
      const parsed = new URL(url);
      return [url, parsed.pathname + parsed.search].filter((part) => part.length >= 6);
    } catch {
      return [url];
    }
  });
  // A secret of a few characters would blank every such letter group of every message; the
  // notifiers' own output masks their settings whatever their length (notify/redact.ts).
  if (notifications.email?.password && notifications.email.password.length >= 4) values.push(notifications.email.password);
  return values;
}

/**
 * The encryption passphrases (top level and per tenant). Like the SMTP password, one shorter than
 * 4 characters is not registered (it would blank letters of every message).
 */
export function encryptionSecretValues(config: Pick<ParsedConfig, 'encryption' | 'tenants'>): string[] {
  return [config.encryption, ...Object.values(config.tenants).map((tenant) => tenant.encryption)]
    .map((encryption) => encryption?.passphrase)
    .filter((passphrase): passphrase is string => passphrase !== undefined && passphrase.length >= 4);
}
