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
import {
  DATABASE_CLIENTS,
  DEFAULT_MAX_AGE_HOURS,
  DEFAULT_STALL_TIMEOUT_SECONDS,
  LEDGER_DEFAULTS,
  LEDGER_KEEP_DEFAULTS,
  LEDGER_TYPES,
  NOTIFICATION_DEFAULTS,
  NOTIFY_ON,
  PART_SIZE_MIB,
  S3_STORAGE_KEYS,
  SERVER_SIDE_ENCRYPTIONS,
  STARTTLS_MODES,
  STORAGE_CLASSES,
  STORAGE_TYPES,
  UPLOAD_CONCURRENCY,
  isBucketName,
  isHttpUrl,
  isS3Endpoint,
  isSafeKeyPrefix,
} from './define.js';
import type { ParsedConfig } from './schema.js';

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

/** A finite number within [min, max]; `exclusiveMin` for zod's `.positive()`. */
function number(value: unknown, min: number, max = Number.MAX_VALUE, exclusiveMin = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (exclusiveMin && value === min) || value > max) decline();
  return value;
}

function boolean(value: unknown): boolean {
  if (typeof value !== 'boolean') decline();
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) decline();
  return value as T;
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

function encryption(value: unknown): NonNullable<ParsedConfig['encryption']> {
  const input = object(value, ['recipients', 'identityFile', 'passphrase']);
  const out: Plain = {};
  if ('recipients' in input) out.recipients = strings(input.recipients);
  if ('identityFile' in input) out.identityFile = string(input.identityFile, 1);
  if ('passphrase' in input) out.passphrase = string(input.passphrase, 1);
  return out;
}

function tenant(value: unknown): ParsedConfig['tenants'][string] {
  const input = object(value, ['client', 'connection', 'retention', 'encryption']);
  const out: Plain = { client: client(input.client), connection: connection(input.connection) };
  if ('retention' in input) out.retention = retention(input.retention);
  if ('encryption' in input) out.encryption = encryption(input.encryption);
  return out as ParsedConfig['tenants'][string];
}

function organizations(value: unknown): NonNullable<ParsedConfig['organizations']> {
  const input = object(value, [
    'client',
    'connection',
    'table',
    'tenantColumn',
    'idColumn',
    'codeColumn',
    'nameColumn',
    'tables',
    'exclude',
    'include',
    'schema',
    'stallTimeoutSeconds',
  ]);
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
  if ('include' in input) out.include = record(input.include, (condition) => string(condition, 1));
  if ('schema' in input) out.schema = string(input.schema, 1);
  out.stallTimeoutSeconds = 'stallTimeoutSeconds' in input ? integer(input.stallTimeoutSeconds, 0) : DEFAULT_STALL_TIMEOUT_SECONDS;
  return out as NonNullable<ParsedConfig['organizations']>;
}

/** A record keyed by non-empty names (zod's `z.record(z.string().min(1), …)`), each value parsed by `each`. */
function record<T>(value: unknown, each: (item: unknown) => T): Record<string, T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) decline();
  const out: Record<string, T> = {};
  for (const [name, item] of Object.entries(value)) {
    if (name.length === 0 || name === '__proto__') decline();
    out[name] = each(item);
  }
  return out;
}

function httpUrl(value: unknown): string {
  if (!isHttpUrl(string(value))) decline();
  return value as string;
}

function notifyOn(input: Plain): string[] {
  if (!('on' in input)) return ['failure'];
  if (!Array.isArray(input.on) || input.on.length < 1) decline();
  return input.on.map((item: unknown) => oneOf(item, NOTIFY_ON));
}

