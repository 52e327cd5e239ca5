/**
 * Organizations as the operator names them: `--org` takes an id or a code. Digits alone are an id
 * and need no lookup on commands that otherwise never connect (list, status, delete, auto's skip
 * rules: a login hook stays as cheap as before); anything else — and every value on commands that
 * connect anyway — is looked up in the organizations table by id and by code. Two organizations
 * matching (one's id is another's code, or a code shared by several) is an error, never a guess.
 */
import { loadOrganizationEngine } from '../engines/registry.js';
import type { OrganizationsConfig } from '../config/schema.js';
import type { OrganizationRow, OrganizationSession } from '../engines/types.js';
import { NotFoundError, UsageError, asTypedError } from '../errors.js';
import type { Deps } from './context.js';
import { connectionSecrets } from '../engines/connection.js';
import { connectOptions, organizationsConfig } from './organization-config.js';
import { parseOrganizationId } from './targets.js';

/**
 * Runs `fn` on a session of the shared database (with the configured stall guard), closed
 * afterwards; connection and query errors come out typed, without the password.
 */
export async function withOrganizationsSession<T>(deps: Pick<Deps, 'config'>, fn: (session: OrganizationSession, config: OrganizationsConfig) => Promise<T>): Promise<T> {
  const config = organizationsConfig(deps);
  const engine = await loadOrganizationEngine(config.client);
  const secrets = connectionSecrets(config.connection);
  const session = await engine.connect(config, connectOptions(config)).catch((error: unknown) => {
    throw asTypedError(error, secrets);
  });
  try {
    return await fn(session, config);
  } catch (error) {
    throw asTypedError(error, secrets);
  } finally {
    await session.close().catch(() => undefined);
  }
}

/** Rows of the organizations table whose id or code is `reference` (connects to the shared database). */
export async function findOrganizations(deps: Pick<Deps, 'config'>, reference: string): Promise<OrganizationRow[]> {
  return withOrganizationsSession(deps, (session, config) => session.findOrganizations(config, reference));
}

/** The organization with this exact id, or null (connects to the shared database). */
export async function lookupOrganization(deps: Pick<Deps, 'config'>, organizationId: string): Promise<OrganizationRow | null> {
  return (await findOrganizations(deps, organizationId)).find((row) => row.id === organizationId) ?? null;
}

export interface ResolveOptions {
  /**
   * `always`: look every value up (commands that connect anyway). `unless-digits` (default): a
   * value of digits is taken as an id without connecting.
   */
  lookup?: 'always' | 'unless-digits';
}

/** The organization id that `reference` (an id or a code) names. */
export async function resolveOrganizationId(deps: Pick<Deps, 'config'>, reference: string, options: ResolveOptions = {}): Promise<string> {
  const value = parseOrganizationId(reference);
  if (options.lookup !== 'always' && /^\d+$/.test(value)) return value;
  if (!deps.config.organizations && options.lookup !== 'always') return value;
  const rows = await findOrganizations(deps, value);
  const ids = [...new Set(rows.map((row) => row.id))];
  if (ids.length === 0) {
    const table = deps.config.organizations?.table ?? 'organizations';
    throw new NotFoundError(`No organization has the id or code "${value}" in table "${table}".`, { organization: value });
  }
  if (ids.length > 1) {
    const list = rows.map((row) => `id ${row.id}${row.code ? ` (code ${row.code})` : ''}`).join(', ');
    throw new UsageError(`"${value}" names more than one organization: ${list}. Give the id instead.`, { organization: value, matches: ids });
  }
  return ids[0]!;
}
