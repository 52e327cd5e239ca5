/**
 * `--all` runs: `work` for each item, at most `concurrency` at a time, items started in order. One
 * item's failure is the item's own business (`work` catches it); once `signal` aborts, no further
 * item starts. Results come back by index; an item never started is undefined.
 */
export async function runPool<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>, signal?: AbortSignal): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array(items.length).fill(undefined);
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length || 1));
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
