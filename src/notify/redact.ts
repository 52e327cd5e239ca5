/**
 * Notification secrets never printed in full: webhook and ping URLs carry their token in the path
 * (Slack `…/services/T…/B…/<token>`, healthchecks.io `…/<uuid>`) or the query, SMTP has a
 * password. Labels show the scheme and host only; texts are scrubbed of every secret.
 */

/** `https://hooks.slack.com/services/T0/B0/xyz?x=1` → `https://hooks.slack.com/…`. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const rest = parsed.pathname !== '/' || parsed.search !== '' ? '/…' : '';
    return `${parsed.protocol}//${parsed.host}${rest}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The parts of a URL that may be secret: the whole URL, its path and query, each path segment or
 * query value of 6 characters or more (tokens, UUIDs; short words like `fail` are not), and
 * user information — also percent-decoded.
 */
export function urlSecrets(url: string): string[] {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    secrets.push(parsed.pathname + parsed.search, parsed.username, parsed.password);
    for (const segment of parsed.pathname.split('/')) secrets.push(segment);
    for (const value of parsed.searchParams.values()) secrets.push(value);
  } catch {
    // An invalid URL never passed the configuration check; the whole string is still masked.
  }
  return secrets.flatMap((secret) => [secret, safeDecode(secret)]).filter((secret) => secret.length >= 6);
}

/** Every occurrence of each secret replaced by `***`, longest first (a token inside a path). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...new Set(secrets)].sort((a, b) => b.length - a.length)) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
