/**
 * Notifications around a backup use case, without the use case knowing: `runNotified` runs one
 * backup (of a tenant or an organization) and emits `start` (when asked), then `success` with its
 * archive or `failure` with its error; `runNotifiedAll` does the same for a whole `--all` run,
 * whose targets then ping their own URLs only, while webhook and e-mail get the run's one summary.
 *
 * Rules:
 * - Every outcome is reported except a refusal because another process holds the target's lock
 *   (exit 7): that process reports its own.
 * - The use case's outcome is the outcome: its result is returned and its error rethrown as they
 *   were, whatever delivery did. Delivery is bounded (see notify/deliver.ts) and never throws.
 * - A failed delivery is reported through `hooks.onDeliveryFailure` (the CLI prints it on stderr)
 *   and appended to the ledger record(s) of that run ("notification failed: …").
 * - Nothing of notify/ is loaded unless an event is due: a skipped `auto` (the login hook's
 *   common case) costs nothing more than before.
 */
import type { LedgerRecord, RecordId } from '../ledger/types.js';
import type { DeliverOptions, DeliveryReport, NotificationEvent, Route } from '../notify/index.js';
import { TenantBackupError, describeCause } from '../errors.js';
import type { Deps } from './context.js';
import { wrapMethods } from './wrap-methods.js';

export interface NotifyHooks {
  /** A delivery that failed, in one printable line (no secret in it). */
  onDeliveryFailure?: (message: string, report: DeliveryReport) => void;
  /** Aborting (Ctrl-C) ends delivery attempts at once. */
  signal?: AbortSignal;
}

export type BackupSubject = { kind: 'database'; tenant: string } | { kind: 'organization'; organizationId: string };

export interface NotifiedTarget {
  subject: BackupSubject;
  /** The command that retries it (`tenant-backup backup acme`). */
  retry: string;
  /** Send `start` before the backup (pings). `auto` does not: a login that ends in a skip must not leave a started run behind. */
  start: boolean;
  /** Inside a `--all` run: only the target's own ping; `onRecord` learns each record it begins. */
  inRun?: { onRecord: (id: RecordId) => void };
}

type NotifyModule = typeof import('../notify/index.js');
const loadNotify = (): Promise<NotifyModule> => import('../notify/index.js');

/**
 * Runs `operation` with Deps whose ledger reports the records it begins, and notifies its outcome.
 * `recordOf` picks the record of a result, or null for a result that is no backup (a skip): no event.
 */
export async function runNotified<R>(
  deps: Deps,
  target: NotifiedTarget,
  operation: (deps: Deps) => Promise<R>,
  recordOf: (result: R) => LedgerRecord | null,
  hooks: NotifyHooks = {},
): Promise<R> {
  const begun: RecordId[] = [];
  const ledger = wrapMethods(deps.ledger, {
    begin:
      (call) =>
      async (...args) => {
        const record = await call(...args);
        begun.push(record.id);
        target.inRun?.onRecord(record.id);
        return record;
      },
  });
  const work: Deps = { ...deps, ledger };
  const notifications = deps.config.notifications;
  if (!notifications) return operation(work);

  const route = async (notify: NotifyModule): Promise<Route> => ({ broadcast: !target.inRun, ping: notify.pingFor(notifications, target.subject) });
  const send = async (build: (notify: NotifyModule) => NotificationEvent, options: DeliverOptions = { signal: hooks.signal }) => {
    const notify = await loadNotify();
    return notify.notify(notifications, build(notify), await route(notify), options);
  };
  const context = (notify: NotifyModule) => ({ host: notify.hostName(), now: deps.clock.now() });
  const started = target.start ? safely(send((notify) => notify.backupEvent(target.subject, { event: 'start' }, target.retry, context(notify)))) : Promise.resolve([]);

  let result: R;
  try {
    result = await operation(work);
  } catch (error) {
    // Refused because another process is working on the target: that process reports its outcome.
    if (error instanceof TenantBackupError && error.code === 'LOCKED') {
      await reportFailures(deps, await started, [], hooks);
      throw error;
    }
    const record = await newestOf(deps, target.subject, begun);
    const reports = [
      ...(await started),
      ...(await safely(
        send(
          (notify) => notify.backupEvent(target.subject, { event: 'failure', error: errorText(error), file: record?.backup_filename ?? null }, target.retry, context(notify)),
          afterFailure(hooks),
        ),
      )),
    ];
    await reportFailures(deps, reports, record ? [record.id] : [], hooks);
    throw error;
  }
  const record = recordOf(result);
  const reports = [...(await started)];
  if (record) {
    reports.push(
      ...(await safely(
        send((notify) => notify.backupEvent(target.subject, { event: 'success', file: record.backup_filename, size: record.backup_size }, target.retry, context(notify))),
      )),
    );
  }
  await reportFailures(deps, reports, record ? [record.id] : [], hooks);
  return result;
}

