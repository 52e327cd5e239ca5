/**
 * Every notifier kind runs the contract (test/contract/notifier.contract.ts) against a real receiver — an HTTP
 * server for webhook and ping, an SMTP server with STARTTLS and AUTH for e-mail — then its own
 * cases: the webhook's JSON document and Slack text, the ping endpoints, the e-mail's recipients,
 * subject, body, STARTTLS and login.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { allChannels, policyOf } from '../../src/notify/channels.js';
import { deliverAll } from '../../src/notify/deliver.js';
import { backupEvent, runEvent, testEvent } from '../../src/notify/events.js';
import { startHttpRecorder, startSilentServer, startSmtpServer, type HttpRecorder, type SmtpReceiver } from '../helpers/notify-servers.js';
import { notifierContract, type ChannelBehaviour, type NotifierHarness, type Policy } from '../contract/notifier.contract.js';

const TOKEN = 'XOXB-1234567890-abcdefSECRET';
const PING_UUID = '5f2c3a9e-8d41-4c57-9b0e-1a2b3c4d5e6f';
const SMTP_USER = 'backup-robot';
const SMTP_PASSWORD = 'pa55-word-SMTP-secret';

/** HTTP answers for a behaviour: transient = 500, permanent = 404; an echo quotes `secret` in the reason phrase. */
function httpPlan(behaviour: ChannelBehaviour, secret: string) {
  return (n: number) => {
    if (behaviour.permanent) return { status: 404, reason: behaviour.echoSecret ? `no such hook ${secret}` : 'Not Found' };
    if (n <= (behaviour.transientFailures ?? 0)) return { status: 500, reason: behaviour.echoSecret ? `failed for ${secret}` : 'Internal Server Error' };
    return 200;
  };
}

function httpHarness(kind: 'webhook' | 'ping'): NotifierHarness {
  const section = (url: string, policy: Policy) =>
    kind === 'webhook' ? { ...policy, webhook: { url, on: ['failure', 'success'] } } : { ...policy, ping: { tenants: { acme: url } } };
  const pathname = kind === 'webhook' ? `/services/T000/B000/${TOKEN}` : `/ping/${PING_UUID}`;
  const secret = kind === 'webhook' ? TOKEN : PING_UUID;
  return {
    kind,
    async receiver(behaviour, policy) {
      const server = await startHttpRecorder(httpPlan(behaviour, secret));
      const accepted = () => server.requests.filter((_, i) => httpPlan(behaviour, secret)(i + 1) === 200).map((r) => `${r.path} ${r.body}`);
      return { notifications: section(server.url(pathname), policy), attempts: () => server.requests.length, accepted, secrets: [secret], close: server.close };
    },
    async silent(policy) {
      const server = await startSilentServer();
      return { notifications: section(server.url(pathname), policy), attempts: server.connections, accepted: () => [], secrets: [secret], close: server.close };
    },
  };
}

const emailHarness: NotifierHarness = {
  kind: 'email',
  async receiver(behaviour, policy) {
    const server = await startSmtpServer({
      user: SMTP_USER,
      password: SMTP_PASSWORD,
      plan: (n) =>
        behaviour.permanent
          ? { code: 550, message: behaviour.echoSecret ? `rejected ${SMTP_PASSWORD}` : 'Mailbox unavailable' }
          : n <= (behaviour.transientFailures ?? 0)
            ? { code: 451, message: behaviour.echoSecret ? `try later, ${SMTP_PASSWORD}` : 'Try again later' }
            : null,
    });
    return {
      notifications: emailSection(server, policy),
      attempts: server.attempts,
      accepted: () => server.messages.map((m) => `${m.subject}\n${m.text}`),
      secrets: [SMTP_PASSWORD],
      close: server.close,
    };
  },
  async silent(policy) {
    const server = await startSilentServer();
    return {
      notifications: {
        ...policy,
        email: {
          host: '127.0.0.1',
          port: server.port,
          user: SMTP_USER,
          password: SMTP_PASSWORD,
          from: 'backups@example.test',
          to: ['ops@example.test'],
          on: ['failure', 'success'],
        },
      },
      attempts: server.connections,
      accepted: () => [],
      secrets: [SMTP_PASSWORD],
      close: server.close,
    };
  },
};

