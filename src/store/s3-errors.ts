/**
 * What the S3 SDK's errors mean for an operator, as typed errors (exit codes in cli/exit-codes.ts):
 * - no credentials anywhere, or credentials the server refuses → ConnectionError (exit 8), saying
 *   where credentials are looked for — never quoting one;
 * - a bucket that does not exist, a missing region → ConfigError (exit 2): the configuration is wrong;
 * - the endpoint unreachable, a connection cut, a timeout → ConnectionError (exit 8);
 * - anything else → OperationError (exit 1).
 * Typed errors pass through unchanged.
 */
import { ConfigError, ConnectionError, describeCause, OperationError, TenantBackupError } from '../errors.js';

export interface BucketRef {
  bucket: string;
  /** The endpoint as configured (no credentials are ever part of it), or "AWS S3". */
  endpoint: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
const REFUSED_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'Forbidden']);

export const CREDENTIAL_SOURCES =
  'the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), the shared files ~/.aws/credentials and ~/.aws/config, or an instance / container role';

/** The SDK error's name, code, HTTP status and the first system error code in its causes. */
function facts(error: unknown): { name: string; status: number | undefined; errno: string | undefined } {
  const value = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number }; code?: string; cause?: unknown };
  let errno: string | undefined;
  for (let cause: unknown = error, depth = 0; cause && depth < 6; cause = (cause as { cause?: unknown }).cause, depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) {
      errno = code;
      break;
    }
  }
  return { name: value?.Code ?? value?.name ?? 'Error', status: value?.$metadata?.httpStatusCode, errno };
}

export function isNotFound(error: unknown): boolean {
  const { name, status } = facts(error);
  return (name === 'NotFound' || name === 'NoSuchKey') && status === 404;
}

/** `what` says what was being done ("uploading org_acme_monday_backup.zip"). */
export function s3Failure(error: unknown, what: string, ref: BucketRef): TenantBackupError {
  if (error instanceof TenantBackupError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new TenantBackupError('CANCELLED', `Cancelled while ${what}.`);
  const { name, status, errno } = facts(error);
  const where = `bucket "${ref.bucket}" at ${ref.endpoint}`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(describeCause(error))) {
    return new ConnectionError(
      `No S3 credentials found while ${what} (${where}). tenant-backup takes them only from ${CREDENTIAL_SOURCES}; never from .backuprc or the command line.`,
      error,
    );
  }
  if (REFUSED_CREDENTIALS.has(name) || status === 403) {
    return new ConnectionError(
      `The S3 server refused the credentials or denied access while ${what} (${where}): ${name}. Check the key and its permissions on the bucket (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload).`,
      error,
    );
  }
  if (name === 'NoSuchBucket' || (name === 'NotFound' && status === 404 && /bucket/i.test(what))) {
    return new ConfigError(`The bucket "${ref.bucket}" does not exist at ${ref.endpoint} (storage.bucket): fix the name or create the bucket. Nothing was uploaded.`, {
      bucket: ref.bucket,
    });
  }
  if (/Region is missing/i.test(describeCause(error))) {
    return new ConfigError(`No S3 region: set storage.region in the configuration (or AWS_REGION).`, { bucket: ref.bucket });
  }
  if (errno !== undefined || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new ConnectionError(`Cannot reach the S3 endpoint ${ref.endpoint} while ${what}: ${errno ?? name}.`, error);
  }
  return new OperationError(`S3 ${name}${status ? ` (HTTP ${status})` : ''} while ${what} (${where}): ${describeCause(error)}`, { cause: error });
}
