/** Terminal interaction: confirmation prompts and the spinner, only when a person is there. */
import type { Progress } from '../core/context.js';
import { silentProgress } from '../core/context.js';
import { TenantBackupError, UsageError } from '../errors.js';
import type { OutputOptions } from './render.js';

/** Asks on a TTY; without one, `--yes` is required (cron must never hang on a prompt). */
export function confirmer(yes: boolean, action: string): (question: string) => Promise<boolean> {
  return async (question) => {
    if (yes) return true;
    if (!process.stdin.isTTY || !process.stderr.isTTY) throw UsageError.confirmationRequired(action);
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  };
}

/** An ora spinner on stderr when it is a TTY and output is for a person; silent otherwise. */
export async function createProgress(options: OutputOptions): Promise<Progress> {
  if (options.json || options.quiet || !process.stderr.isTTY) return silentProgress;
  const { default: ora } = await import('ora');
  const spinner = ora({ stream: process.stderr });
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
 * its safety backup) instead of killing the process mid-write.
 *
 * The handlers stay registered (`on`, not `once`) until the operation has settled: execa's
 * signal-exit re-raises a signal to kill the process when no other listener is left, which would
 * cut the clean-up short. A second signal is ignored while the clean-up runs.
 */
export async function withInterrupt<T>(operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (!controller.signal.aborted) process.stderr.write('\nInterrupted: stopping and cleaning up…\n');
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
