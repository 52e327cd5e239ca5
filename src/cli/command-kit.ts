/**
 * What every command shares: its context (output options, lazily built Deps, the spinner),
 * the action wrapper, help text with examples and exit codes, and small argument parsers.
 */
import type { Command } from 'commander';
import type { Deps, Progress } from '../core/context.js';
import type { Target } from '../core/targets.js';
import { UsageError } from '../errors.js';
import { exitCodeHelp } from './exit-codes.js';
import { createProgress } from './interaction.js';
import type { OutputOptions } from './render.js';
import { openWork } from './safety-net.js';

interface GlobalOptions {
  config?: string;
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

export interface CommandContext {
  output: OutputOptions;
  /** The Deps of this command, built once (the safety net tracks what they begin). */
  deps(): Promise<Deps>;
  /** The spinner (silent unless a person watches a terminal); stopped before any prompt. */
  progress(): Promise<Progress>;
  /** `--org <id|code>` and `<tenant>` as a target; codes are looked up (see core/organizations.ts). */
  target(options: { tenant?: string | undefined; org?: string | undefined }): Promise<Target>;
}

export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n\n${exitCodeHelp()}\n`;
}

function contextOf(command: Command): CommandContext {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const output: OutputOptions = { json: Boolean(globals.json), quiet: Boolean(globals.quiet) };
  let progress: Promise<Progress> | undefined;
  let deps: Promise<Deps> | undefined;
  const ctx: CommandContext = {
    output,
    progress: () => (progress ??= createProgress(output)),
    deps: () =>
      (deps ??= (async () => {
        const { createDeps } = await import('../core/context.js');
        // Under --json, stderr carries only JSON: a warning is an object of its own on one line.
        const warn = output.json ? (message: string) => process.stderr.write(`${JSON.stringify({ warning: message.replace(/^warning: /, '') })}\n`) : undefined;
        return openWork.track(await createDeps({ configPath: globals.config, progress: await ctx.progress(), warn }));
      })()),
    async target(options) {
      const { targetFrom } = await import('../core/targets.js');
      const target = targetFrom(options);
      if (target.kind === 'database' || /^\d+$/.test(target.organizationId)) return target;
      const { resolveOrganizationId } = await import('../core/organizations.js');
      return { kind: 'organization', organizationId: await resolveOrganizationId(await ctx.deps(), target.organizationId) };
    },
  };
  return ctx;
}

/** Wraps an action so every command gets its context. */
export function action<A extends unknown[]>(handler: (ctx: CommandContext, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    await handler(contextOf(command), ...(args.slice(0, -1) as A));
  };
}

export function plural(count: number, word: string): string {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

/** `value` as an integer from 1 (to `max`, when given); anything else is a UsageError naming `flag`. */
export function parsePositiveInteger(value: string, flag: string, max?: number): number {
  const number = Number(value);
  const valid = /^\d+$/.test(value.trim()) && Number.isSafeInteger(number) && number >= 1 && (max === undefined || number <= max);
  if (!valid) throw new UsageError(`${flag} must be ${max === undefined ? 'a positive integer' : `an integer from 1 to ${max}`}, not "${value}".`);
  return number;
}

/** With --org, the single positional is the backup; without, it is `<tenant> <backup>`. */
export function splitTargetAndBackup(first: string | undefined, second: string | undefined, org: string | undefined) {
  if (org !== undefined) {
    if (first === undefined || second !== undefined) throw new UsageError('With --org, give exactly one backup: `--org <id|code> <backup>`.');
    return { tenant: undefined, backup: first };
  }
  if (first === undefined || second === undefined) throw new UsageError('Give a tenant and a backup: `<tenant> <backup>` (or `--org <id|code> <backup>`).');
  return { tenant: first, backup: second };
}