function notifications(value: unknown): NonNullable<ParsedConfig['notifications']> {
  const input = object(value, ['timeoutSeconds', 'retries', 'retryDelaySeconds', 'webhook', 'ping', 'email']);
  const out: Plain = {
    timeoutSeconds: 'timeoutSeconds' in input ? number(input.timeoutSeconds, 0, 300, true) : NOTIFICATION_DEFAULTS.timeoutSeconds,
    retries: 'retries' in input ? integer(input.retries, 0, 10) : NOTIFICATION_DEFAULTS.retries,
    retryDelaySeconds: 'retryDelaySeconds' in input ? number(input.retryDelaySeconds, 0, 60) : NOTIFICATION_DEFAULTS.retryDelaySeconds,
  };
  if ('webhook' in input) {
    const webhook = object(input.webhook, ['url', 'on']);
    out.webhook = { url: httpUrl(webhook.url), on: notifyOn(webhook) };
  }
  if ('ping' in input) {
    const ping = object(input.ping, ['backupAll', 'autoAll', 'tenants', 'organizations']);
    const parsed: Plain = {};
    if ('backupAll' in ping) parsed.backupAll = httpUrl(ping.backupAll);
    if ('autoAll' in ping) parsed.autoAll = httpUrl(ping.autoAll);
    parsed.tenants = 'tenants' in ping ? record(ping.tenants, httpUrl) : {};
    parsed.organizations = 'organizations' in ping ? record(ping.organizations, httpUrl) : {};
    out.ping = parsed;
  }
  if ('email' in input) {
    const email = object(input.email, ['host', 'port', 'secure', 'starttls', 'user', 'password', 'from', 'to', 'caFile', 'on']);
    if ('user' in email !== 'password' in email) decline();
    const parsed: Plain = { host: string(email.host, 1) };
    if ('port' in email) parsed.port = integer(email.port, 1, 65535);
    parsed.secure = 'secure' in email ? boolean(email.secure) : false;
    parsed.starttls = 'starttls' in email ? oneOf(email.starttls, STARTTLS_MODES) : 'required';
    if ('user' in email) parsed.user = string(email.user, 1);
    if ('password' in email) parsed.password = string(email.password, 1);
    parsed.from = string(email.from, 1);
    parsed.to = strings(email.to, 1);
    if ('caFile' in email) parsed.caFile = string(email.caFile, 1);
    parsed.on = notifyOn(email);
    out.email = parsed;
  }
  return out as NonNullable<ParsedConfig['notifications']>;
}

/** `storage`: the keys present, in schema order; the cross-key rules as zod's refinements state them. */
function storage(value: unknown): ParsedConfig['storage'] {
  const input = object(value, ['type', 'dir', ...S3_STORAGE_KEYS]);
  const out: Plain = {};
  if ('type' in input) out.type = oneOf(input.type, STORAGE_TYPES);
  out.dir = string(input.dir, 1);
  if ('bucket' in input) {
    if (!isBucketName(string(input.bucket))) decline();
    out.bucket = input.bucket;
  }
  if ('prefix' in input) {
    if (!isSafeKeyPrefix(string(input.prefix))) decline();
    out.prefix = input.prefix;
  }
  if ('region' in input) out.region = string(input.region, 1);
  if ('endpoint' in input) {
    if (!isS3Endpoint(string(input.endpoint))) decline();
    out.endpoint = input.endpoint;
  }
  if ('forcePathStyle' in input) out.forcePathStyle = boolean(input.forcePathStyle);
  if ('serverSideEncryption' in input) out.serverSideEncryption = oneOf(input.serverSideEncryption, SERVER_SIDE_ENCRYPTIONS);
  if ('sseKmsKeyId' in input) out.sseKmsKeyId = string(input.sseKmsKeyId, 1);
  if ('storageClass' in input) out.storageClass = oneOf(input.storageClass, STORAGE_CLASSES);
  if ('partSizeMiB' in input) out.partSizeMiB = integer(input.partSizeMiB, PART_SIZE_MIB.min, PART_SIZE_MIB.max);
  if ('uploadConcurrency' in input) out.uploadConcurrency = integer(input.uploadConcurrency, UPLOAD_CONCURRENCY.min, UPLOAD_CONCURRENCY.max);
  if ('keepLocalCopy' in input) out.keepLocalCopy = boolean(input.keepLocalCopy);
  const s3 = out.type === 's3';
  if (s3 && !('bucket' in out)) decline();
  if (!s3 && S3_STORAGE_KEYS.some((key) => key in out)) decline();
  if ('sseKmsKeyId' in out && !String(out.serverSideEncryption ?? '').startsWith('aws:kms')) decline();
  return out as ParsedConfig['storage'];
}

