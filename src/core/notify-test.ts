/**
 * `notify test`: one test event through every configured channel — the webhook, the e-mail, and
 * each ping URL (to its `/log` endpoint: logged by healthchecks.io, the check's state unchanged) —
 * with the usual time limit and retries, and each channel's result. Nothing is recorded.
 */
import { ConfigError } from '../errors.js';
import type { DeliveryReport } from '../notify/types.js';
import type { Deps } from './context.js';

export interface NotifyTestResult {
  /** Every channel accepted the test event. */
  ok: boolean;
  results: DeliveryReport[];
}

export async function testNotifications(deps: Pick<Deps, 'config' | 'clock'>, options: { signal?: AbortSignal } = {}): Promise<NotifyTestResult> {
  const notifications = deps.config.notifications;
  const notify = await import('../notify/index.js');
  const channels = notify.allChannels(notifications);
  if (!notifications || channels.length === 0) {
    throw new ConfigError('No notification channel is configured: add "webhook", "ping" or "email" under "notifications" (see README, Monitoring).');
  }
  const event = notify.testEvent({ host: notify.hostName(), now: deps.clock.now() });
  const results = await notify.deliverAll(channels, event, notify.policyOf(notifications), { signal: options.signal });
  return { ok: results.every((r) => r.ok), results };
}
