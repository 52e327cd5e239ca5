/**
 * Keeping a long streaming pass near its live memory. V8 grows its heap lazily under Node's
 * default limits: a pass over a million ledger records allocates gigabytes of short-lived objects
 * and the process reached 300+ MiB of RSS, although what it holds at any moment stays under
 * 50 MiB. A full collection every few thousand records keeps the RSS near that, for a few percent
 * of CPU. Callers: the JSON ledger's merge of owners (ledger/json/merge.ts) and `list`'s output.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null | undefined;

/** A full garbage collection now, where the runtime allows it (otherwise nothing). */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    } catch {
      collect = null;
    }
  }
  collect?.();
}

/** Calls `collectGarbage` once every `every` calls (per record of a long pass). */
export function garbageCollector(every: number): () => void {
  let count = 0;
  return () => {
    count += 1;
    if (count % every === 0) collectGarbage();
  };
}
