/**
 * Events and their wording — pure functions of what happened, the host and the time: no I/O, so
 * the formats (webhook JSON, Slack text, e-mail, ping request) are unit-tested as they are.
 */
import { formatBytes, wholeSeconds } from '../format.js';
import type { EventSubject, EventType, NotificationEvent } from './types.js';

/** Longest error text quoted in a message's `text` / e-mail body (the JSON's `error` is whole). */
const QUOTE_LIMIT = 3000;

export interface EventContext {
  host: string;
  now: Date;
}

export function describeSubject(subject: EventSubject): string {
  switch (subject.kind) {
    case 'database':
      return `tenant "${subject.tenant}"`;
    case 'organization':
      return `organization ${subject.organizationId}`;
    case 'run':
      return subject.run;
    case 'monitor':
      return 'status --all';
    case 'test':
      return 'notify test';
  }
}

function base(subject: EventSubject, event: EventType, context: EventContext): NotificationEvent {
  return {
    event,
    target: describeSubject(subject),
    kind: subject.kind,
    tenant: subject.kind === 'database' ? subject.tenant : null,
    organization_id: subject.kind === 'organization' ? subject.organizationId : null,
    file: null,
    size: null,
    error: null,
    host: context.host,
    time: wholeSeconds(context.now.toISOString()),
    retry: null,
    summary: null,
    problems: null,
  };
}

/** A backup of one tenant or organization: started, succeeded (with its archive) or failed. */
export function backupEvent(
  subject: Extract<EventSubject, { kind: 'database' | 'organization' }>,
  outcome: { event: 'start' } | { event: 'success'; file: string; size: number } | { event: 'failure'; error: string; file?: string | null },
  retry: string,
  context: EventContext,
): NotificationEvent {
  const event = base(subject, outcome.event, context);
  if (outcome.event === 'success') return { ...event, file: outcome.file, size: outcome.size };
  if (outcome.event === 'failure') return { ...event, file: outcome.file ?? null, error: outcome.error, retry };
  return event;
}

/** The end of a `--all` run: a failure when any target failed, else a success. */
export function runEvent(
  run: 'backup --all' | 'auto --all',
  outcome: { summary: NonNullable<NotificationEvent['summary']>; problems: string[]; error?: string },
  retry: string,
  context: EventContext,
): NotificationEvent {
  const failed = outcome.summary.failed > 0 || outcome.error !== undefined;
  const event = base({ kind: 'run', run }, failed ? 'failure' : 'success', context);
  const error = outcome.error ?? (failed ? `${outcome.summary.failed} failed: ${outcome.problems.join('; ')}` : null);
  return { ...event, summary: outcome.summary, problems: outcome.problems, error, retry: failed ? retry : null };
}

/** A `--all` run starting (pings only). */
export function runStartEvent(run: 'backup --all' | 'auto --all', context: EventContext): NotificationEvent {
  return base({ kind: 'run', run }, 'start', context);
}

/** `status --all --check` found stale or shrunken targets. */
export function staleEvent(problems: string[], context: EventContext): NotificationEvent {
  return { ...base({ kind: 'monitor' }, 'stale', context), problems, error: problems.join('; '), retry: 'tenant-backup status --all' };
}

export function testEvent(context: EventContext): NotificationEvent {
  return base({ kind: 'test' }, 'test', context);
}

/** One readable message (Slack/Mattermost `text`, ping body, first line of an e-mail). */
export function eventText(event: NotificationEvent): string {
  const on = `on ${event.host}`;
  const lines: string[] = [];
  switch (event.event) {
    case 'start':
      lines.push(`${capitalize(what(event))} started ${on}.`);
      break;
    case 'success':
      lines.push(
        event.kind === 'run'
          ? `:white_check_mark: ${event.target} ${on}: ${summaryText(event)}.`
          : `:white_check_mark: ${capitalize(what(event))} succeeded ${on}: ${event.file} (${formatBytes(event.size ?? 0)}).`,
      );
      break;
    case 'failure':
      lines.push(
        event.kind === 'run' ? `:x: ${event.target} ${on}: ${summaryText(event)}.` : `:x: ${capitalize(what(event))} FAILED ${on}: ${quote(event.error ?? 'no reason given')}`,
      );
      break;
    case 'stale':
      lines.push(`:warning: Backups need attention ${on} (${event.problems?.length ?? 0}):`);
      break;
    case 'test':
      lines.push(`Test notification from tenant-backup ${on} at ${event.time}: this channel works.`);
      break;
  }
  if (event.problems && event.problems.length > 0) lines.push(...event.problems.map((problem) => `• ${quote(problem)}`));
  if (event.retry && event.event !== 'success') lines.push(`${event.event === 'stale' ? 'Details' : 'Retry'}: ${event.retry}`);
  return lines.join('\n');
}

/** The webhook's JSON document: the event, plus `text` for Slack-compatible incoming webhooks. */
export function webhookDocument(event: NotificationEvent): Record<string, unknown> {
  return { text: slackEscape(eventText(event)), ...event };
}

/** healthchecks.io's endpoints: `/start`, the URL itself on success, `/fail`, and `/log` (a test). */
export function pingRequest(event: NotificationEvent): { suffix: string; body: string } {
  const suffix = event.event === 'start' ? '/start' : event.event === 'failure' ? '/fail' : event.event === 'test' ? '/log' : '';
  return { suffix, body: event.event === 'start' ? '' : eventText(event) };
}

/** A plain-text e-mail: what happened in the subject; the error and the command to retry below. */
export function emailMessage(event: NotificationEvent): { subject: string; text: string } {
  const state = { start: 'started', success: 'OK', failure: 'FAILED', stale: 'STALE', test: 'test' }[event.event];
  const subject = `[tenant-backup] ${state}: ${event.kind === 'monitor' ? 'backups need attention' : what(event)} on ${event.host}`;
  const facts: [string, string | null][] = [
    ['What', event.target],
    ['Host', event.host],
    ['Time', event.time],
    ['File', event.file],
    ['Size', event.size === null ? null : `${formatBytes(event.size)} (${event.size} bytes)`],
    ['Summary', event.summary ? summaryText(event) : null],
  ];
  const body = [
    eventText(event).replace(/^:[a-z_]+: /, ''),
    '',
    ...facts.filter((fact): fact is [string, string] => fact[1] !== null).map(([name, value]) => `${name}: ${value}`),
    ...(event.error && event.event === 'failure' && event.kind !== 'run' ? ['', 'Error:', quote(event.error)] : []),
    ...(event.retry && event.event !== 'success' ? ['', `To ${event.event === 'stale' ? 'see the details' : 'retry'}, run:`, `  ${event.retry}`] : []),
  ];
  return { subject, text: `${body.join('\n')}\n` };
}

function what(event: NotificationEvent): string {
  if (event.kind === 'database' || event.kind === 'organization') return `backup of ${event.target}`;
  return event.target;
}

function summaryText(event: NotificationEvent): string {
  const s = event.summary ?? { created: 0, skipped: 0, failed: 0 };
  return `${s.created} created, ${s.skipped > 0 ? `${s.skipped} skipped, ` : ''}${s.failed} failed`;
}

function quote(text: string): string {
  return text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}… (${text.length - QUOTE_LIMIT} more characters)` : text;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Slack's `text` treats `&`, `<`, `>` as markup: an error quoting `<table>` must stay text. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
