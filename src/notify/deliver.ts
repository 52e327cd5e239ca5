/**
 * Delivery, the same for every kind: each attempt bounded by its own time limit (whatever the
 * notifier does, the attempt ends when the limit passes), up to `retries` further attempts after a
 * failure, waiting `retryDelayMs` before the first and twice as long before each next one, none
 * after a permanent refusal. `deliver` never throws and never hangs: its worst case is
 * (retries + 1) × timeout + the waits. Reports never carry a secret of the channel.
 */
import { channelLabel } from './channels.js';
import { redact } from './redact.js';
import { PermanentDeliveryError, type ChannelSpec, type DeliveryPolicy, type DeliveryReport, type NotificationEvent, type Notifier } from './types.js';

class AttemptTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${formatSeconds(ms)}`);
  }
}

export interface DeliverOptions {
  /** Aborting ends the current attempt and every further one (an interrupted command). */
  signal?: AbortSignal;
  /** Overrides the policy's retries (0 after an interrupt: one attempt, a person is waiting). */
  retries?: number;
}

export async function deliver(notifier: Notifier, event: NotificationEvent, policy: DeliveryPolicy, options: DeliverOptions = {}): Promise<DeliveryReport> {
  let attempts = 0;
  let error: string;
  for (;;) {
    attempts += 1;
    try {
      await attempt(notifier, event, policy.timeoutMs, options.signal);
      return { channel: notifier.label, kind: notifier.kind, event: event.event, ok: true, attempts, error: null };
    } catch (failure) {
      error = describeFailure(failure);
      const permanent = failure instanceof PermanentDeliveryError;
      if (permanent || attempts > (options.retries ?? policy.retries) || options.signal?.aborted) break;
      if (!(await wait(policy.retryDelayMs * 2 ** (attempts - 1), options.signal))) break;
    }
  }
  return { channel: notifier.label, kind: notifier.kind, event: event.event, ok: false, attempts, error: redact(error, notifier.secrets) };
}

/** Builds the notifier of each channel (loading only the kinds used) and delivers to all at once. */
export async function deliverAll(channels: readonly ChannelSpec[], event: NotificationEvent, policy: DeliveryPolicy, options: DeliverOptions = {}): Promise<DeliveryReport[]> {
  return Promise.all(
    channels.map(async (channel) => {
      let notifier: Notifier;
      try {
        notifier = await createNotifier(channel);
      } catch (failure) {
        return { channel: channelLabel(channel), kind: channel.kind, event: event.event, ok: false, attempts: 0, error: redact(describeFailure(failure), channelSecrets(channel)) };
      }
      return deliver(notifier, event, policy, options);
    }),
  );
}

async function createNotifier(channel: ChannelSpec): Promise<Notifier> {
  switch (channel.kind) {
    case 'webhook':
      return (await import('./webhook.js')).createWebhookNotifier({ url: channel.url });
    case 'ping':
      return (await import('./ping.js')).createPingNotifier({ url: channel.url, name: channel.name });
    case 'email':
      return (await import('./email.js')).createEmailNotifier(channel.settings);
  }
}

function channelSecrets(channel: ChannelSpec): string[] {
  return channel.kind === 'email' ? [channel.settings.password ?? ''] : [channel.url];
}

/** One attempt, ended by its time limit or the caller's signal even if the notifier ignores them. */
async function attempt(notifier: Notifier, event: NotificationEvent, timeoutMs: number, outer: AbortSignal | undefined): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AttemptTimeout(timeoutMs)), timeoutMs);
  const onOuter = () => controller.abort(new Error('cancelled'));
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      if (controller.signal.aborted) return reject(controller.signal.reason);
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      Promise.resolve()
        .then(() => notifier.send(event, controller.signal))
        .then(resolve, reject);
    });
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/** Resolves true after `ms`, or false at once when `signal` aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An error in one line: fetch's "fetch failed" gains its cause (`ECONNREFUSED`, …). */
export function describeFailure(failure: unknown): string {
  if (!(failure instanceof Error)) return String(failure);
  const cause = failure.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = cause && typeof cause === 'object' ? (typeof cause.code === 'string' ? cause.code : typeof cause.message === 'string' ? cause.message : '') : '';
  return detail && !failure.message.includes(detail) ? `${failure.message} (${detail})` : failure.message;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
