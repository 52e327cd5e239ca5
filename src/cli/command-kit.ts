/**
 * What every command shares: its context (output options, lazily built Deps), the action
 * wrapper, help text with examples and exit codes, and small argument parsers.
 */
import type { Command } from 'commander';
import type { Deps } from '../core/context.js';
import { UsageError } from '../errors.js';
import { EXIT_CODE_HELP } from './exit-codes.js';
import { createProgress } from './interaction.js';
import type { OutputOptions } from './render.js';

interface GlobalOptions {
  config?: string;
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

export interface CommandContext {
  output: OutputOptions;
  deps(): Promise<Deps>;
}

export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n\n${EXIT_CODE_HELP}\n`;
}

async function contextOf(command: Command): Promise<CommandContext> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const output: OutputOptions = { json: Boolean(globals.json), quiet: Boolean(globals.quiet) };
  return {
    output,
    async deps() {
      const { createDeps } = await import('../core/context.js');
      const progress = await createProgress(output);
      return createDeps({ configPath: globals.config, progress });
    },
  };
}

/** Wraps an action so every command gets its context. */
export function action<A extends unknown[]>(handler: (ctx: CommandContext, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const ctx = await contextOf(command);
    await handler(ctx, ...(args.slice(0, -1) as A));
  };
}

export function plural(count: number, word: string): string {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

export function parsePositiveInteger(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`${flag} must be a positive integer, not "${value}".`);
  return number;
}

/** With --org, the single positional is the backup; without, it is `<tenant> <backup>`. */
export function splitTargetAndBackup(first: string | undefined, second: string | undefined, org: string | undefined) {
  if (org !== undefined) {
    if (first === undefined || second !== undefined) throw new UsageError('With --org, give exactly one backup: `--org <id> <backup>`.');
    return { tenant: undefined, backup: first };
  }
  if (first === undefined || second === undefined) throw new UsageError('Give a tenant and a backup: `<tenant> <backup>` (or `--org <id> <backup>`).');
  return { tenant: first, backup: second };
}
