/**
 * PostgreSQL organization engine: `pg` (one `pg.Client` per transaction) + `pg-copy-streams`.
 * One file per concern:
 * - client.ts        the driver: client configuration, target description, stall guard
 * - session.ts       connections, session settings, snapshot and restore transactions
 * - catalog.ts       introspection (tables, columns, keys, encodings)
 * - export.ts        COPY … TO STDOUT per table; copy-out.ts reads the protocol,
 *                    export-codec.ts turns COPY text into NDJSON
 * - restore.ts       DELETE, COPY … FROM STDIN (import-codec.ts: NDJSON → COPY text), sequences
 * - dialect.ts       identifiers and organization-id literals
 * - dump.ts          the database-per-tenant engine (pg_dump / psql), separate from all of the above
 */
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { ConnectOptions, OrganizationEngine, OrganizationSession } from '../types.js';
import { loadDriver } from './client.js';
import { PostgresSession } from './session.js';

export const postgresEngine = {
  name: 'postgres',
  // Each snapshot runs on a connection of its own (kept for the session's next one).
  concurrentSnapshots: true,
  async connect(config: OrganizationsConfig, options?: ConnectOptions): Promise<OrganizationSession> {
    if (config.client !== 'pg') {
      throw new ConfigError(`The PostgreSQL engine needs organizations.client "pg", not "${config.client}".`);
    }
    const session = new PostgresSession(await loadDriver(), config, options);
    await session.connect();
    return session;
  },
} satisfies OrganizationEngine;
