/**
 * The contract every notifier kind keeps (src/notify/types.ts), run against each kind by plugging
 * in a harness: a real receiver (HTTP server, SMTP server) behaving as told, and the
 * `notifications` configuration that points this one channel at it.
 *
 * - delivered once: one event, one accepted delivery, one attempt;
 * - retries: two transient refusals, then accepted on the third attempt (with backoff);
 * - a permanent refusal is not retried;
 * - a receiver that never answers ends each attempt at its time limit; delivery never throws;
 * - never changes the outcome: a real backup (SQLite tenant) keeps its result or its error,
 *   whatever delivery does, and a failed delivery is noted on the ledger record;
 * - no secret (URL token, password) in a label, an error, stderr-bound text or the ledger.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import type { NotificationsConfig } from '../../src/config/schema.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps } from '../../src/core/context.js';
import { backupTenantNotified } from '../../src/core/notified.js';
import { allChannels, policyOf } from '../../src/notify/channels.js';
import { deliverAll } from '../../src/notify/deliver.js';
import { backupEvent } from '../../src/notify/events.js';
import type { NotifierKind } from '../../src/notify/types.js';
import { frozenClock } from '../../src/retention/clock.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

export interface Policy {
  timeoutSeconds: number;
  retries: number;
  retryDelaySeconds: number;
}

export interface ChannelBehaviour {
  /** Transient refusals before the receiver accepts (Infinity: never accepts). */
  transientFailures?: number;
  /** Refuse every delivery for good (HTTP 404, SMTP 550). */
  permanent?: boolean;
  /** The refusal's text quotes the channel's secret (a receiver echoing the URL or password). */
  echoSecret?: boolean;
}

export interface ChannelUnderTest {
  /** The raw `notifications` section for this one channel (policy included). */
  notifications: Record<string, unknown>;
  /** Deliveries the receiver saw, accepted or not. */
  attempts(): number;
  /** Texts of the accepted deliveries (webhook JSON, ping body, e-mail subject + body). */
  accepted(): string[];
  /** What must never be printed. */
  secrets: string[];
  close(): Promise<void>;
}

export interface NotifierHarness {
  kind: NotifierKind;
  /** For the tenant `acme` (ping URLs are per target). */
  receiver(behaviour: ChannelBehaviour, policy: Policy): Promise<ChannelUnderTest>;
  /** A receiver that accepts connections and never answers. */
  silent(policy: Policy): Promise<ChannelUnderTest>;
}

const FAST: Policy = { timeoutSeconds: 5, retries: 3, retryDelaySeconds: 0.05 };
const HANGING: Policy = { timeoutSeconds: 0.5, retries: 1, retryDelaySeconds: 0.05 };

