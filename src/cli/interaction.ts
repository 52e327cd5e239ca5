/** Terminal interaction: confirmation prompts and the spinner, only when a person is there. */
import type { Progress } from '../core/context.js';
import { silentProgress } from '../core/context.js';
import { TenantBackupError, UsageError } from '../errors.js';
import type { OutputOptions } from './render.js';

/** no-color.org: a non-empty NO_COLOR turns every colour off (the spinner's too). */
export function colourAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return !env.NO_COLOR;
}

/**
 * Asks on a TTY; without one, `--yes` is required (cron must never hang on a prompt). The spinner
 * is stopped first, so the whole question stays visible while the answer is awaited. Ctrl-C at
 * the prompt (readline turns it into an event, not a signal) ends the command with exit 130.
 */
export function confirmer(yes: boolean, action: string, progress: Progress = silentProgress): (question: string) => Promise<boolean> {
  return async (question) => {
    if (yes) return true;
    if (!process.stdin.isTTY || !process.stderr.isTTY) throw UsageError.confirmationRequired(action);
    progress.stop();
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const interrupted = new Promise<never>((_, reject) => rl.once('SIGINT', () => reject(new TenantBackupError('CANCELLED', `Interrupted at the prompt; nothing was changed.`))));
    try {
      const answer = await Promise.race([rl.question(`${question} [y/N] `), interrupted]);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
      process.stdin.pause();
    }
  };
}

/**
 * An ora spinner on stderr when it is a TTY and output is for a person; silent otherwise.
 * `discardStdin: false`: ora's default puts the terminal in raw mode, which turns Ctrl-C into a
 * byte on stdin instead of SIGINT — a long command then ignored it. The terminal keeps its normal
 * mode, so Ctrl-C is a signal and `withInterrupt` stops the command.
 */
export async function createProgress(options: OutputOptions): Promise<Progress> {
  if (options.json || options.quiet || !process.stderr.isTTY) return silentProgress;
  const { default: ora } = await import('ora');
  const spinner = ora({ stream: process.stderr, discardStdin: false, ...(colourAllowed() ? {} : { color: false }) });
  return {
    update(text) {
      if (!spinner.isSpinning) spinner.start(text);
      else spinner.text = text;
    },
    note(text) {
      const spinning = spinner.isSpinning;
      if (spinning) spinner.stop();
      process.stderr.write(`${text}\n`);
      if (spinning) spinner.start();
    },
    stop() {
      spinner.stop();
    },
  };
}

/**
 * Runs a long operation that stops cleanly on Ctrl-C / SIGTERM: the signal aborts it (temp files
 * removed, child processes stopped, ledger record marked failed, a MariaDB restore rolled back to
 * its safety backup) instead of killing the process mid-write. Under --json nothing but the final
 * JSON error object reaches stderr.
 *
 * The handlers stay registered (`on`, not `once`) until the operation has settled: execa's
 * signal-exit re-raises a signal to kill the process when no other listener is left, which would
 * cut the clean-up short. A second signal is ignored while the clean-up runs.
 */
export async function withInterrupt<T>(output: OutputOptions, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (!controller.signal.aborted && !output.json) process.stderr.write('\nInterrupted: stopping and cleaning up…\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await operation(controller.signal);
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    // Keep what the operation said happened (e.g. "restore failed; safety backup loaded back").
    const said = error instanceof TenantBackupError && error.code !== 'CANCELLED' ? ` ${error.message}` : ' Nothing was committed.';
    throw new TenantBackupError('CANCELLED', `Interrupted.${said}`, { cause: error });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
