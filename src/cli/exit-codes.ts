/** The one place where error codes become process exit codes. Listed in --help and the README. */
import type { ErrorCode } from '../errors.js';

export const EXIT_CODES: Record<ErrorCode, number> & { SUCCESS: number; UNEXPECTED: number } = {
  SUCCESS: 0,
  OPERATION_FAILED: 1,
  UNEXPECTED: 1,
  USAGE: 2,
  CONFIG: 2,
  INVALID_NAME: 2,
  NOT_FOUND: 3,
  FORBIDDEN_TARGET: 4,
  ARCHIVE_INVALID: 5,
  LEDGER_CORRUPT: 6,
  LOCKED: 7,
  CONNECTION: 8,
  TOOL_MISSING: 9,
  NOT_IMPLEMENTED: 10,
  STALE: 11,
  CANCELLED: 130,
};

export const EXIT_CODE_HELP = `Exit codes:
  0    success (also: nothing to do, cancelled at the prompt)
  1    the operation failed (details in the message; the ledger records it)
  2    usage or configuration error, invalid name
  3    not found (backup, organization)
  4    the backup belongs to another tenant or organization
  5    archive invalid (checksum, format, truncated, unsafe entry)
  6    ledger file corrupt (left untouched)
  7    locked: another process is working on the same target
  8    database unreachable or authentication failed
  9    a required program (pg_dump, mysqldump, ...) is missing
  10   not implemented yet
  11   status --check: no successful backup younger than the limit
  130  interrupted (Ctrl-C)`;
