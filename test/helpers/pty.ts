/**
 * Runs the built CLI on a real pseudo-terminal, as a person at a terminal would: util-linux's
 * `script` (Debian's bsdutils, always installed) allocates the pty, and bytes written to
 * `write()` arrive as typed keys — `\x03` is Ctrl-C, turned into SIGINT by the terminal's line
 * discipline exactly as in tmux or xterm. Output is everything the terminal showed, escapes included.
 */
import { spawn } from 'node:child_process';
import { BIN } from './cli.js';

export interface PtyRun {
  /** Everything written to the terminal so far (stdout and stderr interleaved, as on a screen). */
  output(): string;
  write(keys: string): void;
  /** Resolves once the output matches (rejects after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The CLI's exit code. */
  exited: Promise<number>;
}

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

export function runOnTerminal(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): PtyRun {
  const command = `stty cols 100 rows 40; exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  // A person's terminal: the CI runner's own markers are not passed on (ora, like most terminal
  // libraries, turns its spinner off when CI is set; NO_COLOR/FORCE_COLOR only when a test sets them).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !['CI', 'CONTINUOUS_INTEGRATION', 'NO_COLOR', 'FORCE_COLOR'].includes(name)));
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: options.cwd,
    env: { ...inherited, TENANT_BACKUP_CONFIG: '', TERM: 'xterm-256color', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      child.stdin.destroy();
      resolve(code ?? -1);
    });
  });
  return {
    output: () => output,
    write: (keys) => child.stdin.write(keys),
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern} on the terminal; it showed:\n${output}`));
        }, timeoutMs);
        const check = () => {
          if (!pattern.test(output)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}
