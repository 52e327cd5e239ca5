/**
 * Measuring whole processes: wall time (from spawn to exit, measured here), peak RSS and CPU time
 * of the process tree (GNU `/usr/bin/time`: wait4's rusage covers the child and the descendants
 * it waited for, so a `bash -c 'a | b'` reports the largest RSS among bash, a and b and the sum of
 * their CPU), plus the CPU the database server spent meanwhile (from /proc: PostgreSQL backends
 * are reaped by the postmaster, so their time lands in its cutime/cstime; MariaDB is one process).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export const TIME_BIN = '/usr/bin/time';

export interface Measurement {
  wall_ms: number;
  /** Peak resident set size of the largest process of the tree, KiB. */
  max_rss_kib: number;
  /** CPU of the measured process tree (user + system), ms. */
  cpu_ms: number;
  /** CPU of the database server during the run (all its processes), ms; null if unknown. */
  server_cpu_ms: number | null;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where stdout/stderr of the run go (files, never memory: dumps can be large). */
  logPrefix: string;
  /** pid of the database server whose CPU is sampled around the run. */
  serverPid?: number;
}

export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Runs `argv` under /usr/bin/time; rejects when it exits non-zero (with the tail of its stderr). */
export async function measure(argv: string[], options: RunOptions): Promise<Measurement & { stdoutFile: string }> {
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} is missing (Debian: apt-get install time).`);
  const timeFile = `${options.logPrefix}.time`;
  const stdoutFile = `${options.logPrefix}.out`;
  const stderrFile = `${options.logPrefix}.err`;
  const [out, err] = await Promise.all([open(stdoutFile, 'w'), open(stderrFile, 'w')]);
  const serverBefore = options.serverPid ? await processTreeCpuMs(options.serverPid) : null;
  const started = performance.now();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(TIME_BIN, ['-f', '%M %U %S', '-o', timeFile, ...argv], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', out.fd, err.fd],
    });
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
  });
  const wall = performance.now() - started;
  // PostgreSQL reaps a backend shortly after its client left; only then is its CPU in cutime.
  if (options.serverPid) await new Promise((resolve) => setTimeout(resolve, 150));
  const serverAfter = options.serverPid ? await processTreeCpuMs(options.serverPid) : null;
  await Promise.all([out.close(), err.close()]);
  if (code !== 0) {
    const tail = (await readFile(stderrFile, 'utf8').catch(() => '')).trim().split('\n').slice(-15).join('\n');
    throw new CommandFailed(`command failed (exit ${code}): ${argv.join(' ').slice(0, 300)}\n${tail}`, code);
  }
  // "Command exited with non-zero status" lines precede the format line when the child fails.
  const line = (await readFile(timeFile, 'utf8')).trim().split('\n').at(-1) ?? '';
  const [rss, user, sys] = line.split(' ').map(Number);
  await rm(timeFile, { force: true });
  return {
    wall_ms: round(wall),
    max_rss_kib: rss ?? 0,
    cpu_ms: round(((user ?? 0) + (sys ?? 0)) * 1000),
    server_cpu_ms: serverBefore !== null && serverAfter !== null ? round(serverAfter - serverBefore) : null,
    stdoutFile,
  };
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

/** utime + stime + cutime + cstime of a process, ms (Linux /proc). */
export async function processTreeCpuMs(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14 → index 11.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
    return (ticks * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

export async function pidFromFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Single-quotes a string for bash. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function logPrefix(dir: string, name: string): string {
  return path.join(dir, name.replace(/[^A-Za-z0-9_.-]/g, '_'));
}
