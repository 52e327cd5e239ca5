/**
 * Which channels an event goes to — pure functions of the `notifications` configuration:
 * - webhook and e-mail get the events listed in their `on` (default: failure), and every test;
 *   inside a `--all` run they get the run's one summary, not one message per target;
 * - pings go to the URL configured for the subject (`ping.tenants.<name>`,
 *   `ping.organizations.<id>`, `ping.backupAll`, `ping.autoAll`): start, success, failure, test.
 */
import type { NotificationsConfig } from '../config/schema.js';
import { maskUrl } from './redact.js';
import type { ChannelSpec, DeliveryPolicy, EmailSettings, EventSubject, NotificationEvent } from './types.js';

export interface Route {
  /** Webhook and e-mail may get this event (false for a target inside a `--all` run). */
  broadcast: boolean;
  /** The subject's ping URL, if one is configured. */
  ping: { url: string; name: string } | null;
}

export function pingFor(notifications: NotificationsConfig | undefined, subject: EventSubject): Route['ping'] {
  const ping = notifications?.ping;
  if (!ping) return null;
  const found = (name: string, url: string | undefined) => (url ? { url, name } : null);
  switch (subject.kind) {
    case 'database':
      return found(`ping.tenants.${subject.tenant}`, Object.hasOwn(ping.tenants, subject.tenant) ? ping.tenants[subject.tenant] : undefined);
    case 'organization':
      return found(
        `ping.organizations.${subject.organizationId}`,
        Object.hasOwn(ping.organizations, subject.organizationId) ? ping.organizations[subject.organizationId] : undefined,
      );
    case 'run':
      return subject.run === 'backup --all' ? found('ping.backupAll', ping.backupAll) : found('ping.autoAll', ping.autoAll);
    default:
      return null;
  }
}

export function channelsFor(notifications: NotificationsConfig | undefined, event: NotificationEvent, route: Route): ChannelSpec[] {
  if (!notifications) return [];
  const channels: ChannelSpec[] = [];
  const wanted = (on: readonly string[]) => route.broadcast && (event.event === 'test' || on.includes(event.event));
  if (notifications.webhook && wanted(notifications.webhook.on)) channels.push({ kind: 'webhook', url: notifications.webhook.url });
  if (notifications.email && wanted(notifications.email.on)) channels.push({ kind: 'email', settings: notifications.email });
  if (route.ping && event.event !== 'stale') channels.push({ kind: 'ping', ...route.ping });
  return channels;
}

/** Every configured channel, each ping URL as one (what `notify test` sends through). */
export function allChannels(notifications: NotificationsConfig | undefined): ChannelSpec[] {
  if (!notifications) return [];
  const channels: ChannelSpec[] = [];
  if (notifications.webhook) channels.push({ kind: 'webhook', url: notifications.webhook.url });
  if (notifications.email) channels.push({ kind: 'email', settings: notifications.email });
  const ping = notifications.ping;
  if (ping) {
    if (ping.backupAll) channels.push({ kind: 'ping', url: ping.backupAll, name: 'ping.backupAll' });
    if (ping.autoAll) channels.push({ kind: 'ping', url: ping.autoAll, name: 'ping.autoAll' });
    for (const [tenant, url] of Object.entries(ping.tenants)) channels.push({ kind: 'ping', url, name: `ping.tenants.${tenant}` });
    for (const [id, url] of Object.entries(ping.organizations)) channels.push({ kind: 'ping', url, name: `ping.organizations.${id}` });
  }
  return channels;
}

export function policyOf(notifications: NotificationsConfig): DeliveryPolicy {
  return {
    timeoutMs: Math.round(notifications.timeoutSeconds * 1000),
    retries: notifications.retries,
    retryDelayMs: Math.round(notifications.retryDelaySeconds * 1000),
  };
}

/** A channel in words, safe to print (URLs masked). */
export function channelLabel(channel: ChannelSpec): string {
  switch (channel.kind) {
    case 'webhook':
      return `webhook ${maskUrl(channel.url)}`;
    case 'ping':
      return `ping ${channel.name} ${maskUrl(channel.url)}`;
    case 'email':
      return `email to ${channel.settings.to.join(', ')} via ${channel.settings.host}:${smtpPort(channel.settings)}`;
  }
}

/** The SMTP port: as configured, else 465 for TLS from the start, else 587 (submission). */
export function smtpPort(settings: EmailSettings): number {
  return settings.port ?? (settings.secure ? 465 : 587);
}
