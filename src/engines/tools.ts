/**
 * Child processes of the dump engines (pg_dump, psql, mariadb-dump, mariadb): finding a tool on a
 * PATH, asking its version, running it with a per-call environment, and settling the output stream
 * by the outcome. The only place that starts a tool.
 *
 * Contracts:
 * - Argument arrays only, never a shell string; `process.env` is never mutated — each child gets
 *   its own env (secrets such as PGPASSWORD go there, never into an argv).
 * - Streams: the tool's stdout is piped into the caller's stream with back-pressure and never held
 *   whole; stdin is closed only when its source ended without error. When the source fails, the
 *   tool is KILLED before its stdin is closed, so it never sees a clean end of input.
 * - Errors quote the tool's stderr tail, redacted of every secret the caller names.
 */
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { OperationError, TenantBackupError, redactSecrets } from '../errors.js';
import type { EngineOptions } from './types.js';

export interface FoundTool {
  /** The name that was found (e.g. `mariadb-dump` rather than `mysqldump`). */
  name: string;
  /** Absolute path; the child is started by this path, never looked up again. */
  file: string;
}

/** The first of `names` that is an executable file in a directory of `searchPath`, else null. */
export async function findTool(names: readonly string[], searchPath = process.env.PATH ?? ''): Promise<FoundTool | null> {
  const dirs = searchPath.split(path.delimiter).filter((dir) => dir !== '' && path.isAbsolute(dir));
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        await access(file, fsConstants.X_OK);
        if ((await stat(file)).isFile()) return { name, file };
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

/** First line of `<tool> --version`. */
export async function toolVersion(tool: FoundTool, options: EngineOptions = {}): Promise<string> {
  const result = await execa(tool.file, ['--version'], {
    env: pathEnv(options.searchPath),
    extendEnv: true,
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
  });
  const line =
    String(result.stdout ?? '')
      .split('\n')[0]
      ?.trim() ?? '';
  if (result.exitCode !== 0 || line === '') {
    throw new OperationError(`"${tool.file} --version" failed (${result.exitCode ?? result.signal ?? 'no exit code'}); is it a working ${tool.name}?`);
  }
  return line;
}

function pathEnv(searchPath: string | undefined): Record<string, string> {
  return searchPath === undefined ? {} : { PATH: searchPath };
}

/** The first `major[.minor]` number in a version text (`pg_dump (PostgreSQL) 15.18 (Debian …)` → 15). */
export function majorVersion(text: string): number | null {
  const match = /(\d+)(?:\.\d+)*/.exec(text);
  return match ? Number(match[1]) : null;
}

/** The last `limit` bytes a stream produced (stderr of a tool), for error messages. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 64 * 1024) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

export interface ToolRun {
  tool: FoundTool;
  args: string[];
  /** Extra environment for this child only, merged over the parent's (which is never mutated). */
  env: Record<string, string | undefined>;
  searchPath?: string;
  /** Piped into the tool's stdin; the stdin is closed only when this ends without error. */
  stdin?: Readable;
  /** The tool's stdout is piped into it (not ended here: the caller decides after the exit code). */
  stdout?: Writable;
  signal?: AbortSignal;
  /** Removed from every message. */
  secrets: string[];
}

/**
 * Runs a tool to completion. Resolves with the stdout byte count when it exited 0; rejects with
 * the input's own error when the input stream failed, with a CANCELLED error when aborted, else
 * with an OperationError quoting the (redacted) stderr tail.
 */
export async function runTool(run: ToolRun): Promise<{ stdoutBytes: number }> {
  run.signal?.throwIfAborted();
  const sub = execa(run.tool.file, run.args, {
    env: { ...run.env, ...pathEnv(run.searchPath) },
    extendEnv: true,
    stdin: run.stdin ? 'pipe' : 'ignore',
    stdout: run.stdout ? 'pipe' : 'ignore',
    stderr: 'pipe',
    buffer: false,
    reject: false,
  });
  const stderr = new TailBuffer();
  sub.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  let inputError: unknown;
  let outputClosed = false;
  let cancelled = false;
  // SIGKILL first, then close stdin: once kill() returned the tool runs no more user code, so it
  // can never treat the closed pipe as a clean end of input.
  const killNow = () => void sub.kill('SIGKILL');
  const onAbort = () => {
    cancelled = true;
    killNow();
    sub.stdin?.destroy();
  };
  run.signal?.addEventListener('abort', onAbort, { once: true });

  if (run.stdin && sub.stdin) {
    const input = run.stdin;
    const stdin = sub.stdin;
    stdin.on('error', () => undefined); // EPIPE when the tool stops early: its exit status says why
    input.on('error', (error) => {
      inputError ??= error;
      killNow();
      stdin.destroy();
    });
    input.pipe(stdin);
  }

  let stdoutBytes = 0;
  let done = false;
  if (run.stdout && sub.stdout) {
    const out = run.stdout;
    sub.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
    });
    sub.stdout.pipe(out, { end: false });
    // The consumer (archive writer) failed or went away: the tool would block on a full pipe.
    out.once('close', () => {
      if (!done) {
        outputClosed = true;
        killNow();
      }
    });
  }

  try {
    const result = await sub;
    done = true;
    if (inputError !== undefined) throw inputError;
    if (cancelled || run.signal?.aborted) throw new TenantBackupError('CANCELLED', `Cancelled: ${run.tool.name} was stopped.`);
    if (outputClosed) throw new OperationError(`${run.tool.name} was stopped: its output stream was closed early.`);
    if (result.exitCode === 0) return { stdoutBytes };
    const status =
      result.exitCode !== undefined
        ? `exit code ${result.exitCode}`
        : result.signal
          ? `killed by ${result.signal}`
          : redactSecrets(String(result.message ?? 'could not start'), run.secrets);
    const tail = redactSecrets(lastLines(stderr.text(), 4000), run.secrets);
    throw new OperationError(`${run.tool.name} failed (${status})${tail ? `: ${tail}` : '.'}`, {
      details: { tool: run.tool.name, exit_code: result.exitCode ?? null },
    });
  } finally {
    done = true;
    run.signal?.removeEventListener('abort', onAbort);
    if (run.stdin && !run.stdin.readableEnded) run.stdin.destroy();
  }
}

/** The end of a long text, cut at a line start, at most `max` characters. */
export function lastLines(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  const cut = trimmed.slice(trimmed.length - max);
  const newline = cut.indexOf('\n');
  return `…${newline >= 0 ? cut.slice(newline) : cut}`;
}

/**
 * Runs `dump` (which writes into a pass-through) and settles `out` by the outcome: ended after
 * success, destroyed with the error otherwise. Keeps the contract "out ends only for a whole dump".
 */
export async function settleOutput<T>(out: Writable, dump: () => Promise<T>): Promise<T> {
  try {
    const result = await dump();
    if (out.destroyed) throw new OperationError('The dump output stream was closed before the dump finished.');
    out.end();
    return result;
  } catch (error) {
    out.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}
