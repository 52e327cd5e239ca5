/**
 * How long a backup spends in ledger work (issue 17: ≤ 50 ms at a million records). Run by
 * bench/ledger.ts as its own process: `node --import tsx bench/ledger-work.ts <config> <org> <runs>`.
 * Each run is a real `backupOrganization` (the demo SQLite database) whose ledger is wrapped: the
 * time spent inside each ledger call is summed (the calls of one backup are awaited one after the
 * other). Prints one JSON line: { ledger_ms: [...], total_ms: [...], calls: {...} }.
 */
import { backupOrganization } from '../src/core/backup-organization.js';
import { createDeps } from '../src/core/context.js';
import type { Ledger } from '../src/ledger/types.js';

const [configPath, organizationId, runsText] = process.argv.slice(2) as [string, string, string];
const ledgerMs: number[] = [];
const totalMs: number[] = [];
const calls: Record<string, number> = {};

for (let i = 0; i < Number(runsText); i += 1) {
  const deps = await createDeps({ configPath });
  let spent = 0;
  const timed = new Proxy(deps.ledger, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'scan') return value;
      return async (...args: unknown[]) => {
        const started = performance.now();
        // withLock(key, fn): the backup itself runs inside fn; only taking and releasing the lock count.
        let inner = 0;
        if (property === 'withLock' && typeof args[1] === 'function') {
          const fn = args[1] as () => Promise<unknown>;
          args[1] = async () => {
            const begun = performance.now();
            try {
              return await fn();
            } finally {
              inner = performance.now() - begun;
            }
          };
        }
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          spent += performance.now() - started - inner;
          calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        }
      };
    },
  }) as Ledger;
  const started = performance.now();
  await backupOrganization({ ...deps, ledger: timed }, { organizationId });
  totalMs.push(Math.round(performance.now() - started));
  ledgerMs.push(Math.round(spent * 10) / 10);
}
process.stdout.write(`${JSON.stringify({ ledger_ms: ledgerMs, total_ms: totalMs, calls })}\n`);
