/**
 * The pure parts of notifications and monitoring: configuration rules (errors name the path and
 * never quote a URL), masking, routing, event wording, and the health verdict (age, size trend).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { assessRecords, maxAgeHoursFor } from '../../src/core/status-all.js';
import { ConfigError } from '../../src/errors.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { allChannels, channelLabel, channelsFor, pingFor, policyOf } from '../../src/notify/channels.js';
import { backupEvent, emailMessage, eventText, runEvent, staleEvent } from '../../src/notify/events.js';
import { maskUrl, redact, urlSecrets } from '../../src/notify/redact.js';
import { pingUrl } from '../../src/notify/ping.js';

const SLACK = 'https://hooks.slack.com/services/T0AAAA/B0BBBB/xyzTOKEN123456';
const resolve = (raw: Record<string, unknown>) => resolveConfig({ storage: { dir: 'b' }, ...raw }, { baseDir: '/srv/app' }, {});

describe('configuration', () => {
  it('fills the defaults: failure only, 10 s, 3 retries from 1 s, STARTTLS required, 26 hours', () => {
    const config = resolve({
      notifications: { webhook: { url: SLACK }, email: { host: 'smtp', from: 'f@x', to: ['t@x'], caFile: 'certs/ca.pem' } },
      monitor: {},
    });
    expect(config.notifications).toEqual({
      timeoutSeconds: 10,
      retries: 3,
      retryDelaySeconds: 1,
      webhook: { url: SLACK, on: ['failure'] },
      email: { host: 'smtp', secure: false, starttls: 'required', from: 'f@x', to: ['t@x'], caFile: '/srv/app/certs/ca.pem', on: ['failure'] },
    });
    expect(policyOf(config.notifications!)).toEqual({ timeoutMs: 10_000, retries: 3, retryDelayMs: 1000 });
    expect(config.monitor).toEqual({ maxAgeHours: 26, tenants: {}, organizations: {} });
  });

  it.each([
    [{ webhook: { url: 'ftp://h/SECRETPATH' } }, 'notifications.webhook.url: expected an http:// or https:// URL'],
    [{ ping: { tenants: { acme: 'hc-ping.com/SECRETPATH' } } }, 'notifications.ping.tenants.acme: expected an http:// or https:// URL'],
    [{ webhook: { url: SLACK, on: ['start'] } }, 'notifications.webhook.on[0]'],
    [{ email: { host: 'h', from: 'f', to: ['t'], user: 'u' } }, 'notifications.email.password: user and password go together'],
    [{ retries: 11 }, 'notifications.retries'],
  ])('refuses %j with the path, never quoting the value', (notifications, expected) => {
    let error: unknown;
    try {
      resolve({ notifications });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(expected);
    expect((error as Error).message).not.toContain('SECRETPATH');
  });
});

describe('secrets', () => {
  it('masks URLs to their scheme and host', () => {
    expect(maskUrl(SLACK)).toBe('https://hooks.slack.com/…');
    expect(maskUrl('https://hc-ping.com/')).toBe('https://hc-ping.com');
    expect(maskUrl('http://user:pw@h:8080/x?token=abc')).toBe('http://h:8080/…');
  });

  it('scrubs every token of a URL from a text, encoded or not', () => {
    const url = 'https://h.example/p/abc%2Fdef12345/short?key=s3cr3t-value&x=1';
    const text = `failed for ${url}; token abc/def12345 and s3cr3t-value; path /p/abc%2Fdef12345/short`;
    const scrubbed = redact(text, urlSecrets(url));
    for (const secret of ['abc%2Fdef12345', 'abc/def12345', 's3cr3t-value']) expect(scrubbed).not.toContain(secret);
    expect(scrubbed).toContain('failed for ***');
  });
});

describe('routing', () => {
  const notifications = resolve({
    notifications: {
      webhook: { url: SLACK, on: ['failure', 'stale'] },
      email: { host: 'smtp.example', from: 'f@x', to: ['ops@x'], on: ['success'], user: 'u', password: 'p' },
      ping: { backupAll: 'https://hc/run-uuid', tenants: { acme: 'https://hc/acme-uuid' }, organizations: { '42': 'https://hc/org-uuid' } },
    },
  }).notifications!;
  const context = { host: 'db1', now: new Date('2026-11-27T02:00:00Z') };
  const acme = { kind: 'database', tenant: 'acme' } as const;
  const kinds = (event: Parameters<typeof channelsFor>[1], broadcast = true, subject: Parameters<typeof pingFor>[1] = acme) =>
    channelsFor(notifications, event, { broadcast, ping: pingFor(notifications, subject) }).map((c) => (c.kind === 'ping' ? `ping ${c.name}` : c.kind));

  it('sends each event to the channels that want it', () => {
    expect(kinds(backupEvent(acme, { event: 'start' }, 'r', context))).toEqual(['ping ping.tenants.acme']);
    expect(kinds(backupEvent(acme, { event: 'failure', error: 'x' }, 'r', context))).toEqual(['webhook', 'ping ping.tenants.acme']);
    expect(kinds(backupEvent(acme, { event: 'success', file: 'f', size: 1 }, 'r', context))).toEqual(['email', 'ping ping.tenants.acme']);
    expect(kinds(staleEvent(['x'], context), true, { kind: 'monitor' })).toEqual(['webhook']);
    // Inside a --all run a target only pings; the run sends its one summary.
    expect(kinds(backupEvent(acme, { event: 'failure', error: 'x' }, 'r', context), false)).toEqual(['ping ping.tenants.acme']);
    expect(kinds(backupEvent({ kind: 'database', tenant: 'globex' }, { event: 'failure', error: 'x' }, 'r', context), false, { kind: 'database', tenant: 'globex' })).toEqual([]);
    expect(pingFor(notifications, { kind: 'run', run: 'backup --all' })).toEqual({ url: 'https://hc/run-uuid', name: 'ping.backupAll' });
    expect(pingFor(notifications, { kind: 'run', run: 'auto --all' })).toBeNull();
    expect(pingFor(notifications, { kind: 'database', tenant: 'constructor' })).toBeNull();
  });

  it('lists every channel for a test, each labelled without its secret', () => {
    expect(allChannels(notifications).map(channelLabel)).toEqual([
      'webhook https://hooks.slack.com/…',
      'email to ops@x via smtp.example:587',
      'ping ping.backupAll https://hc/…',
      'ping ping.tenants.acme https://hc/…',
      'ping ping.organizations.42 https://hc/…',
    ]);
  });

  it('joins ping suffixes before the query', () => {
    expect(pingUrl('https://hc-ping.com/uuid/?rid=1', '/fail')).toBe('https://hc-ping.com/uuid/fail?rid=1');
    expect(pingUrl('https://hc-ping.com/uuid', '')).toBe('https://hc-ping.com/uuid');
  });
});

describe('wording', () => {
  const context = { host: 'db1', now: new Date('2026-11-27T02:00:04.900Z') };

  it('a stale event lists the problems and where to look', () => {
    const event = staleEvent(['tenant "acme": no successful backup', 'organization 7: the newest backup is 1 KiB, less than half…'], context);
    expect(event).toMatchObject({ event: 'stale', kind: 'monitor', target: 'status --all', time: '2026-11-27T02:00:04Z' });
    expect(eventText(event)).toBe(
      ':warning: Backups need attention on db1 (2):\n• tenant "acme": no successful backup\n• organization 7: the newest backup is 1 KiB, less than half…\nDetails: tenant-backup status --all',
    );
    expect(emailMessage(event).subject).toBe('[tenant-backup] STALE: backups need attention on db1');
  });

  it('a run that succeeded says how many; a long error is cut in the text but whole in the JSON field', () => {
    const ok = runEvent('auto --all', { summary: { created: 3, skipped: 2, failed: 0 }, problems: [] }, 'r', context);
    expect(ok).toMatchObject({ event: 'success', retry: null, error: null });
    expect(eventText(ok)).toBe(':white_check_mark: auto --all on db1: 3 created, 2 skipped, 0 failed.');
    const long = 'x'.repeat(5000);
    const failed = backupEvent({ kind: 'database', tenant: 'acme' }, { event: 'failure', error: long }, 'r', context);
    expect(failed.error).toBe(long);
    expect(eventText(failed)).toContain('… (2000 more characters)');
  });
});

describe('health verdict', () => {
  const now = new Date('2026-11-27T12:00:00Z');
  let id = 0;
  const record = (hoursAgo: number, status: LedgerRecord['status'], size = 0): LedgerRecord => {
    const at = new Date(now.getTime() - hoursAgo * 3_600_000).toISOString();
    id += 1;
    return {
      id,
      kind: 'database',
      organization_id: null,
      tenant: 'acme',
      user_id: null,
      day_of_week: 'friday',
      backup_filename: `f${id}.zip`,
      backup_path: `/s/f${id}.zip`,
      backup_size: size,
      sha256: null,
      status,
      error_message: null,
      backup_date: at.slice(0, 10),
      created_at: at,
      updated_at: at,
    };
  };

  it('is fresh within the limit, stale beyond it or without any success', () => {
    expect(assessRecords([record(25.99, 'success', 10)], now, 26, 'tenant "acme"')).toMatchObject({ stale: false, ageHours: 25.99, problems: [] });
    expect(assessRecords([record(26.5, 'success', 10)], now, 26, 'tenant "acme"')).toMatchObject({
      stale: true,
      problems: ['tenant "acme": the newest successful backup is 26.5 hours old (limit 26)'],
    });
    const never = assessRecords([record(1, 'failed'), record(30, 'failed')], now, 26, 'tenant "acme"');
    expect(never).toMatchObject({ stale: true, failing: true, ageHours: null, problems: ['tenant "acme": no successful backup'] });
    expect(never.lastFailure?.id).toBe(id - 1);
  });

  it('flags a newest archive under half the median of the (up to 7) before it', () => {
    const history = (sizes: number[]) => sizes.map((size, i) => record(i * 24 + 1, 'success', size));
    const shrunk = assessRecords(history([49, 100, 100, 1, 1, 100, 100, 100, 1, 1, 1]), now, 26, 'x');
    expect(shrunk).toMatchObject({ shrunk: true, sizeTrend: { last: 49, median: 100, ratio: 0.49, samples: 7 }, storageBytes: 554 });
    expect(shrunk.problems).toEqual(['x: the newest backup is 49 B, less than half the median 100 B of the 7 before it']);
    expect(assessRecords(history([50, 100]), now, 26, 'x')).toMatchObject({ shrunk: false, sizeTrend: { ratio: 0.5, samples: 1 } });
    expect(assessRecords(history([5]), now, 26, 'x')).toMatchObject({ shrunk: false, sizeTrend: { last: 5, median: null, ratio: null, samples: 0 } });
    // Failures and even-sized histories: the median of 100, 300 is 200.
    expect(assessRecords([...history([99]), record(30, 'failed'), record(48, 'success', 100), record(72, 'success', 300)], now, 26, 'x').sizeTrend).toEqual({
      last: 99,
      median: 200,
      ratio: 0.5,
      samples: 2,
    });
  });

  it("takes a target's own limit, else the given default, else monitor.maxAgeHours, else 26", () => {
    const monitor = { maxAgeHours: 30, tenants: { acme: { maxAgeHours: 200 } }, organizations: { '7': { maxAgeHours: 50 } } };
    expect(maxAgeHoursFor({ monitor }, { kind: 'database', tenant: 'acme' }, 12)).toBe(200);
    expect(maxAgeHoursFor({ monitor }, { kind: 'organization', organizationId: '7' })).toBe(50);
    expect(maxAgeHoursFor({ monitor }, { kind: 'organization', organizationId: '8' }, 12)).toBe(12);
    expect(maxAgeHoursFor({ monitor }, { kind: 'database', tenant: 'globex' })).toBe(30);
    expect(maxAgeHoursFor({ monitor: undefined }, { kind: 'database', tenant: 'acme' })).toBe(26);
  });
});
