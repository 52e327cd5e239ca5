/**
 * `auto --all`: today's automatic backup for every organization of the organizations table
 * (cron's form), applying the same rules as `auto --org` except the role rules. Organizations run
 * `concurrency` at a time; one failure does not stop the others, and is reported in the summary.
 *
 * What a run costs per run rather than per organization (organization-run.ts): the sessions of the
 * shared database (at most one per concurrent backup — one in all on PostgreSQL and SQLite — each
 * reused from one organization to the next), the catalogue (read once; each plan computed from
 * it), and the ledger's word on what is already done (`organizationDays`: one read, so an
 * organization that is disabled or done today costs no lock and no further ledger read). An
 * organization that is due takes its lock and reads its own day again under it, exactly as
 * `auto --org` does: a login hook's `auto` racing the run still makes one backup a day.
 * Notifications: each organization pings its own URL (if configured) when it made or failed a
 * backup; the run pings `ping.autoAll` (start, then success or fail) and sends its one summary to
 * webhook and e-mail (see notified-run.ts).
 */
import { TenantBackupError, describeCause } from '../errors.js';
import type { AutoResult } from './auto.js';
import type { Deps } from './context.js';
import { autoBackupNotified } from './notified.js';
import { retryCommand, runNotifiedAll, type NotifyHooks } from './notified-run.js';
import type { OrganizationDay } from '../ledger/types.js';
import { localDate } from '../retention/clock.js';
import { OrganizationRun } from './organization-run.js';
import { runPool } from './pool.js';

/** See the README ("auto --all at scale"): two backups at once keep both cores of a small server busy. */
export const DEFAULT_AUTO_ALL_CONCURRENCY = 2;

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
      const run = new OrganizationRun(deps);
      try {
        const days = new LedgerDays(deps);
        const [ids] = await Promise.all([run.listOrganizationIds(), days.today()]);
        const results = await runPool(
          ids,
          options.concurrency ?? DEFAULT_AUTO_ALL_CONCURRENCY,
          async (organizationId): Promise<AutoAllItem> => {
            let item: AutoAllItem;
            try {
              const known = await days.of(organizationId);
              item = await autoBackupNotified(
                deps,
                { organizationId, userId: options.userId ?? null, signal: options.signal },
                hooks,
                { onRecord },
                { ...(known ? { known } : {}), connections: run },
              );
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
      } finally {
        await run.close();
      }
    },
    (result) => ({
      summary: result.summary,
      problems: result.results.flatMap((item) => (item.action === 'failed' ? [`organization ${item.organization_id}: ${item.error.code}: ${item.error.message}`] : [])),
    }),
    hooks,
  );
}

/**
 * The run's one read of the ledger: every organization's day, read again only when the run
 * crosses midnight (in the configured time zone).
 */
class LedgerDays {
  private date: string | undefined;
  private days: Promise<Map<string, OrganizationDay | null>> | undefined;

  constructor(private readonly deps: Pick<Deps, 'ledger' | 'clock' | 'config'>) {}

  async today(): Promise<{ date: string; days: Map<string, OrganizationDay | null> }> {
    const date = localDate(this.deps.clock.now(), this.deps.config.timezone);
    let days = this.days;
    if (date !== this.date || !days) {
      this.date = date;
      this.days = days = this.deps.ledger.organizationDays(date);
      days.catch(() => {
        if (this.days === days) this.days = undefined;
      });
    }
    return { date, days: await days };
  }

  /** The organization's day from the run's read; undefined when that read could not tell (its own read will). */
  async of(organizationId: string): Promise<{ date: string; day: OrganizationDay } | undefined> {
    const { date, days } = await this.today();
    const day = days.get(organizationId);
    if (day === null) return undefined;
    return { date, day: day ?? { settings: { auto_backup_enabled: true, updated_at: null }, successes: [] } };
  }
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
