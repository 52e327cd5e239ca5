/**
 * The launcher's shortcut for `auto --org <digits> [--user <id>] [--role <r>] [--owner] [--json]
 * [--quiet] [--config <path>]` when there is nothing to do (core/auto-fast.ts): the skip is printed
 * exactly as the command prints it, without loading Commander and every command. Anything else —
 * another flag, a backup that is due, any error — returns false and the full CLI runs (and says
 * whatever there is to say, with its exit code).
 */
import type { AutoOptions } from '../core/auto-rules.js';

interface FastArgs extends Pick<AutoOptions, 'organizationId' | 'role'> {
  userId: string | null;
  owner: boolean;
  json: boolean;
  quiet: boolean;
  configPath?: string;
}

function parse(args: readonly string[]): FastArgs | null {
  if (args[0] !== 'auto') return null;
  const out: Partial<FastArgs> & { userId: string | null; owner: boolean; json: boolean; quiet: boolean } = { userId: null, owner: false, json: false, quiet: false };
  for (let i = 1; i < args.length; i += 1) {
    const arg = args[i]!;
    const value = () => {
      const next = args[++i];
      return next === undefined || next.startsWith('-') ? null : next;
    };
    if (arg === '--org') {
      const org = value();
      if (org === null || !/^\d{1,40}$/.test(org) || out.organizationId !== undefined) return null;
      out.organizationId = org;
    } else if (arg === '--user') {
      if ((out.userId = value()) === null) return null;
    } else if (arg === '--role') {
      const role = value();
      if (role === null) return null;
      out.role = role;
    } else if (arg === '--config' || arg === '-c') {
      const file = value();
      if (file === null) return null;
      out.configPath = file;
    } else if (arg === '--owner') out.owner = true;
    else if (arg === '--json') out.json = true;
    else if (arg === '--quiet' || arg === '-q') out.quiet = true;
    else return null;
  }
  return out.organizationId === undefined ? null : (out as FastArgs);
}

/** True when the skip was printed (exit code 0); false: run the full CLI. */
export async function runFastAuto(argv: readonly string[]): Promise<boolean> {
  const args = parse(argv.slice(2));
  if (!args) return false;
  try {
    const { fastAutoSkip } = await import('../core/auto-fast.js');
    // Warnings are printed only when the shortcut answers: otherwise the full CLI prints its own.
    const warnings: string[] = [];
    const skipped = await fastAutoSkip({ ...args, warn: (message) => warnings.push(message) });
    if (!skipped) return false;
    for (const message of warnings) {
      process.stderr.write(args.json ? `${JSON.stringify({ warning: message.replace(/^warning: /, '') })}\n` : `${message}\n`);
    }
    // A reader that went away (`… | head`) is not an error of ours (as in main.ts).
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    if (args.json) process.stdout.write(`${JSON.stringify(skipped, null, 2)}\n`);
    else if (!args.quiet) process.stdout.write(`Skipped organization ${skipped.organization_id}: ${skipped.message}\n`);
    process.exitCode = 0;
    return true;
  } catch {
    return false;
  }
}
