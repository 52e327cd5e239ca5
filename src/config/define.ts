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

/** Where archives live: a local folder, or an S3-compatible bucket with `dir` as local staging. */
export const STORAGE_TYPES = ['local', 's3'] as const;
/** `storage.serverSideEncryption`: S3's own values of `x-amz-server-side-encryption`. */
export const SERVER_SIDE_ENCRYPTIONS = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;
/**
 * `storage.storageClass`: the classes whose objects can be read back at once. GLACIER and
 * DEEP_ARCHIVE are left out on purpose: an upload is confirmed by reading it back, and a restore
 * must not wait hours for a thaw.
 */
export const STORAGE_CLASSES = ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY'] as const;
/** Keys of `storage` that only an S3 store takes. */
export const S3_STORAGE_KEYS = [
  'bucket',
  'prefix',
  'region',
  'endpoint',
  'forcePathStyle',
  'serverSideEncryption',
  'sseKmsKeyId',
  'storageClass',
  'partSizeMiB',
  'uploadConcurrency',
  'keepLocalCopy',
] as const;
/** S3's own limits: parts of 5 MiB to 5 GiB. */
export const PART_SIZE_MIB = { min: 5, max: 5120, default: 8 } as const;
export const UPLOAD_CONCURRENCY = { min: 1, max: 16, default: 4 } as const;

/** A key prefix in the bucket: empty, or relative segments without `.`/`..` or empty ones. */
export function isSafeKeyPrefix(value: string): boolean {
  if (value === '') return true;
  const segments = (value.endsWith('/') ? value.slice(0, -1) : value).split('/');
  return !value.startsWith('/') && !value.includes('\\') && segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** An S3 endpoint: http(s), and no user or password in it (credentials come only from the AWS sources). */
export function isS3Endpoint(value: string): boolean {
  if (!isHttpUrl(value)) return false;
  const url = new URL(value);
  return url.username === '' && url.password === '';
}

/** S3 bucket names: 3–63 lower-case letters, digits, dots and hyphens (also what R2, MinIO, B2 take). */
export function isBucketName(value: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value);
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

  /**
   * Encryption at rest with age (cipher/settings.ts): `recipients` (public keys: `age1…`,
   * `ssh-ed25519 …`) to write, `identityFile` (age-keygen format) to read, or a `passphrase`.
   */
  const encryptionSchema = z.strictObject({
    recipients: z.array(z.string().min(1)).optional(),
    identityFile: z.string().min(1).optional(),
    passphrase: z.string().min(1).optional(),
  });

  const tenantSchema = z.strictObject({
    client,
    connection,
    /** Overrides the top-level `retention`, key by key. */
    retention: retentionSchema.optional(),
    /** Overrides the top-level `encryption`, key by key. */
    encryption: encryptionSchema.optional(),
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
    /**
     * Extra tables whose organization's rows only a condition can find (polymorphic or JSON links):
     * table → SQL condition on that table's columns, with `:org` for the organization id.
     */
    include: z.record(tableName, z.string().min(1)).optional(),
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
    storage: z
      .strictObject({
        type: z.enum(STORAGE_TYPES).optional(),
        /** The archives (local) or the local staging folder (s3); the ledger and locks live here in both cases. */
        dir: z.string().min(1),
        bucket: z.string().refine(isBucketName, { error: 'expected an S3 bucket name (3-63 characters: a-z 0-9 . -)' }).optional(),
        prefix: z.string().refine(isSafeKeyPrefix, { error: 'expected a relative key prefix such as "backups/" (no leading "/", no empty, "." or ".." segment)' }).optional(),
        region: z.string().min(1).optional(),
        endpoint: z
          .string()
          .refine(isS3Endpoint, { error: 'expected an http:// or https:// URL without user or password (S3 credentials come from the environment, ~/.aws or an instance role)' })
          .optional(),
        forcePathStyle: z.boolean().optional(),
        serverSideEncryption: z.enum(SERVER_SIDE_ENCRYPTIONS).optional(),
        sseKmsKeyId: z.string().min(1).optional(),
        storageClass: z.enum(STORAGE_CLASSES).optional(),
        partSizeMiB: z.number().int().min(PART_SIZE_MIB.min).max(PART_SIZE_MIB.max).optional(),
        uploadConcurrency: z.number().int().min(UPLOAD_CONCURRENCY.min).max(UPLOAD_CONCURRENCY.max).optional(),
        keepLocalCopy: z.boolean().optional(),
      })
      .refine((storage) => storage.type !== 's3' || storage.bucket !== undefined, { error: 'a bucket is required when type is "s3"', path: ['bucket'] })
      .refine((storage) => storage.type === 's3' || S3_STORAGE_KEYS.every((key) => storage[key] === undefined), {
        error: `${S3_STORAGE_KEYS.join(', ')} are settings of an S3 store: add "type": "s3"`,
        path: ['type'],
      })
      .refine((storage) => storage.sseKmsKeyId === undefined || storage.serverSideEncryption?.startsWith('aws:kms') === true, {
        error: 'sseKmsKeyId goes with serverSideEncryption "aws:kms" or "aws:kms:dsse"',
        path: ['sseKmsKeyId'],
      }),
    timezone: z
      .string()
      .refine(isValidTimeZone, { error: (issue) => `unknown IANA time zone ${JSON.stringify(issue.input)}` })
      .optional(),
    /** Deflate level for archives, 0 (store) to 9; 1 is fastest and the default. */
    compressionLevel: z.number().int().min(0).max(9).default(1),
    tenants: z.record(z.string().min(1), tenantSchema).default({}),
    retention: retentionSchema.optional(),
    encryption: encryptionSchema.optional(),
    organizations: organizationsSchema.optional(),
    auto: autoSchema.default({ superAdminRoles: ['super_admin'], allowedRoles: ['admin', 'owner'], logRetentionDays: 14 }),
    notifications: notificationsSchema.optional(),
    monitor: monitorSchema.optional(),
    ledger: ledgerSchema.optional(),
  });

  return { retentionSchema, encryptionSchema, tenantSchema, organizationsSchema, autoSchema, notificationsSchema, monitorSchema, ledgerSchema, configSchema };
}
