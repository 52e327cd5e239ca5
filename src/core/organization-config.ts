/** The `organizations` section, required by every --org use case. */
import type { OrganizationsConfig } from '../config/schema.js';
import { assertConnectionReady } from '../config/load.js';
import type { ConnectOptions, OrganizationSession } from '../engines/types.js';
import { ConfigError, OperationError } from '../errors.js';
import type { Deps } from './context.js';

/** The shared database's settings, ready to connect (every `${VAR}` of its connection set). */
export function organizationsConfig(deps: Pick<Deps, 'config'>): OrganizationsConfig {
  const config = deps.config.organizations;
  if (!config) throw ConfigError.missingOrganizations();
  assertConnectionReady(deps.config, 'organizations');
  return config;
}

/** Archive entry of a table: any table name becomes a safe single path segment. */
export function tableEntryPath(table: string): string {
  return `tables/${encodeURIComponent(table).replace(/\*/g, '%2A')}.ndjson`;
}

/** How every --org use case connects: with the configured stall guard. */
export function connectOptions(config: OrganizationsConfig): ConnectOptions {
  return { stallTimeoutMs: (config.stallTimeoutSeconds ?? 0) * 1000 };
}

/**
 * Ends the session's connections as soon as `signal` aborts (Ctrl-C, SIGTERM), so every wait on
 * the database ends at once instead of when the server answers. Returns the listener's remover.
 */
export function abortSessionOn(session: OrganizationSession, signal: AbortSignal | undefined, what: string): () => void {
  if (!signal) return () => undefined;
  const abort = () => session.abort(new OperationError(`${what} cancelled.`));
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}
