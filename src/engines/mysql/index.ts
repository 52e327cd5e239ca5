/**
 * MariaDB (10.11, Debian's MySQL-compatible server) and MySQL 8: organization-scoped export and
 * restore over `mysql2`'s callback API. One file per concern:
 * - driver.ts        connections, exact-value options, session sql_mode, stall guard, errors
 * - session.ts       the snapshot and the restore transaction
 * - catalog.ts       introspection (tables, columns, keys, encodings)
 * - export.ts        one table's rows, straight from the protocol (export-codec.ts: row → NDJSON)
 * - restore.ts       batched INSERTs and the reference checks before COMMIT
 * - dialect.ts       identifiers and organization-id literals
 * - dump.ts          the database-per-tenant engine (mariadb-dump / mariadb), separate from the above
 */
import type { OrganizationsConfig } from '../../config/schema.js';
import type { ConnectOptions, OrganizationEngine, OrganizationSession } from '../types.js';
import { connectTarget, openConnection, type MysqlModule } from './driver.js';
import { MysqlSession } from './session.js';

async function connect(config: OrganizationsConfig, options: ConnectOptions = {}): Promise<OrganizationSession> {
  const mysql = ((await import('mysql2')) as { default?: MysqlModule }).default ?? ((await import('mysql2')) as MysqlModule);
  const target = { ...connectTarget(config), stallTimeoutMs: options.stallTimeoutMs };
  const connection = await openConnection(mysql, target);
  return new MysqlSession(mysql, connection, target);
}

export const mysqlEngine = { name: 'mysql', connect } satisfies OrganizationEngine;
