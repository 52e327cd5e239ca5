/**
 * Notifications: what happened (an event, built by the pure functions of `events.ts`), where it
 * goes (channels, chosen by `channels.ts` from the configuration), and the one interface every
 * kind of channel implements (`Notifier`: one file per kind — webhook.ts, ping.ts, email.ts —
 * each checked with `satisfies NotifierFactory`). Retries, time limits and reporting live once,
 * in `deliver.ts`, above every kind.
 *
 * The contract every kind keeps (test/contract/notifiers.test.ts runs it against each):
 * - `send` makes ONE attempt and settles: resolves once the other side accepted the event,
 *   rejects otherwise; it stops at once when its signal aborts (the attempt's time limit).
 * - A refusal that no retry can change (HTTP 4xx, SMTP 5xx, authentication refused) is a
 *   `PermanentDeliveryError`; anything else may be retried.
 * - `label` and every error message are safe to print: no URL token, no password.
 */
import type { NotificationsConfig } from '../config/schema.js';

export type EventType = 'start' | 'success' | 'failure' | 'stale' | 'test';

/** Who or what an event is about. */
export type EventSubject =
  | { kind: 'database'; tenant: string }
  | { kind: 'organization'; organizationId: string }
  /** A whole `backup --all` / `auto --all` run. */
  | { kind: 'run'; run: 'backup --all' | 'auto --all' }
  /** `status --all --check`. */
  | { kind: 'monitor' }
  | { kind: 'test' };

/** One notification, in the documented webhook format (minus `text`, which is derived from it). */
export interface NotificationEvent {
  event: EventType;
  /** The subject in words: `tenant "acme"`, `organization 42`, `backup --all`, `status --all`. */
  target: string;
  kind: EventSubject['kind'];
  tenant: string | null;
  organization_id: string | null;
  /** The archive's file name (success, or the name a failed backup would have had), else null. */
  file: string | null;
  /** The archive's size in bytes (success), else null. */
  size: number | null;
  /** Why it failed (failure), or what is stale (stale); null otherwise. */
  error: string | null;
  /** The machine that ran the command. */
  host: string;
  /** When the event happened: UTC, whole seconds. */
  time: string;
  /** The command that retries a failed backup, or shows the problem; null when none applies. */
  retry: string | null;
  /** `--all` runs: how many targets were created, skipped, failed. */
  summary: { created: number; skipped: number; failed: number } | null;
  /** `--all` runs and `stale`: one line per target that failed or is stale/flagged. */
  problems: string[] | null;
}

export type NotifierKind = 'webhook' | 'ping' | 'email';

export interface Notifier {
  readonly kind: NotifierKind;
  /** The channel in words, safe to print: `webhook https://hooks.slack.com/…`. */
  readonly label: string;
  /** What must never be printed about this channel (URL tokens, password): scrubbed from every report. */
  readonly secrets: readonly string[];
  /** One delivery attempt (see the contract above). */
  send(event: NotificationEvent, signal: AbortSignal): Promise<void>;
}

/** Builds a notifier of one kind from its settings (one file per kind). */
export type NotifierFactory<Settings> = (settings: Settings) => Notifier | Promise<Notifier>;

export type EmailSettings = NonNullable<NotificationsConfig['email']>;

/** A channel chosen for an event: the kind and its settings, before the kind's module is loaded. */
export type ChannelSpec =
  | { kind: 'webhook'; url: string }
  | { kind: 'ping'; url: string; /** which setting: `ping.tenants.acme`, `ping.backupAll`… */ name: string }
  | { kind: 'email'; settings: EmailSettings };

/** How hard delivery tries: each attempt's limit, further attempts, the first wait (doubling). */
export interface DeliveryPolicy {
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
}

/** What became of one event on one channel. Never carries a secret. */
export interface DeliveryReport {
  channel: string;
  kind: NotifierKind;
  event: EventType;
  ok: boolean;
  attempts: number;
  /** Why the last attempt failed (when `ok` is false). */
  error: string | null;
}

/** A refusal that another attempt cannot change: delivery stops at once. */
export class PermanentDeliveryError extends Error {
  override readonly name = 'PermanentDeliveryError';
}