function emailSection(server: SmtpReceiver, policy: Partial<Policy>, extra: Record<string, unknown> = {}) {
  return {
    ...policy,
    email: {
      host: '127.0.0.1',
      port: server.port,
      user: SMTP_USER,
      password: SMTP_PASSWORD,
      from: 'backups@example.test',
      to: ['ops@example.test', 'dba@example.test'],
      caFile: server.caFile,
      on: ['failure', 'success'],
      ...extra,
    },
  };
}

notifierContract(httpHarness('webhook'));
notifierContract(httpHarness('ping'));
notifierContract(emailHarness);

const notificationsOf = (raw: Record<string, unknown>) => resolveConfig({ storage: { dir: '/tmp/unused' }, notifications: raw }, { baseDir: '/' }, {}).notifications!;
const context = { host: 'db1', now: new Date('2026-11-27T02:00:04.250Z') };
const failure = backupEvent(
  { kind: 'organization', organizationId: '42' },
  { event: 'failure', error: 'CONNECTION: password authentication failed for <user> & more' },
  'tenant-backup auto --org 42',
  context,
);

describe('webhook', () => {
  let server: HttpRecorder | undefined;
  afterEach(async () => server?.close());

  it('POSTs the documented JSON document with a Slack-compatible text', async () => {
    server = await startHttpRecorder();
    const notifications = notificationsOf({ webhook: { url: server.url(`/services/T000/B000/${TOKEN}`) } });
    const [report] = await deliverAll(allChannels(notifications), failure, policyOf(notifications));
    expect(report).toMatchObject({ ok: true, channel: `webhook ${server.url('/…')}` });
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: `/services/T000/B000/${TOKEN}` });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['user-agent']).toMatch(/^tenant-backup\//);
    expect(JSON.parse(request!.body)).toEqual({
      text: ':x: Backup of organization 42 FAILED on db1: CONNECTION: password authentication failed for &lt;user&gt; &amp; more\nRetry: tenant-backup auto --org 42',
      event: 'failure',
      target: 'organization 42',
      kind: 'organization',
      tenant: null,
      organization_id: '42',
      file: null,
      size: null,
      error: 'CONNECTION: password authentication failed for <user> & more',
      host: 'db1',
      time: '2026-11-27T02:00:04Z',
      retry: 'tenant-backup auto --org 42',
      summary: null,
      problems: null,
    });
  });

  it('a run summary lists every failed target', async () => {
    server = await startHttpRecorder();
    const notifications = notificationsOf({ webhook: { url: server.url('/hook') } });
    const event = runEvent(
      'backup --all',
      { summary: { created: 2, skipped: 0, failed: 1 }, problems: ['tenant "x": CONNECTION: refused'] },
      'tenant-backup backup --all',
      context,
    );
    await deliverAll(allChannels(notifications), event, policyOf(notifications));
    const body = JSON.parse(server.requests[0]!.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      event: 'failure',
      kind: 'run',
      target: 'backup --all',
      summary: { created: 2, skipped: 0, failed: 1 },
      problems: ['tenant "x": CONNECTION: refused'],
    });
    expect(body.text).toBe(':x: backup --all on db1: 2 created, 1 failed.\n• tenant "x": CONNECTION: refused\nRetry: tenant-backup backup --all');
  });
});

