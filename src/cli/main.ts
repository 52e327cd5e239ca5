/**
 * The CLI entry point: the only place that sets the process exit code or exits. Errors become one
 * clear line (or a JSON object on stderr with --json) and an exit code from `exit-codes.ts`;
 * stack traces only with --debug, and only for unexpected errors.
 */
import { CommanderError } from 'commander';
import { isTenantBackupError, type TenantBackupError } from '../errors.js';
import { EXIT_CODES, ResultExit } from './exit-codes.js';
import { buildProgram } from './program.js';
import { runToCompletion } from './safety-net.js';

export async function main(argv: string[] = process.argv): Promise<number> {
  const wantsJson = argv.includes('--json');
  const debug = argv.includes('--debug');
  const program = buildProgram({ json: wantsJson });
  try {
    await program.parseAsync(argv);
    return EXIT_CODES.SUCCESS;
  } catch (error) {
    if (error instanceof ResultExit) return error.exitCode;
    if (error instanceof CommanderError) {
      // Help and version are "errors" in commander's exitOverride mode; they already printed.
      if (error.exitCode === 0) return EXIT_CODES.SUCCESS;
      if (wantsJson) reportJson({ code: 'USAGE', message: error.message.replace(/^error: /, '') }, EXIT_CODES.USAGE);
      return EXIT_CODES.USAGE;
    }
    return report(error, wantsJson, debug);
  }
}

function report(error: unknown, json: boolean, debug: boolean): number {
  if (isTenantBackupError(error)) {
    const exitCode = EXIT_CODES[error.code];
    const stack = debug && error.cause instanceof Error ? error.cause.stack : undefined;
    if (json) reportJson({ ...describe(error), ...(stack ? { stack } : {}) }, exitCode);
    else process.stderr.write(`error: ${error.message}\n${stack ? `${stack}\n` : ''}`);
    return exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  const stack = debug && error instanceof Error ? error.stack : undefined;
  if (json) reportJson({ code: 'UNEXPECTED', message, ...(stack ? { stack } : {}) }, EXIT_CODES.UNEXPECTED);
  else process.stderr.write(`error: unexpected failure: ${message}\n${stack ? `${stack}\n` : '(run with --debug for details)\n'}`);
  return EXIT_CODES.UNEXPECTED;
}

function describe(error: TenantBackupError) {
  return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
}

function reportJson(error: { code: string; message: string }, exitCode: number): void {
  process.stderr.write(`${JSON.stringify({ error: { ...error, exit_code: exitCode } })}\n`);
}

/**
 * Runs the CLI and exits once stdout/stderr are flushed. Never exits 0 unless the command reached
 * its result: an emptied event loop with the command unsettled is exit 1 (see safety-net.ts).
 */
export async function run(): Promise<void> {
  // A reader that goes away (`tenant-backup list | head`) is not an error of ours: stop quietly
  // instead of dying on an unhandled EPIPE with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  const code = await runToCompletion(() => main(), undefined, process.argv.includes('--json'));
  process.exitCode = code;
  // Drivers (knex pools) must not keep the process alive; streams are flushed before exit.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
