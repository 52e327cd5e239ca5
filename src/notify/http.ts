/**
 * One HTTP POST for the URL-based kinds (webhook, ping): the answer's status decides. 2xx is
 * delivered; 4xx other than 408/429 is a permanent refusal (a wrong or revoked URL does not heal);
 * anything else — 5xx, 408, 429, no connection, no answer — may be retried. Redirects are not
 * followed (the body would go to a URL nobody configured). The answer's body is never read into
 * a message: a server may echo the URL, token included.
 */
import { TOOL_VERSION } from '../version.js';
import { PermanentDeliveryError } from './types.js';

export async function post(url: string, body: string, contentType: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, 'user-agent': `tenant-backup/${TOOL_VERSION}` },
    body,
    redirect: 'manual',
    signal,
  });
  // Free the connection; the body says nothing we print.
  await response.body?.cancel().catch(() => undefined);
  if (response.status >= 200 && response.status < 300) return;
  const status = `HTTP ${response.status}`;
  if (response.status >= 300 && response.status < 400) throw new PermanentDeliveryError(`${status}: redirected; configure the final URL`);
  if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) throw new PermanentDeliveryError(`${status} (refused)`);
  throw new Error(status);
}
