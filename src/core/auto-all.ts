/**
 * `auto --all`: today's automatic backup for every organization of the organizations table
 * (cron's form), applying the same rules as `auto --org` except the role rules. Organizations run
 * `concurrency` at a time; one failure does not stop the others, and is reported in the summary.
 * Notifications: each organization pings its own URL (if configured) when it made or failed a
 * backup; the run pings `ping.autoAll` (start, then success or fail) and sends its one summary to
 * webhook and e-mail (see notified-run.ts).
 */
import { TenantBackupError, describeCause } from '../errors.js';
import type { AutoResult } from './auto.js';
import type { Deps } from './context.js';
import { autoBackupNotified } from './notified.js';
import { retryCommand, runNotifiedAll, type NotifyHooks } from './notified-run.js';
import { withOrganizationsSession } from './organizations.js';
import { runPool } from './pool.js';

export type AutoAllItem = AutoResult | { action: 'failed'; organization_id: string; error: { code: string; message: string } };

export interface AutoAllResult {
  results: AutoAllItem[];
  summary: { created: number; skipped: number; failed: number };
}

export interface AutoAllOptions {
  concurrency?: number;
  userId?: string | null;
  signal?: AbortSignal;
  /** Called as each organization finishes (in completion order), e.g. to log a line at once. */
  onResult?: (item: AutoAllItem) => void;
  /** A notification that could not be delivered, in one printable line (also noted in the ledger). */
  onDeliveryFailure?: (message: string) => void;
}

export async function autoBackupAll(deps: Deps, options: AutoAllOptions = {}): Promise<AutoAllResult> {
  const hooks: NotifyHooks = { signal: options.signal, ...(options.onDeliveryFailure ? { onDeliveryFailure: options.onDeliveryFailure } : {}) };
  return runNotifiedAll(
    deps,
    { name: 'auto --all', retry: retryCommand(deps, 'auto --all') },
    async (onRecord) => {
      const ids = await withOrganizationsSession(deps, (session, config) => session.listOrganizationIds(config));
      const results = await runPool(
        ids,
        options.concurrency ?? 1,
        async (organizationId): Promise<AutoAllItem> => {
          let item: AutoAllItem;
          try {
            item = await autoBackupNotified(deps, { organizationId, userId: options.userId ?? null, signal: options.signal }, hooks, { onRecord });
          } catch (error) {
            item = { action: 'failed', organization_id: organizationId, error: failureOf(error) };
          }
          options.onResult?.(item);
          return item;
        },
        options.signal,
      );
      options.signal?.throwIfAborted();
      const done = results.filter((r): r is AutoAllItem => r !== undefined);
      return { results: done, summary: summarize(done) };
    },
    (result) => ({
      summary: result.summary,
      problems: result.results.flatMap((item) => (item.action === 'failed' ? [`organization ${item.organization_id}: ${item.error.code}: ${item.error.message}`] : [])),
    }),
    hooks,
  );
}

/** A failed item's error: its stable code and message (never a stack). */
export function failureOf(error: unknown): { code: string; message: string } {
  const typed = error instanceof TenantBackupError ? error : null;
  return { code: typed?.code ?? 'UNEXPECTED', message: typed?.message ?? describeCause(error) };
}

function summarize(items: readonly { action: string }[]): AutoAllResult['summary'] {
  return {
    created: items.filter((r) => r.action === 'created').length,
    skipped: items.filter((r) => r.action === 'skipped').length,
    failed: items.filter((r) => r.action === 'failed').length,
  };
}
