/**
 * Maps a configured knex client to its engine module, imported lazily so that commands which do
 * not need a database (help, list, delete) never load a driver.
 */
import type { DatabaseClient } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { EngineName, OrganizationEngine } from './types.js';

export const ENGINE_OF_CLIENT: Record<DatabaseClient, EngineName> = {
  pg: 'postgres',
  mysql2: 'mysql',
  'better-sqlite3': 'sqlite',
};

export async function loadOrganizationEngine(client: DatabaseClient): Promise<OrganizationEngine> {
  switch (client) {
    case 'pg':
      return (await import('./postgres.js')).postgresEngine;
    case 'mysql2':
      return (await import('./mysql.js')).mysqlEngine;
    case 'better-sqlite3':
      return (await import('./sqlite.js')).sqliteEngine;
    default:
      throw new ConfigError(`Unknown database client "${String(client)}".`);
  }
}
