/**
 * `ping`, healthchecks.io style: `<url>/start` when a run starts, `<url>` on success, `<url>/fail`
 * with the error as body on failure, `<url>/log` for `notify test` (logged, the check's state
 * unchanged). A query string (`?rid=…`) is kept after the suffix.
 */
import { channelLabel } from './channels.js';
import { pingRequest } from './events.js';
import { post } from './http.js';
import { urlSecrets } from './redact.js';
import type { Notifier, NotifierFactory } from './types.js';

export const createPingNotifier = ((settings: { url: string; name: string }): Notifier => ({
  kind: 'ping',
  label: channelLabel({ kind: 'ping', ...settings }),
  secrets: urlSecrets(settings.url),
  send(event, signal) {
    const { suffix, body } = pingRequest(event);
    return post(pingUrl(settings.url, suffix), body, 'text/plain; charset=utf-8', signal);
  },
})) satisfies NotifierFactory<{ url: string; name: string }>;

/** `https://hc-ping.com/<uuid>` + `/fail` → `https://hc-ping.com/<uuid>/fail` (query kept). */
export function pingUrl(url: string, suffix: string): string {
  if (!suffix) return url;
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}${suffix}`;
  return parsed.toString();
}
