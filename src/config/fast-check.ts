/**
 * A zod-free check of `.backuprc` for the common case: a configuration that is valid. It accepts
 * only what the zod schema (`define.ts`) certainly accepts, and returns exactly what zod would
 * return for it (keys in schema order, defaults filled, arrays and objects copied); anything
 * unusual — an unknown key, a wrong type, an `undefined`, a `__proto__` key — gives `undefined`,
 * and the caller then lets zod decide and word the error. So behaviour is zod's; only the
 * start-up cost of importing zod (~60–80 ms) is saved when nothing is wrong.
 *
 * KEEP IN STEP with define.ts (test/unit/startup-fast-paths.test.ts compares the two).
 */
import { isValidTimeZone } from '../retention/clock.js';
import { DATABASE_CLIENTS } from './define.js';
import type { ParsedConfig } from './schema.js';
import { DEFAULT_STALL_TIMEOUT_SECONDS } from './define.js';

type Plain = Record<string, unknown>;

/** Thrown inside the check to decline; never escapes. */
const DECLINE = Symbol('decline');

export function fastParseConfig(value: unknown): ParsedConfig | undefined {
  try {
    return parseConfig(value);
  } catch (error) {
    if (error === DECLINE) return undefined;
    throw error;
  }
}

function decline(): never {
  throw DECLINE;
}

/** A plain object whose keys are all in `allowed` (and none is `__proto__`, none undefined). */
function object(value: unknown, allowed: readonly string[]): Plain {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) decline();
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key) || (value as Plain)[key] === undefined) decline();
  }
  return value as Plain;
}

function string(value: unknown, minLength = 0): string {
  if (typeof value !== 'string' || value.length < minLength) decline();
  return value;
}

function integer(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) decline();
  return value;
}

function strings(value: unknown, minItems = 0): string[] {
  if (!Array.isArray(value) || value.length < minItems) decline();
  return value.map((item: unknown) => string(item, 1));
}

function client(value: unknown): ParsedConfig['tenants'][string]['client'] {
  if (typeof value !== 'string' || !(DATABASE_CLIENTS as readonly string[]).includes(value)) decline();
  return value as ParsedConfig['tenants'][string]['client'];
}

/** A URL string, or an object whose keys are kept as they are (zod's looseObject copies it). */
function connection(value: unknown): string | Plain {
  if (typeof value === 'string') return string(value, 1);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) decline();
  if (Object.keys(value).includes('__proto__')) decline();
  return { ...(value as Plain) };
}

const RETENTION_KEYS = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const;

function retention(value: unknown): NonNullable<ParsedConfig['retention']> {
  const input = object(value, RETENTION_KEYS);
  const out: Plain = {};
  for (const key of RETENTION_KEYS) if (key in input) out[key] = integer(input[key], 1);
  return out;
}

function tenant(value: unknown): ParsedConfig['tenants'][string] {
  const input = object(value, ['client', 'connection', 'retention']);
  const out: Plain = { client: client(input.client), connection: connection(input.connection) };
  if ('retention' in input) out.retention = retention(input.retention);
  return out as ParsedConfig['tenants'][string];
}

function organizations(value: unknown): NonNullable<ParsedConfig['organizations']> {
  const input = object(value, ['client', 'connection', 'table', 'tenantColumn', 'idColumn', 'codeColumn', 'nameColumn', 'tables', 'exclude', 'schema', 'stallTimeoutSeconds']);
  const text = (key: string, fallback: string) => (key in input ? string(input[key], 1) : fallback);
  const out: Plain = {
    client: client(input.client),
    connection: connection(input.connection),
    table: text('table', 'organizations'),
    tenantColumn: text('tenantColumn', 'organization_id'),
    idColumn: text('idColumn', 'id'),
    codeColumn: text('codeColumn', 'code'),
    nameColumn: text('nameColumn', 'name'),
    tables: !('tables' in input) ? 'auto' : input.tables === 'auto' ? 'auto' : strings(input.tables, 1),
    exclude: 'exclude' in input ? strings(input.exclude) : [],
  };
  if ('schema' in input) out.schema = string(input.schema, 1);
  out.stallTimeoutSeconds = 'stallTimeoutSeconds' in input ? integer(input.stallTimeoutSeconds, 0) : DEFAULT_STALL_TIMEOUT_SECONDS;
  return out as NonNullable<ParsedConfig['organizations']>;
}

function parseConfig(value: unknown): ParsedConfig {
  const input = object(value, ['$schema', 'storage', 'timezone', 'compressionLevel', 'tenants', 'retention', 'organizations', 'auto']);
  const out: Plain = {};
  if ('$schema' in input) out.$schema = string(input.$schema);
  out.storage = { dir: string(object(input.storage, ['dir']).dir, 1) };
  if ('timezone' in input) {
    const timezone = string(input.timezone);
    if (!isValidTimeZone(timezone)) decline();
    out.timezone = timezone;
  }
  out.compressionLevel = 'compressionLevel' in input ? integer(input.compressionLevel, 0, 9) : 1;
  const tenants: Plain = {};
  if ('tenants' in input) {
    const given = input.tenants;
    if (typeof given !== 'object' || given === null || Array.isArray(given)) decline();
    for (const [name, entry] of Object.entries(given)) {
      if (name.length === 0 || name === '__proto__') decline();
      tenants[name] = tenant(entry);
    }
  }
  out.tenants = tenants;
  if ('retention' in input) out.retention = retention(input.retention);
  if ('organizations' in input) out.organizations = organizations(input.organizations);
  if ('auto' in input) {
    const auto = object(input.auto, ['superAdminRoles', 'allowedRoles']);
    out.auto = {
      superAdminRoles: 'superAdminRoles' in auto ? strings(auto.superAdminRoles) : ['super_admin'],
      allowedRoles: 'allowedRoles' in auto ? strings(auto.allowedRoles) : ['admin', 'owner'],
    };
  } else {
    out.auto = { superAdminRoles: ['super_admin'], allowedRoles: ['admin', 'owner'] };
  }
  return out as ParsedConfig;
}