export function notifierContract(harness: NotifierHarness): void {
  describe(`notifier contract: ${harness.kind}`, () => {
    let dir: string;
    let channel: ChannelUnderTest | undefined;
    beforeAll(async () => {
      dir = await makeTempDir(`tb-contract-${harness.kind}-`);
    });
    afterEach(async () => {
      await channel?.close();
      channel = undefined;
    });
    afterAll(removeTempDirs);

    const sectionOf = (raw: Record<string, unknown>): NotificationsConfig => configWith(dir, raw).notifications!;
    const failureEvent = () =>
      backupEvent({ kind: 'database', tenant: 'acme' }, { event: 'failure', error: 'CONNECTION: the server did not answer' }, 'tenant-backup backup acme', {
        host: 'db1',
        now: new Date('2026-11-27T02:00:04Z'),
      });
    const send = (notifications: NotificationsConfig) => deliverAll(allChannels(notifications), failureEvent(), policyOf(notifications));

    it('delivers one event once', async () => {
      channel = await harness.receiver({}, FAST);
      const [report, ...more] = await send(sectionOf(channel.notifications));
      expect(more).toEqual([]);
      expect(report).toMatchObject({ ok: true, attempts: 1, error: null, kind: harness.kind, event: 'failure' });
      expect(channel.attempts()).toBe(1);
      expect(channel.accepted()).toHaveLength(1);
      expect(channel.accepted()[0]).toContain('the server did not answer');
    });

    it('retries after transient refusals (two, then accepted on the third attempt)', async () => {
      channel = await harness.receiver({ transientFailures: 2 }, FAST);
      const [report] = await send(sectionOf(channel.notifications));
      expect(report).toMatchObject({ ok: true, attempts: 3, error: null });
      expect(channel.attempts()).toBe(3);
      expect(channel.accepted()).toHaveLength(1);
    });

    it('gives up after the configured retries, and never retries a permanent refusal', async () => {
      channel = await harness.receiver({ transientFailures: Infinity }, { ...FAST, retries: 2 });
      const [transient] = await send(sectionOf(channel.notifications));
      expect(transient).toMatchObject({ ok: false, attempts: 3 });
      expect(channel.attempts()).toBe(3);
      await channel.close();

      channel = await harness.receiver({ permanent: true }, FAST);
      const [permanent] = await send(sectionOf(channel.notifications));
      expect(permanent).toMatchObject({ ok: false, attempts: 1 });
      expect(channel.attempts()).toBe(1);
      expect(channel.accepted()).toEqual([]);
    });

    it('ends every attempt at its time limit when the receiver never answers; delivery does not throw', async () => {
      channel = await harness.silent(HANGING);
      const [report] = await send(sectionOf(channel.notifications));
      expect(report).toMatchObject({ ok: false, attempts: 2 });
      expect(report!.error).toMatch(/no answer within 0\.5 s/);
    });

    it('never puts a secret in a label or an error, even when the receiver echoes it', async () => {
      channel = await harness.receiver({ transientFailures: Infinity, echoSecret: true }, { ...FAST, retries: 0 });
      const [report] = await send(sectionOf(channel.notifications));
      expect(report!.ok).toBe(false);
      expect(channel.attempts()).toBe(1);
      for (const secret of channel.secrets) {
        expect(report!.channel).not.toContain(secret);
        expect(report!.error).not.toContain(secret);
      }
    });

    describe('never changes the outcome of the backup it reports on', () => {
      const tenantFile = () => path.join(dir, 'acme.sqlite');
      const depsFor = async (notifications: Record<string, unknown> | undefined) => createDeps({ config: configWith(dir, notifications), clock: frozenClock(new Date()) });

      it('a backup that succeeds stays a success when delivery hangs; the failed delivery is noted on its record', async () => {
        const db = new Database(tenantFile());
        db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');");
        db.close();
        channel = await harness.silent(HANGING);
        const deps = await depsFor(channel.notifications);
        const failures: string[] = [];
        const result = await backupTenantNotified(deps, { tenant: 'acme' }, { onDeliveryFailure: (message) => failures.push(message) });
        expect(result.action).toBe('created');
        expect(result.record.status).toBe('success');
        const [record] = await deps.ledger.find({ tenant: 'acme', backup_filename: result.record.backup_filename });
        expect(record).toMatchObject({ status: 'success', backup_size: result.record.backup_size, sha256: result.record.sha256 });
        expect(record!.error_message).toMatch(/^notification failed: .*no answer within 0\.5 s/);
        expect(failures.length).toBeGreaterThan(0);
        for (const secret of channel.secrets) {
          expect(record!.error_message).not.toContain(secret);
          for (const line of failures) expect(line).not.toContain(secret);
        }
      });

      it('a backup that fails throws the very error it throws without notifications; the failure is delivered', async () => {
        await rm(tenantFile(), { force: true });
        const plain = await backupTenant(await depsFor(undefined), { tenant: 'acme' }).then(
          () => null,
          (error: unknown) => error as Error & { code: string },
        );
        expect(plain?.code).toBe('CONNECTION');
        channel = await harness.receiver({}, FAST);
        const deps = await depsFor(channel.notifications);
        const notified = await backupTenantNotified(deps, { tenant: 'acme' }).then(
          () => null,
          (error: unknown) => error as Error & { code: string },
        );
        expect(notified).toBeInstanceOf(plain!.constructor);
        expect({ code: notified?.code, message: notified?.message }).toEqual({ code: plain!.code, message: plain!.message });
        expect(channel.accepted().some((text) => text.includes('does not exist'))).toBe(true);
      });
    });
  });
}

/** A resolved configuration: the tenant `acme` (SQLite in `dir`) and this notifications section. */
function configWith(dir: string, notifications: Record<string, unknown> | undefined) {
  return resolveConfig(
    {
      storage: { dir: './storage' },
      timezone: 'UTC',
      tenants: { acme: { client: 'better-sqlite3', connection: { filename: './acme.sqlite' } } },
      ...(notifications ? { notifications } : {}),
    },
    path.join(dir, '.backuprc'),
    {},
  );
}
