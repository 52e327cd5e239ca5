/**
 * The engine loader: maps a configured knex client to its engines, each imported lazily so that
 * commands which do not need a database (help, list, delete, a skipped `auto`) never load a driver.
 * Unknown clients are configuration errors.
 */
import type { DatabaseClient } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { DatabaseEngine, EngineName, OrganizationEngine } from './types.js';

export const ENGINE_OF_CLIENT: Record<DatabaseClient, EngineName> = {
  pg: 'postgres',
  mysql2: 'mysql',
  'better-sqlite3': 'sqlite',
};

/** The organization engine (shared database, organization-scoped rows) of a client. */
export async function loadOrganizationEngine(client: DatabaseClient): Promise<OrganizationEngine> {
  switch (client) {
    case 'pg':
      return (await import('./postgres/index.js')).postgresEngine;
    case 'mysql2':
      return (await import('./mysql/index.js')).mysqlEngine;
    case 'better-sqlite3':
      return (await import('./sqlite/index.js')).sqliteEngine;
    default:
      throw unknownClient(client);
  }
}

/** The whole-database engine (database per tenant: dump and load) of a client. */
export async function loadDatabaseEngine(client: DatabaseClient): Promise<DatabaseEngine> {
  switch (client) {
    case 'pg':
      return (await import('./postgres/dump.js')).postgresDumpEngine;
    case 'mysql2':
      return (await import('./mysql/dump.js')).mysqlDumpEngine;
    case 'better-sqlite3':
      return (await import('./sqlite/dump.js')).sqliteDumpEngine;
    default:
      throw unknownClient(client);
  }
}

function unknownClient(client: never): ConfigError {
  return new ConfigError(`Unknown database client "${String(client)}".`);
}
