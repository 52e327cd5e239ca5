/**
 * Output of the `--all` runs (`auto --all`, `backup --all`) and of failed notifications. When
 * stdout is not a terminal (cron): one line per target as each finishes, with its time — or, with
 * --json, one JSON object per line — then a summary line. On a terminal: a table at the end.
 */
import { wholeSeconds } from '../format.js';
import type { CommandContext } from './command-kit.js';
import { withInterrupt } from './interaction.js';
import { printLine, printWarning } from './render.js';

export interface RunView<I, R> {
  /** The cron line of one target. */
  line(item: I): string;
  /** The terminal's table of the whole run. */
  table(result: R): string;
  /** The cron summary after `<time> summary `. */
  summary(result: R): string;
}

export async function printAllRun<I extends object, R extends { summary: object }>(
  ctx: CommandContext,
  run: (signal: AbortSignal, onResult: ((item: I) => void) | undefined) => Promise<R>,
  view: RunView<I, R>,
): Promise<R> {
  const lines = ctx.output.json || !process.stdout.isTTY;
  const onResult = (item: I) => {
    if (ctx.output.json) process.stdout.write(`${JSON.stringify({ time: wholeSecondsNow(), ...item })}\n`);
    else printLine(view.line(item), ctx.output);
  };
  const result = await withInterrupt(ctx.output, (signal) => run(signal, lines ? onResult : undefined));
  if (ctx.output.json) process.stdout.write(`${JSON.stringify({ time: wholeSecondsNow(), summary: result.summary })}\n`);
  else if (lines) printLine(`${wholeSecondsNow()} summary ${view.summary(result)}`, ctx.output);
  else printLine(view.table(result), ctx.output);
  return result;
}

/** A notification that could not be delivered: a warning on stderr, also for cron and --json. */
export function warnDeliveryFailure(message: string): void {
  printWarning(`notification failed: ${message}`);
}

function wholeSecondsNow(): string {
  return wholeSeconds(new Date().toISOString());
}
