/**
 * SQLite engine for organization-scoped backups, on better-sqlite3. One file per concern:
 * - database.ts      opening the shared database file, the work queue, errors
 * - session.ts       the snapshot and the restore transaction (foreign keys at COMMIT)
 * - catalog.ts       introspection
 * - codec.ts         values ⇄ NDJSON by storage class (tagged where the class is not the column's)
 * - export.ts        one table's rows; restore.ts: inserts and counters
 * - dialect.ts       identifiers and organization-id literals
 * - dump.ts          the database-per-tenant engine (online backup API), separate from the above
 *
 * Limits:
 * - Only the `main` database's ordinary tables are read: virtual tables (FTS, R*Tree) and their
 *   shadow tables are not part of a backup.
 * - The implicit rowid of a table without an INTEGER PRIMARY KEY is not data: restored rows of
 *   such tables get new rowids (as after VACUUM).
 * - TEXT must be valid UTF-8/UTF-16: invalid byte sequences stored as TEXT reach JS as U+FFFD.
 */
import type { OrganizationEngine } from '../types.js';
import { connect } from './session.js';

// Each snapshot opens a read-only handle of its own.
export const sqliteEngine = { name: 'sqlite', connect, concurrentSnapshots: true } satisfies OrganizationEngine;
