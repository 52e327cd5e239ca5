/**
 * The `.backuprc` schema, defined as a function of zod's `z` so that the module itself loads no
 * zod: `schema.ts` builds it at import (for library users and tests), `load.ts` only when a
 * configuration fails its fast check (`fast-check.ts`), to report zod's exact paths and messages.
 * Importing zod costs ~60–80 ms at start-up, more than an `auto` that has nothing to do.
 *
 * Every object is strict: a misspelt key is an error with its exact path, never silently ignored.
 * Kinds (database clients) are a closed set: an unknown one is a config error.
 *
 * KEEP fast-check.ts IN STEP with this file (test/unit/startup-fast-paths.test.ts compares them).
 */
import type { z as Zod } from 'zod';
import { isValidTimeZone } from '../retention/clock.js';

export const DATABASE_CLIENTS = ['pg', 'mysql2', 'better-sqlite3'] as const;

/**
 * The stall guard's default: a query in flight on the shared database that sees no byte from the
 * server for 10 minutes is abandoned. Generous on purpose — a long DELETE of a large organization
 * sends nothing until it is done — yet it bounds how long a hung connection can hold a lock.
 */
export const DEFAULT_STALL_TIMEOUT_SECONDS = 600;

/** Events a webhook or e-mail channel can be sent (`on`); `start` is for pings only. */
export const NOTIFY_ON = ['failure', 'success', 'stale'] as const;
/** How e-mail is protected when `secure` is false: STARTTLS required (default), used if offered, or never. */
export const STARTTLS_MODES = ['required', 'if-offered', 'off'] as const;
/** `status --check` and `status --all --check`: a newest success older than this is stale. */
export const DEFAULT_MAX_AGE_HOURS = 26;
export const NOTIFICATION_DEFAULTS = { timeoutSeconds: 10, retries: 3, retryDelaySeconds: 1 } as const;
/** Where records and locks live: a JSON file beside the archives, or a table of a database. */
export const LEDGER_TYPES = ['json', 'database'] as const;
export const LEDGER_DEFAULTS = { type: 'json', table: 'auto_backup_logs', settingsTable: 'auto_backup_settings' } as const;
/** The history policy's defaults (retention/history.ts): failures kept 90 days, records of vanished archives not kept. */
export const LEDGER_KEEP_DEFAULTS = { failedDays: 90, missingArchives: false } as const;

