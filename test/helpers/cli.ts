/** Runs the built CLI (`bin/tenant-backup.js` → dist/) as a real process, as users and cron do. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/tenant-backup.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout's bytes, with `binary: true` (an archive written to stdout). */
  stdoutBytes?: Buffer;
}

/** `timeoutMs`: the process is killed (SIGKILL) after that long, and `code` is then -1. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; nodeArgs?: string[]; timeoutMs?: number; binary?: boolean } = {}): Promise<CliResult> {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: the integration project builds it first (test/build-dist.ts); run CLI tests through vitest, or `npm run build`.');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, TENANT_BACKUP_CONFIG: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const bytes: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      if (options.binary) bytes.push(chunk);
      else stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ...(options.binary && { stdoutBytes: Buffer.concat(bytes) }) });
    });
  });
}

/** Any program (faketime, unshare, …) with the CLI's environment rules: no TENANT_BACKUP_CONFIG unless given. */
export function runProgram(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, TENANT_BACKUP_CONFIG: '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