function monitor(value: unknown): NonNullable<ParsedConfig['monitor']> {
  const input = object(value, ['maxAgeHours', 'tenants', 'organizations']);
  const maxAge = (item: unknown) => ({ maxAgeHours: number(object(item, ['maxAgeHours']).maxAgeHours, 0, Number.MAX_VALUE, true) });
  return {
    maxAgeHours: 'maxAgeHours' in input ? number(input.maxAgeHours, 0, Number.MAX_VALUE, true) : DEFAULT_MAX_AGE_HOURS,
    tenants: 'tenants' in input ? record(input.tenants, maxAge) : {},
    organizations: 'organizations' in input ? record(input.organizations, maxAge) : {},
  };
}

function ledger(value: unknown): NonNullable<ParsedConfig['ledger']> {
  const input = object(value, ['type', 'client', 'connection', 'table', 'settingsTable', 'keep']);
  const out: Plain = { type: 'type' in input ? oneOf(input.type, LEDGER_TYPES) : LEDGER_DEFAULTS.type };
  if ('client' in input) out.client = client(input.client);
  if ('connection' in input) out.connection = connection(input.connection);
  out.table = 'table' in input ? string(input.table, 1) : LEDGER_DEFAULTS.table;
  out.settingsTable = 'settingsTable' in input ? string(input.settingsTable, 1) : LEDGER_DEFAULTS.settingsTable;
  const keep = 'keep' in input ? object(input.keep, ['failedDays', 'missingArchives']) : {};
  out.keep = {
    failedDays: 'failedDays' in keep ? integer(keep.failedDays, 0) : LEDGER_KEEP_DEFAULTS.failedDays,
    missingArchives: 'missingArchives' in keep ? boolean(keep.missingArchives) : LEDGER_KEEP_DEFAULTS.missingArchives,
  };
  return out as NonNullable<ParsedConfig['ledger']>;
}

function parseConfig(value: unknown): ParsedConfig {
  const input = object(value, [
    '$schema',
    'storage',
    'timezone',
    'compressionLevel',
    'tenants',
    'retention',
    'encryption',
    'organizations',
    'auto',
    'notifications',
    'monitor',
    'ledger',
  ]);
  const out: Plain = {};
  if ('$schema' in input) out.$schema = string(input.$schema);
  out.storage = storage(input.storage);
  if ('timezone' in input) {
    const timezone = string(input.timezone);
    if (!isValidTimeZone(timezone)) decline();
    out.timezone = timezone;
  }
  out.compressionLevel = 'compressionLevel' in input ? integer(input.compressionLevel, 0, 9) : 1;
  out.tenants = 'tenants' in input ? record(input.tenants, tenant) : {};
  if ('retention' in input) out.retention = retention(input.retention);
  if ('encryption' in input) out.encryption = encryption(input.encryption);
  if ('organizations' in input) out.organizations = organizations(input.organizations);
  if ('auto' in input) {
    const auto = object(input.auto, ['superAdminRoles', 'allowedRoles', 'logRetentionDays']);
    out.auto = {
      superAdminRoles: 'superAdminRoles' in auto ? strings(auto.superAdminRoles) : ['super_admin'],
      allowedRoles: 'allowedRoles' in auto ? strings(auto.allowedRoles) : ['admin', 'owner'],
      logRetentionDays: 'logRetentionDays' in auto ? integer(auto.logRetentionDays, 1) : 14,
    };
  } else {
    out.auto = { superAdminRoles: ['super_admin'], allowedRoles: ['admin', 'owner'], logRetentionDays: 14 };
  }
  if ('notifications' in input) out.notifications = notifications(input.notifications);
  if ('monitor' in input) out.monitor = monitor(input.monitor);
  if ('ledger' in input) out.ledger = ledger(input.ledger);
  return out as ParsedConfig;
}