export interface RunOutcome {
  summary: { created: number; skipped: number; failed: number };
  /** One line per target that failed. */
  problems: string[];
}

/**
 * A `--all` run: `start` to the run's ping URL, then `operation` (whose targets run through
 * `runNotified` with `inRun`, reporting their records to `onRecord`), then one summary — a
 * failure when any target failed — to every channel. A failed delivery of the run's own events is
 * noted on every record the run made.
 */
export async function runNotifiedAll<R>(
  deps: Deps,
  run: { name: 'backup --all' | 'auto --all'; retry: string },
  operation: (onRecord: (id: RecordId) => void) => Promise<R>,
  outcome: (result: R) => RunOutcome,
  hooks: NotifyHooks = {},
): Promise<R> {
  const records: RecordId[] = [];
  const onRecord = (id: RecordId) => records.push(id);
  const notifications = deps.config.notifications;
  if (!notifications) return operation(onRecord);
  const subject = { kind: 'run', run: run.name } as const;
  const context = (notify: NotifyModule) => ({ host: notify.hostName(), now: deps.clock.now() });
  const send = async (build: (notify: NotifyModule) => NotificationEvent, options: DeliverOptions = { signal: hooks.signal }) => {
    const notify = await loadNotify();
    return notify.notify(notifications, build(notify), { broadcast: true, ping: notify.pingFor(notifications, subject) }, options);
  };
  const started = safely(send((notify) => notify.runStartEvent(run.name, context(notify))));
  let result: R;
  try {
    result = await operation(onRecord);
  } catch (error) {
    const summary = { created: 0, skipped: 0, failed: 0 };
    const event = (notify: NotifyModule) => notify.runEvent(run.name, { summary, problems: [], error: errorText(error) }, run.retry, context(notify));
    const reports = [...(await started), ...(await safely(send(event, afterFailure(hooks))))];
    await reportFailures(deps, reports, records, hooks);
    throw error;
  }
  const reports = [...(await started), ...(await safely(send((notify) => notify.runEvent(run.name, outcome(result), run.retry, context(notify)))))];
  await reportFailures(deps, reports, records, hooks);
  return result;
}

/**
 * How a failure is delivered: as usual — except after an interrupt (Ctrl-C, SIGTERM), whose signal
 * has already aborted: the run is still closed, in one attempt per channel (a person is waiting).
 */
function afterFailure(hooks: NotifyHooks): DeliverOptions {
  return hooks.signal?.aborted ? { retries: 0 } : { signal: hooks.signal };
}

/** `tenant-backup [--config <file>] <args>`: the command that retries (the configuration named when it came from a file). */
export function retryCommand(deps: Pick<Deps, 'config'>, args: string): string {
  const file = deps.config.file;
  return `tenant-backup ${file ? `--config ${shellQuote(file)} ` : ''}${args}`;
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

function errorText(error: unknown): string {
  return error instanceof TenantBackupError ? `${error.code}: ${error.message}` : describeCause(error);
}

/** Delivery never throws (deliver.ts); this also covers a bug in building an event. */
async function safely(reports: Promise<DeliveryReport[]>): Promise<DeliveryReport[]> {
  try {
    return await reports;
  } catch (error) {
    return [{ channel: 'notifications', kind: 'webhook', event: 'failure', ok: false, attempts: 0, error: `internal error: ${describeCause(error)}` }];
  }
}

/** The run's newest record (a failure may have begun one, or recorded one without starting). */
async function newestOf(deps: Deps, subject: BackupSubject, begun: RecordId[]): Promise<LedgerRecord | null> {
  if (begun.length === 0) return null;
  const newest = Math.max(...begun);
  const filter = subject.kind === 'database' ? { kind: 'database' as const, tenant: subject.tenant } : { kind: 'organization' as const, organization_id: subject.organizationId };
  try {
    return (await deps.ledger.find(filter)).find((record) => record.id === newest) ?? null;
  } catch {
    return null;
  }
}

/** Failed deliveries: to the hook, and appended to the run's records (a record gone meanwhile is skipped). */
async function reportFailures(deps: Deps, reports: DeliveryReport[], recordIds: RecordId[], hooks: NotifyHooks): Promise<void> {
  const failed = reports.filter((report) => !report.ok);
  if (failed.length === 0) return;
  const { deliveryFailureText } = await loadNotify();
  const lines = failed.map(deliveryFailureText);
  failed.forEach((report, i) => hooks.onDeliveryFailure?.(lines[i]!, report));
  const note = `notification failed: ${lines.join('; ')}`;
  for (const id of recordIds) await deps.ledger.annotate(id, note).catch(() => undefined);
}