/**
 * Notification URLs: http(s) only. The check never quotes the value: webhook and ping URLs carry
 * their secret in the path.
 */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export function defineConfigSchemas(z: typeof Zod) {
  /** knex's own connection forms: an object (host, port, user, password, database, filename, …) or a URL. */
  const connection = z.union([z.string().min(1), z.looseObject({})]);

  const client = z.enum(DATABASE_CLIENTS, {
    error: (issue) => `unknown client ${JSON.stringify(issue.input)}; expected one of ${DATABASE_CLIENTS.join(', ')}`,
  });

  const tableName = z.string().min(1);

  /** Retention of timestamped tenant backups (restic/spatie semantics; the newest is always kept). */
  const retentionSchema = z.strictObject({
    keepLast: z.number().int().min(1).optional(),
    keepDaily: z.number().int().min(1).optional(),
    keepWeekly: z.number().int().min(1).optional(),
    keepMonthly: z.number().int().min(1).optional(),
  });

  const tenantSchema = z.strictObject({
    client,
    connection,
    /** Overrides the top-level `retention`, key by key. */
    retention: retentionSchema.optional(),
  });

  const organizationsSchema = z.strictObject({
    client,
    connection,
    /** The organizations table; its row for the organization is part of every backup. */
    table: tableName.default('organizations'),
    /** The column that tags a row with its organization. */
    tenantColumn: z.string().min(1).default('organization_id'),
    /** The organizations table's primary key column. */
    idColumn: z.string().min(1).default('id'),
    /** The column whose value names archive files (`org_<code>_…`); falls back to the id when empty. */
    codeColumn: z.string().min(1).default('code'),
    nameColumn: z.string().min(1).default('name'),
    tables: z.union([z.literal('auto'), z.array(tableName).min(1)]).default('auto'),
    exclude: z.array(tableName).default([]),
    /** PostgreSQL schema to read (default: public). */
    schema: z.string().min(1).optional(),
    /** The stall guard (seconds without a byte from the server while a query runs); 0 turns it off. */
    stallTimeoutSeconds: z.number().int().min(0).default(DEFAULT_STALL_TIMEOUT_SECONDS),
  });

  const autoSchema = z.strictObject({
    superAdminRoles: z.array(z.string().min(1)).default(['super_admin']),
    allowedRoles: z.array(z.string().min(1)).default(['admin', 'owner']),
    /** `auto --detach` log files older than this many days are removed when the next one starts. */
    logRetentionDays: z.number().int().min(1).default(14),
  });

  const httpUrl = z.string().refine(isHttpUrl, { error: 'expected an http:// or https:// URL' });
  const notifyOn = z.array(z.enum(NOTIFY_ON)).min(1).default(['failure']);

  const webhookSchema = z.strictObject({ url: httpUrl, on: notifyOn });

  /** healthchecks.io-style: `<url>/start`, `<url>`, `<url>/fail`; one URL per target, or per `--all` run. */
  const pingSchema = z.strictObject({
    backupAll: httpUrl.optional(),
    autoAll: httpUrl.optional(),
    tenants: z.record(z.string().min(1), httpUrl).default({}),
    organizations: z.record(z.string().min(1), httpUrl).default({}),
  });

  const emailSchema = z
    .strictObject({
      host: z.string().min(1),
      /** Default: 465 with `secure`, else 587. */
      port: z.number().int().min(1).max(65535).optional(),
      /** TLS from the first byte (port 465); otherwise `starttls` decides. */
      secure: z.boolean().default(false),
      starttls: z.enum(STARTTLS_MODES).default('required'),
      user: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      from: z.string().min(1),
      to: z.array(z.string().min(1)).min(1),
      /** A PEM file of the certificate authority that signed the server's certificate (a private relay). */
      caFile: z.string().min(1).optional(),
      on: notifyOn,
    })
    .refine((email) => (email.user === undefined) === (email.password === undefined), { error: 'user and password go together', path: ['password'] });

  const notificationsSchema = z.strictObject({
    /** Each delivery attempt's limit. */
    timeoutSeconds: z.number().positive().max(300).default(NOTIFICATION_DEFAULTS.timeoutSeconds),
    /** Further attempts after a failed one (not after a refusal that a retry cannot change). */
    retries: z.number().int().min(0).max(10).default(NOTIFICATION_DEFAULTS.retries),
    /** The wait before the first retry; it doubles for each further one. */
    retryDelaySeconds: z.number().min(0).max(60).default(NOTIFICATION_DEFAULTS.retryDelaySeconds),
    webhook: webhookSchema.optional(),
    ping: pingSchema.optional(),
    email: emailSchema.optional(),
  });

  const maxAgeSchema = z.strictObject({ maxAgeHours: z.number().positive() });
  const monitorSchema = z.strictObject({
    maxAgeHours: z.number().positive().default(DEFAULT_MAX_AGE_HOURS),
    tenants: z.record(z.string().min(1), maxAgeSchema).default({}),
    organizations: z.record(z.string().min(1), maxAgeSchema).default({}),
  });

  /** `ledger.keep`: the history policy (retention/history.ts). */
  const ledgerKeepSchema = z.strictObject({
    failedDays: z.number().int().min(0).default(LEDGER_KEEP_DEFAULTS.failedDays),
    missingArchives: z.boolean().default(LEDGER_KEEP_DEFAULTS.missingArchives),
  });

  /**
   * `ledger`: `json` (default; `<storage>/ledger.json` and `<storage>/ledger/`) or `database`: the
   * `auto_backup_logs` table in the organizations database, or in `client` + `connection`.
   */
  const ledgerSchema = z.strictObject({
    type: z.enum(LEDGER_TYPES).default(LEDGER_DEFAULTS.type),
    client: client.optional(),
    connection: connection.optional(),
    table: tableName.default(LEDGER_DEFAULTS.table),
    settingsTable: tableName.default(LEDGER_DEFAULTS.settingsTable),
    keep: ledgerKeepSchema.default({ ...LEDGER_KEEP_DEFAULTS }),
  });

  const configSchema = z.strictObject({
    /** Lets editors validate the file; ignored by the tool. */
    $schema: z.string().optional(),
    storage: z.strictObject({
      dir: z.string().min(1),
    }),
    timezone: z
      .string()
      .refine(isValidTimeZone, { error: (issue) => `unknown IANA time zone ${JSON.stringify(issue.input)}` })
      .optional(),
    /** Deflate level for archives, 0 (store) to 9; 1 is fastest and the default. */
    compressionLevel: z.number().int().min(0).max(9).default(1),
    tenants: z.record(z.string().min(1), tenantSchema).default({}),
    retention: retentionSchema.optional(),
    organizations: organizationsSchema.optional(),
    auto: autoSchema.default({ superAdminRoles: ['super_admin'], allowedRoles: ['admin', 'owner'], logRetentionDays: 14 }),
    notifications: notificationsSchema.optional(),
    monitor: monitorSchema.optional(),
    ledger: ledgerSchema.optional(),
  });

  return { retentionSchema, tenantSchema, organizationsSchema, autoSchema, notificationsSchema, monitorSchema, ledgerSchema, configSchema };
}
