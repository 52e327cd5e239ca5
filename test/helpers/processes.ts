/**
 * Watching the command lines of this machine's processes while something runs (Linux /proc): how
 * tests prove that a secret never reaches an argv while a dump tool is running.
 */
import fsp from 'node:fs/promises';

/**
 * Runs `work`; meanwhile reads every process's command line (arguments joined by NUL) over and
 * over and hands each to `inspect`. Resolves with the work's result and how many full sweeps of
 * /proc were made (a sweep that saw the tool running proves the watch was on).
 */
export async function watchCommandLines<T>(work: () => Promise<T>, inspect: (cmdline: string) => Promise<void> | void): Promise<{ result: T; sweeps: number }> {
  let stop = false;
  let sweeps = 0;
  const watcher = (async () => {
    while (!stop) {
      sweeps += 1;
      for (const pid of await fsp.readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline !== '') await inspect(cmdline);
      }
    }
  })();
  try {
    return { result: await work(), sweeps };
  } finally {
    stop = true;
    await watcher;
  }
}
