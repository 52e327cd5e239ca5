/**
 * The notifications a use case sends: route the event to its channels, deliver to each (bounded,
 * retried, never throwing), and say what failed in one safe line. Loaded only when an event is
 * due: a command with nothing to report loads none of this.
 */
import { hostname } from 'node:os';
import type { NotificationsConfig } from '../config/schema.js';
import { channelsFor, policyOf, type Route } from './channels.js';
import { deliverAll, type DeliverOptions } from './deliver.js';
import type { DeliveryReport, NotificationEvent } from './types.js';

export { allChannels, pingFor, policyOf, type Route } from './channels.js';
export { deliverAll, type DeliverOptions } from './deliver.js';
export * from './events.js';
export type { DeliveryReport, EventSubject, NotificationEvent } from './types.js';

export async function notify(notifications: NotificationsConfig | undefined, event: NotificationEvent, route: Route, options: DeliverOptions = {}): Promise<DeliveryReport[]> {
  if (!notifications) return [];
  const channels = channelsFor(notifications, event, route);
  if (channels.length === 0) return [];
  return deliverAll(channels, event, policyOf(notifications), options);
}

/** `webhook https://hooks.slack.com/… (failure, 4 attempts): HTTP 500` — what stderr and the ledger say. */
export function deliveryFailureText(report: DeliveryReport): string {
  const attempts = report.attempts === 1 ? '1 attempt' : `${report.attempts} attempts`;
  return `${report.channel} (${report.event}, ${attempts}): ${report.error ?? 'failed'}`;
}

export function hostName(): string {
  return hostname();
}
