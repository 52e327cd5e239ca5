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
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
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
 * Removes every occurrence of each secret from a text. Used on messages that may quote a driver or
 * child-process error (which can echo a connection string).
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length > 0) out = out.split(secret).join('***');
  }
  // URLs with inline credentials: postgres://user:pass@host → postgres://user:***@host
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/\s@]+:)[^@\s]+@/gi, '$1***@');
}

/**
 * At a use case's boundary: typed errors pass through (their message redacted of `secrets`);
 * anything else becomes an OperationError without secrets.
 */
export function asTypedError(error: unknown, secrets: string[]): TenantBackupError {
  if (error instanceof TenantBackupError) {
    const message = redactSecrets(error.message, secrets);
    if (message === error.message) return error;
    return new TenantBackupError(error.code, message, { details: error.details });
  }
  if (error instanceof Error && error.name === 'AbortError') return new OperationError('Backup cancelled.');
  return new OperationError(redactSecrets(`Backup failed: ${describeCause(error)}`, secrets), { cause: error });
}
