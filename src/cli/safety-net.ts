/**
 * The CLI's last line of defence against a false success: a command whose promise never settles
 * (a driver that stops emitting events, a lost callback) lets Node's event loop empty, and Node
 * would then exit 0 with nothing printed. `runToCompletion` turns that into exit 1 with
 * "internal error: operation did not complete", after undoing what the command had begun: the
 * ledger records it opened are marked failed and its temp files removed (`OpenWork` learns of them
 * by wrapping the Deps the command uses).
 */
import type { Deps } from '../core/context.js';
import { wrapMethods as wrap } from '../core/wrap-methods.js';
import type { Ledger } from '../ledger/types.js';
import type { Store } from '../store/types.js';

export const INCOMPLETE_MESSAGE = 'internal error: operation did not complete';

/** What the running command has begun and not yet ended. */
export class OpenWork {
  readonly records = new Set<number>();
  readonly temps = new Set<string>();
  private deps: Deps | undefined;

  /** Deps whose ledger and store report begun records and temp files to this tracker. */
  track(deps: Deps): Deps {
    const ledger = wrap<Ledger>(deps.ledger, {
      begin:
        (call) =>
        async (...args) => {
          const record = await call(...args);
          this.records.add(record.id);
          return record;
        },
      finish: (call) => async (id, outcome) => {
        const record = await call(id, outcome);
        this.records.delete(id);
        return record;
      },
    });
    const store = wrap<Store>(deps.store, {
      tempPath:
        (call) =>
        async (...args) => {
          const temp = await call(...args);
          this.temps.add(temp);
          return temp;
        },
      commit:
        (call) =>
        async (temp, ...rest) => {
          const stored = await call(temp, ...rest);
          this.temps.delete(temp);
          return stored;
        },
      discard: (call) => async (temp) => {
        await call(temp);
        this.temps.delete(temp);
      },
    });
    this.deps = { ...deps, ledger, store };
    return this.deps;
  }

  /** Marks every open record failed and removes every temp file; never throws. */
  async abandon(reason: string): Promise<void> {
    if (!this.deps) return;
    const { ledger, store, progress } = this.deps;
    progress.stop();
    for (const temp of [...this.temps]) await store.discard(temp).catch(() => undefined);
    for (const id of [...this.records]) await ledger.finish(id, { status: 'failed', error_message: reason }).catch(() => undefined);
  }
}

/** The tracker of the command this process runs (the CLI runs one command per process). */
export const openWork = new OpenWork();

/**
 * Resolves with `command`'s exit code; if the event loop empties before the command settled,
 * reports the internal error, abandons the open work and resolves with exit code 1 instead.
 */
export function runToCompletion(command: () => Promise<number>, work: OpenWork = openWork, json = false): Promise<number> {
  return new Promise<number>((resolve) => {
    let settled = false;
    const onEmptyLoop = () => {
      if (settled) return;
      settled = true;
      process.off('beforeExit', onEmptyLoop);
      const message = `${INCOMPLETE_MESSAGE} (a bug: please report it with --debug output).`;
      process.stderr.write(json ? `${JSON.stringify({ error: { code: 'INCOMPLETE', message, exit_code: 1 } })}\n` : `error: ${message}\n`);
      void work.abandon(`${INCOMPLETE_MESSAGE}.`).then(() => resolve(1));
    };
    process.on('beforeExit', onEmptyLoop);
    command().then(
      (code) => {
        if (settled) return;
        settled = true;
        process.off('beforeExit', onEmptyLoop);
        resolve(code);
      },
      () => undefined, // main() reports its own errors and resolves with a code
    );
  });
}
