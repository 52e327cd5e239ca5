/**
 * Typed errors. Every error the tool raises on purpose is a TenantBackupError with a stable `code`;
 * `src/cli/exit-codes.ts` maps codes to process exit codes in one place. Messages never contain
 * secrets (passwords are redacted before they reach an error, see `redactSecrets`).
 */

export type ErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'NOT_FOUND'
  | 'FORBIDDEN_TARGET'
  | 'INVALID_NAME'
  | 'ARCHIVE_INVALID'
  | 'LEDGER_CORRUPT'
  | 'LOCKED'
  | 'CONNECTION'
  | 'TOOL_MISSING'
  | 'CANCELLED'
  | 'STALE'
  | 'OPERATION_FAILED';

export class TenantBackupError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts for `--json` error output (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    // Every typed error is cleaned of configured secrets and URL credentials, and capped.
    super(redactSecrets(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

export class UsageError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('USAGE', message, { details });
  }
  static confirmationRequired(action: string): UsageError {
    return new UsageError(`${action} needs confirmation: pass --yes (standard input is not a terminal, so I cannot ask).`);
  }
}

export class ConfigError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFIG', message, { details });
  }
  static notFound(searched: string): ConfigError {
    return new ConfigError(`No configuration found: ${searched}. Pass --config <path>, set TENANT_BACKUP_CONFIG, or create .backuprc (see .backuprc.example).`);
  }
  static missingEnv(variable: string, path: string): ConfigError {
    return new ConfigError(`Configuration ${path} uses \${${variable}}, but the environment variable ${variable} is not set.`, { variable, path });
  }
  static unknownTenant(name: string, known: string[]): ConfigError {
    const hint = known.length > 0 ? ` Known tenants: ${known.join(', ')}.` : ' No tenants are configured.';
    return new ConfigError(`Unknown tenant "${name}": it is not under "tenants" in the configuration.${hint}`, { tenant: name });
  }
  static missingOrganizations(): ConfigError {
    return new ConfigError('The configuration has no "organizations" section, which --org needs.');
  }
}

export class NotFoundError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('NOT_FOUND', message, { details });
  }
  static backup(name: string): NotFoundError {
    return new NotFoundError(`Backup "${name}" was not found in the store.`, { backup: name });
  }
  static organization(id: string, table: string): NotFoundError {
    return new NotFoundError(`Organization ${id} was not found in table "${table}".`, { organization_id: id });
  }
}

export class ForbiddenTargetError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('FORBIDDEN_TARGET', message, { details });
  }
  static otherOwner(name: string, owner: string): ForbiddenTargetError {
    return new ForbiddenTargetError(`Backup "${name}" does not belong to ${owner}; refusing to touch it.`, { backup: name });
  }
}

export class InvalidNameError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('INVALID_NAME', message, { details });
  }
}

export class ArchiveError extends TenantBackupError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('ARCHIVE_INVALID', message, options);
  }
}

export class LedgerCorruptError extends TenantBackupError {
  constructor(file: string, cause?: unknown) {
    super('LEDGER_CORRUPT', `The ledger ${file} is not valid (${describeCause(cause)}). It was left untouched: repair or move it, then retry.`, { cause, details: { file } });
  }
}

export class LockedError extends TenantBackupError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('LOCKED', message, { details });
  }
}

/**
 * Today's automatic backup of an organization is already recorded (`success` or `in_progress`):
 * the ledger's once-a-day rule, which holds even if an operation lock was lost.
 */
export class DailySlotTakenError extends LockedError {
  constructor(
    readonly organizationId: string,
    readonly backupDate: string,
    readonly existing: { id: number; status: string },
  ) {
    super(`Today's automatic backup of organization ${organizationId} (${backupDate}) is already recorded (record ${existing.id}, ${existing.status}).`, {
      organization_id: organizationId,
      backup_date: backupDate,
      record_id: existing.id,
      status: existing.status,
    });
  }
}

export class ConnectionError extends TenantBackupError {
  constructor(message: string, cause?: unknown) {
    super('CONNECTION', message, { cause });
  }
}

export class ToolMissingError extends TenantBackupError {
  constructor(tool: string, debianPackage: string, message?: string, details?: Record<string, unknown>) {
    super('TOOL_MISSING', message ?? `The program "${tool}" was not found on PATH. Install it (Debian: apt-get install ${debianPackage}).`, {
      details: { tool, package: debianPackage, ...details },
    });
  }
  /** The tool exists but is older than the server (pg_dump refuses to dump a newer server). */
  static tooOld(tool: string, toolVersion: string, serverVersion: string, debianPackage: string, what: string): ToolMissingError {
    return new ToolMissingError(
      tool,
      debianPackage,
      `${tool} is ${toolVersion}, older than the ${serverVersion} server of ${what}; it refuses to dump a newer server. Install ${debianPackage} (Debian: apt-get install ${debianPackage}) and put its ${tool} first on PATH.`,
      { tool_version: toolVersion, server_version: serverVersion },
    );
  }
}

