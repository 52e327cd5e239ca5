/**
 * `webhook`: a POST of the event as JSON (the documented format: event, target, file, size,
 * error, host, time, …) with a Slack-compatible `text`, so a Slack, Mattermost or Discord (`/slack`)
 * incoming webhook shows a readable message.
 */
import { channelLabel } from './channels.js';
import { webhookDocument } from './events.js';
import { post } from './http.js';
import { urlSecrets } from './redact.js';
import type { Notifier, NotifierFactory } from './types.js';

export const createWebhookNotifier = ((settings: { url: string }): Notifier => ({
  kind: 'webhook',
  label: channelLabel({ kind: 'webhook', url: settings.url }),
  secrets: urlSecrets(settings.url),
  send: (event, signal) => post(settings.url, JSON.stringify(webhookDocument(event)), 'application/json', signal),
})) satisfies NotifierFactory<{ url: string }>;
