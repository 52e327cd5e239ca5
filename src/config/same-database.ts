/**
 * Whether two knex connections reach the same database: the same client, and the same host (case
 * aside), port and database — or the same SQLite file. Users and passwords do not matter (a ledger
 * connection may use other credentials). Unknown forms (a socket path, a libpq key=value string)
 * are never called the same.
 */
import path from 'node:path';

const DEFAULT_PORTS: Record<string, string> = { pg: '5432', mysql2: '3306' };

function whereOf(client: string, connection: unknown): string | undefined {
  if (client === 'better-sqlite3') {
    const file = typeof connection === 'string' ? connection : (connection as { filename?: unknown } | null)?.filename;
    return typeof file === 'string' && file !== ':memory:' ? `sqlite:${path.resolve(file)}` : undefined;
  }
  const port = DEFAULT_PORTS[client];
  if (!port) return undefined;
  let value = connection;
  if (value && typeof value === 'object' && typeof (value as { connectionString?: unknown }).connectionString === 'string')
    value = (value as { connectionString: string }).connectionString;
  if (typeof value === 'string') {
    try {
      const url = new URL(value);
      if (!url.hostname || url.pathname.length <= 1) return undefined;
      return `${client}:${url.hostname.toLowerCase()}:${url.port || port}/${decodeURIComponent(url.pathname.slice(1))}`;
    } catch {
      return undefined;
    }
  }
  if (!value || typeof value !== 'object') return undefined;
  const object = value as { host?: unknown; port?: unknown; database?: unknown; socketPath?: unknown };
  if (object.socketPath !== undefined || typeof object.database !== 'string') return undefined;
  return `${client}:${String(object.host ?? 'localhost').toLowerCase()}:${String(object.port ?? port)}/${object.database}`;
}

export function sameDatabase(a: { client: string; connection: unknown }, b: { client: string; connection: unknown }): boolean {
  const here = whereOf(a.client, a.connection);
  return here !== undefined && a.client === b.client && here === whereOf(b.client, b.connection);
}
