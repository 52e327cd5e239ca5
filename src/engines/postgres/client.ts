/**
 * The `pg` driver as the PostgreSQL organization engine uses it: the client configuration for a
 * knex-style connection, what messages may say about the target (never the password), driver
 * errors worded with their detail, and the two guards on a connection's socket — the stall guard
 * and closing a connection that can no longer be used.
 *
 * `pg` is imported here lazily (`loadDriver`), pg-copy-streams only on a restore's first COPY.
 * This file reaches into pg's internals (the socket under a client, its active query and queue):
 * the wire tests (test/integration/postgres-*.test.ts) are the gate for a driver upgrade.
 */
import type pg from 'pg';
import type { OrganizationsConfig } from '../../config/schema.js';
import { describeCause, redactSecrets, type TenantBackupError } from '../../errors.js';
import { connectionSecrets } from '../connection.js';
import { stalledError } from '../stall.js';

type PgModule = typeof import('pg');
type CopyStreams = typeof import('pg-copy-streams');

export interface Driver {
  pg: PgModule;
  /** pg-copy-streams, for COPY FROM (restores only): loaded on first use. */
  copy(): Promise<CopyStreams>;
}

export async function loadDriver(): Promise<Driver> {
  const pgModule = (await import('pg')) as PgModule & { default?: PgModule };
  let copy: Promise<CopyStreams> | undefined;
  return {
    pg: pgModule.default ?? pgModule,
    copy: () => (copy ??= import('pg-copy-streams').then((module) => (module as CopyStreams & { default?: CopyStreams }).default ?? (module as CopyStreams))),
  };
}

/**
 * What a snapshot reader and a restore writer need from their session: the schema, the session's
 * way of wording errors, and COPY FROM streams (pg-copy-streams, loaded on first use).
 */
export interface SessionContext {
  readonly schema: string;
  operationError(what: string, error: unknown): TenantBackupError;
  copyFrom(sql: string): Promise<ReturnType<CopyStreams['from']>>;
}

const APPLICATION_NAME = 'tenant-backup';

/** What error messages may say about the target: never the password. */
export interface Target {
  host: string;
  port: string;
  database: string;
  user: string;
  secrets: string[];
}

/**
 * The pg.Client configuration for a knex-style `connection` (URL string or object). Every value is
 * returned as the server's text (no Date, no Number): the engine only reads its own catalog rows
 * and counts through this client; rows travel through COPY.
 */
export function postgresClientConfig(connection: OrganizationsConfig['connection']): pg.ClientConfig {
  const base: pg.ClientConfig = typeof connection === 'string' ? { connectionString: connection } : { ...(connection as pg.ClientConfig) };
  return {
    ...base,
    application_name: base.application_name ?? APPLICATION_NAME,
    // A blackholed host fails in 30 s rather than the OS's minutes; long COPYs notice a dead peer.
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? 30_000,
    keepAlive: base.keepAlive ?? true,
    types: { getTypeParser: (() => (value: string) => value) as unknown as pg.CustomTypesConfig['getTypeParser'] },
  };
}

export function describeTarget(connection: OrganizationsConfig['connection']): Target {
  const env = process.env;
  let host = env.PGHOST ?? 'localhost';
  let port = env.PGPORT ?? '5432';
  let database = env.PGDATABASE ?? '';
  let user = env.PGUSER ?? '';
  // Every secret of the connection (connection.ts), plus what only libpq knows about.
  const secrets = connectionSecrets(connection);
  const fromUrl = (value: string) => {
    try {
      const url = new URL(value);
      if (url.hostname) host = decodeURIComponent(url.hostname);
      if (url.port) port = url.port;
      if (url.pathname.length > 1) database = decodeURIComponent(url.pathname.slice(1));
      if (url.username) user = decodeURIComponent(url.username);
      const params = url.searchParams;
      host = params.get('host') ?? host;
      user = params.get('user') ?? user;
    } catch {
      // Not a URL (e.g. a libpq key=value string): describe what is known; redact the whole string.
      secrets.push(value);
    }
  };
  if (typeof connection === 'string') {
    fromUrl(connection);
  } else {
    const c = connection as Record<string, unknown>;
    if (typeof c.connectionString === 'string') fromUrl(c.connectionString);
    if (typeof c.host === 'string') host = c.host;
    if (typeof c.port === 'number' || typeof c.port === 'string') port = String(c.port);
    if (typeof c.database === 'string') database = c.database;
    if (typeof c.user === 'string') user = c.user;
  }
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);
  return { host, port, database, user, secrets };
}

function isDatabaseError(error: unknown): error is pg.DatabaseError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && 'severity' in error;
}

/** A driver/server message fit for an error: detail and context appended, secrets removed. */
export function driverMessage(error: unknown, secrets: readonly string[]): string {
  let text = describeCause(error);
  if (isDatabaseError(error)) {
    if (error.detail) text += ` (${error.detail})`;
    if (error.where) text += ` [${error.where}]`;
  }
  return redactSecrets(text, secrets);
}

interface PgInternals {
  connection: { stream: import('node:net').Socket };
  _getActiveQuery(): unknown;
  _queryQueue: unknown[];
}

/**
 * Closes a connection that can no longer be used, without the protocol's goodbye. With a reason,
 * pg fails whatever is pending on it (the active query — a COPY included — and the queue) with
 * that error: nothing waiting on this connection stays pending.
 */
export function destroySocket(client: pg.Client, reason?: Error): void {
  (client as unknown as PgInternals).connection.stream.destroy(reason);
}

/**
 * The stall guard: a connection with a query in flight that receives (and sends) nothing for
 * `timeoutMs` is closed with an error, so a hung server, network or protocol state can never hold
 * a backup — and its lock — forever. An idle connection (nothing pending) is left alone.
 */
export function guardAgainstStalls(client: pg.Client, timeoutMs: number | undefined): void {
  if (!timeoutMs) return;
  const internals = client as unknown as PgInternals;
  const socket = internals.connection.stream;
  socket.setTimeout(timeoutMs);
  socket.on('timeout', () => {
    if (!internals._getActiveQuery() && internals._queryQueue.length === 0) return;
    socket.destroy(stalledError('PostgreSQL', timeoutMs));
  });
}