describe('ping', () => {
  let server: HttpRecorder | undefined;
  afterEach(async () => server?.close());

  it('uses healthchecks.io endpoints: /start, the URL on success, /fail with the error, /log for a test; the query is kept', async () => {
    server = await startHttpRecorder();
    const notifications = notificationsOf({ ping: { organizations: { '42': server.url(`/ping/${PING_UUID}?rid=7`) } } });
    const org = { kind: 'organization', organizationId: '42' } as const;
    for (const event of [
      backupEvent(org, { event: 'start' }, 'r', context),
      backupEvent(org, { event: 'success', file: 'org_acme_friday_backup.zip', size: 1258291 }, 'r', context),
      failure,
      testEvent(context),
    ]) {
      const [report] = await deliverAll(allChannels(notifications), event, policyOf(notifications));
      expect(report!.ok).toBe(true);
    }
    expect(server.requests.map((r) => [r.method, r.path])).toEqual([
      ['POST', `/ping/${PING_UUID}/start?rid=7`],
      ['POST', `/ping/${PING_UUID}?rid=7`],
      ['POST', `/ping/${PING_UUID}/fail?rid=7`],
      ['POST', `/ping/${PING_UUID}/log?rid=7`],
    ]);
    expect(server.requests.map((r) => r.body)).toEqual([
      '',
      ':white_check_mark: Backup of organization 42 succeeded on db1: org_acme_friday_backup.zip (1.20 MiB).',
      ':x: Backup of organization 42 FAILED on db1: CONNECTION: password authentication failed for <user> & more\nRetry: tenant-backup auto --org 42',
      'Test notification from tenant-backup on db1 at 2026-11-27T02:00:04Z: this channel works.',
    ]);
  });
});

describe('email', () => {
  let server: SmtpReceiver | undefined;
  afterEach(async () => server?.close());

  it('sends a plain-text summary to every recipient, after STARTTLS and AUTH', async () => {
    server = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD });
    const notifications = notificationsOf(emailSection(server, {}));
    const [report] = await deliverAll(allChannels(notifications), failure, policyOf(notifications));
    expect(report).toMatchObject({ ok: true, attempts: 1, channel: `email to ops@example.test, dba@example.test via 127.0.0.1:${server.port}` });
    expect(server.logins()).toBe(1);
    const [mail] = server.messages;
    expect(mail).toMatchObject({ from: 'backups@example.test', to: ['ops@example.test', 'dba@example.test'], secure: true, user: SMTP_USER });
    expect(mail!.subject).toBe('[tenant-backup] FAILED: backup of organization 42 on db1');
    expect(mail!.text).toBe(
      [
        'Backup of organization 42 FAILED on db1: CONNECTION: password authentication failed for <user> & more',
        'Retry: tenant-backup auto --org 42',
        '',
        'What: organization 42',
        'Host: db1',
        'Time: 2026-11-27T02:00:04Z',
        '',
        'Error:',
        'CONNECTION: password authentication failed for <user> & more',
        '',
        'To retry, run:',
        '  tenant-backup auto --org 42',
        '',
      ].join('\n'),
    );
  });

  it('never logs in without TLS: a server without STARTTLS is refused at once (starttls "required", the default)', async () => {
    server = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD, starttls: false });
    const notifications = notificationsOf(emailSection(server, { retries: 3, retryDelaySeconds: 0 }));
    const [report] = await deliverAll(allChannels(notifications), failure, policyOf(notifications));
    expect(report).toMatchObject({ ok: false, attempts: 1 });
    expect(server.logins()).toBe(0);
    expect(server.messages).toEqual([]);
  });

  it('a refused login is permanent and its message carries no password', async () => {
    server = await startSmtpServer({ user: SMTP_USER, password: 'another-password' });
    const notifications = notificationsOf(emailSection(server, { retries: 3, retryDelaySeconds: 0 }));
    const [report] = await deliverAll(allChannels(notifications), failure, policyOf(notifications));
    expect(report).toMatchObject({ ok: false, attempts: 1 });
    expect(report!.error).toMatch(/EAUTH/);
    expect(report!.error).not.toContain(SMTP_PASSWORD);
  });

  it('checks the server certificate: without its authority (caFile) the delivery fails', async () => {
    server = await startSmtpServer({ user: SMTP_USER, password: SMTP_PASSWORD });
    const section = emailSection(server, { retries: 0 });
    delete (section.email as Record<string, unknown>).caFile;
    const notifications = notificationsOf(section);
    const [report] = await deliverAll(allChannels(notifications), failure, policyOf(notifications));
    expect(report!.ok).toBe(false);
    expect(report!.error).toMatch(/certificate/i);
    expect(server.logins()).toBe(0);
  });
});
