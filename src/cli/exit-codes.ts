/**
 * The one table of process exit codes: error codes map to exit codes here, and both `--help` and
 * the README's table are written from `EXIT_CODE_TABLE` (the README's by hand; a unit test checks
 * that they agree).
 */
import type { ErrorCode } from '../errors.js';
import { wrap } from './columns.js';

/** Codes that are not errors of a use case: success, an unexpected failure, a check's verdict. */
type CliCode = 'SUCCESS' | 'UNEXPECTED' | 'INCOMPLETE';

export const EXIT_CODES: Record<ErrorCode | CliCode, number> = {
  SUCCESS: 0,
  OPERATION_FAILED: 1,
  UNEXPECTED: 1,
  INCOMPLETE: 1,
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
  STALE: 11,
  CANCELLED: 130,
};

/** What each exit code means, in order (the text of `--help` and of the README's table). */
export const EXIT_CODE_TABLE: readonly { code: number; meaning: string }[] = [
  { code: 0, meaning: 'success (also: `auto` skipped because nothing is due, cancelled at a prompt)' },
  { code: 1, meaning: 'the operation failed (the ledger records it as `failed` with the error), or did not complete' },
  {
    code: 2,
    meaning:
      'usage or configuration error, invalid name, unknown tenant, ambiguous organization code; an unsafe storage folder or an unusable connection URL (see the Security model); an encrypted archive to read and no key configured',
  },
  { code: 3, meaning: 'not found (backup, organization)' },
  { code: 4, meaning: 'the backup belongs to another tenant or organization' },
  {
    code: 5,
    meaning:
      'archive invalid (checksum mismatch, truncated, unknown format version, unsafe entry name, wrong kind/engine, a tenant dump holding client commands, an organization archive holding a row of another organization or a line over 1.5 GiB); cannot decrypt (a wrong key, or an encrypted archive damaged or truncated); `verify`: some archive damaged or missing',
  },
  { code: 6, meaning: 'ledger file corrupt (it is left untouched)' },
  { code: 7, meaning: 'locked: another process is working on the same target' },
  { code: 8, meaning: 'database or object storage (S3) unreachable, or authentication failed (also: no S3 credentials found, or refused)' },
  { code: 9, meaning: 'a required program (`pg_dump`, `mysqldump`, …) is missing' },
  { code: 11, meaning: '`status --check`: no successful backup younger than the limit (`--all`: for some target, or an archive shrank by more than half)' },
  { code: 130, meaning: 'interrupted (Ctrl-C / SIGTERM); nothing was committed' },
];

/** The exit-code section of every command's `--help`, from the table above. */
export function exitCodeHelp(): string {
  const lines = EXIT_CODE_TABLE.map(({ code, meaning }) =>
    wrap(meaning.replace(/`/g, ''), 80 - 7)
      .map((line, i) => `  ${i === 0 ? String(code).padEnd(5) : '     '}${line}`)
      .join('\n'),
  );
  return `Exit codes:\n${lines.join('\n')}`;
}

/**
 * Thrown by a command that has printed its result and only needs a non-zero exit code (e.g.
 * `status --check` on a stale backup): main.ts exits with it and prints nothing more.
 */
export class ResultExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}