export class OperationError extends TenantBackupError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('OPERATION_FAILED', message, options);
  }
}

export function isTenantBackupError(error: unknown): error is TenantBackupError {
  return error instanceof TenantBackupError;
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'unknown cause';
  return String(cause);
}

/**
 * Why a text is not JSON, without quoting any of it: V8's messages quote the start of the text
 * (a ledger symlinked to /etc/shadow would show its first bytes). Gives the line and column when
 * the message has a position.
 */
export function describeJsonError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message);
  if (position) {
    const offset = Math.min(Number(position[1]), text.length);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    return `not valid JSON at line ${line}, column ${offset - before.lastIndexOf('\n')}`;
  }
  if (message.startsWith('Unexpected end')) return 'not valid JSON: it ends too early';
  return 'not valid JSON; contents not shown';
}

/** Longest error message shown (characters): a server quoting a 2 MiB value back is cut to this. */
export const MAX_MESSAGE_CHARS = 4096;
/** Of a cut message, this much of the end is kept too (where drivers put context and codes). */
const KEPT_TAIL_CHARS = 1024;

/**
 * Every secret value of the configuration (passwords, URL credentials, key material), registered
 * by the configuration loader. Every TenantBackupError's message and every `redactSecrets` result
 * is cleaned of them, so a driver, a child process or a server echoing a secret never gets it
 * through, whichever call site forgot to pass it.
 */
const configuredSecrets = new Set<string>();

export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) if (value !== undefined && value !== '') configuredSecrets.add(value);
}

/**
 * Removes every occurrence of each secret (given and configured) from a text, replaces the whole
 * user-information part of every URL (`postgres://user:pass@host` → `postgres://***@host`), then
 * cuts the text to MAX_MESSAGE_CHARS. Linear in the text's length (no backtracking pattern: a
 * server can quote megabytes of a value back). Redaction comes before the cut, so a secret
 * straddling the cut is never half-shown.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  const all = [...new Set([...secrets, ...configuredSecrets])].filter((s): s is string => s !== undefined && s !== '');
  // Longest first: a secret containing another is removed whole.
  for (const secret of all.sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join('***');
  }
  return capMessage(redactUrlCredentials(out));
}

/**
 * `scheme://anything@host…` → `scheme://***@host…`: the user information of a URL is everything
 * before the last `@` of the URL (a password may hold unencoded `@ / # ?`, so no finer parse is
 * trusted). A URL ends at white space or a quote. One pass over the text.
 */
export function redactUrlCredentials(text: string): string {
  const parts: string[] = [];
  let copied = 0;
  for (let at = text.indexOf('://'); at !== -1;) {
    const start = at + 3;
    let end = start;
    let lastAt = -1;
    for (; end < text.length && !URL_END.has(text.charCodeAt(end)); end++) {
      if (text.charCodeAt(end) === 0x40 /* @ */) lastAt = end;
    }
    if (lastAt !== -1 && text.slice(start, lastAt) !== '***') {
      parts.push(text.slice(copied, start), '***');
      copied = lastAt;
    }
    at = text.indexOf('://', Math.max(end, start)); // the next URL starts after this one: one pass in all
  }
  if (parts.length === 0) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}

/** Characters that end a URL inside a message: white space and quotes. */
const URL_END = new Set([0x20, 0x09, 0x0a, 0x0d, 0x22, 0x27, 0x60, 0x3c, 0x3e]);

/** Cuts a long text to MAX_MESSAGE_CHARS, keeping its start and its end. */
export function capMessage(text: string): string {
  if (text.length <= MAX_MESSAGE_CHARS) return text;
  const head = MAX_MESSAGE_CHARS - KEPT_TAIL_CHARS;
  const omitted = text.length - head - KEPT_TAIL_CHARS;
  return `${text.slice(0, head)} … [${omitted.toLocaleString('en-US')} characters not shown] … ${text.slice(text.length - KEPT_TAIL_CHARS)}`;
}

/** The error, or one of its causes, is the file system being full (or over quota). */
export function isNoSpaceError(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 8; cause = cause.cause, depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}

/**
 * At a use case's boundary: typed errors pass through (their message redacted of `secrets`);
 * anything else becomes an OperationError without secrets.
 */
export function asTypedError(error: unknown, secrets: string[]): TenantBackupError {
  // A full disk is not an invalid archive: the write failed, nothing is wrong with the data.
  if (isNoSpaceError(error) && !(error instanceof TenantBackupError && error.code === 'OPERATION_FAILED')) {
    return new OperationError(redactSecrets(`No space left on device: ${describeCause(error)}`, secrets), { cause: error, details: { errno: 'ENOSPC' } });
  }
  if (error instanceof TenantBackupError) {
    const message = redactSecrets(error.message, secrets);
    if (message === error.message) return error;
    return new TenantBackupError(error.code, message, { details: error.details });
  }
  if (error instanceof Error && error.name === 'AbortError') return new OperationError('Backup cancelled.');
  return new OperationError(redactSecrets(`Backup failed: ${describeCause(error)}`, secrets), { cause: error });
}
