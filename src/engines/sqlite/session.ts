/**
 * A SQLite session: one read-only connection for the catalog, a dedicated read-only connection per
 * snapshot and a dedicated read-write connection per restore (closed after it: nothing
 * session-scoped leaks). Work on one connection is queued: better-sqlite3 cannot interleave an
 * open iterator with writes.
 *
 * Snapshot: `BEGIN` plus a first read takes the snapshot, and all tables are read inside that one
 * read transaction. In WAL mode this is snapshot isolation (writers continue; the WAL cannot be
 * checkpointed past the snapshot until we finish). In rollback-journal mode the transaction holds a
 * SHARED lock: the application's writers wait (busy timeout) or fail with SQLITE_BUSY until the
 * backup ends — keep backups short or use WAL.
 *
 * Restore and foreign keys: `PRAGMA foreign_keys = ON` is set BEFORE `BEGIN IMMEDIATE` (the pragma
 * is a no-op inside a transaction), so the restore is checked like an application that enforces
 * foreign keys (better-sqlite3's own default): a restore that would leave dangling references
 * fails and rolls back. Inside the transaction `PRAGMA defer_foreign_keys = ON` moves every
 * foreign-key check to COMMIT (cycles, and parents referenced by rows outside the organization's
 * tables, can be deleted and re-inserted); SQLite resets it when the transaction ends. On a failed
 * COMMIT the violating tables are named (from `PRAGMA foreign_key_check`) and everything is rolled
 * back. Triggers cannot be disabled in SQLite: the application's INSERT/DELETE triggers fire during
 * a restore.
 */
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConfigError, ConnectionError, OperationError, describeCause } from '../../errors.js';
import type { OrganizationSession, RestoreWriter, SnapshotReader, TablePlan } from '../types.js';
import { introspectSchema } from './catalog.js';
import { asOperationError, BUSY_TIMEOUT_MS, createQueue, databaseFile, openDatabase, type DatabaseConstructor } from './database.js';
import { q, sqliteDialect } from './dialect.js';
import { countRows, exportRows, findOrganizationRow, findOrganizationRows } from './export.js';
import { ReferenceChecks } from '../restore-checks.js';
import { describeForeignKeyViolations, importRows, resetCounter } from './restore.js';

export async function connect(config: OrganizationsConfig): Promise<OrganizationSession> {
  if (config.client !== 'better-sqlite3') {
    throw new ConfigError(`The SQLite engine needs client "better-sqlite3", not "${config.client}".`);
  }
  if (config.schema !== undefined && config.schema !== 'main') {
    throw new ConfigError(`organizations.schema "${config.schema}" is not supported for SQLite: only the main database ("main") is read.`);
  }
  const filename = databaseFile(config);
  let Database: DatabaseConstructor;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (error) {
    throw new ConnectionError(`The better-sqlite3 driver could not be loaded: ${describeCause(error)}`, error);
  }
  const main = openDatabase(Database, filename, true);
  const serial = createQueue();
  let closed = false;

  const session: OrganizationSession = {
    dialect: sqliteDialect,

    serverVersion: () => serial(() => String(main.prepare('SELECT sqlite_version()').pluck().get())),

    findOrganizations: (config, reference) => serial(() => findOrganizationRows(main, config, reference, true)),

    listOrganizationIds: (config) =>
      serial(() => {
        const q = sqliteDialect.quoteIdentifier;
        const ids = main
          .prepare(`SELECT t.${q(config.idColumn)} FROM ${q(config.table)} AS t ORDER BY 1`)
          .pluck()
          .all() as unknown[];
        return ids.filter((id) => id !== null).map((id) => String(id));
      }),

    introspect: () =>
      serial(() => {
        main.exec('BEGIN');
        try {
          return introspectSchema(main);
        } finally {
          main.exec('COMMIT');
        }
      }),

    // One file, one process: a single reader (`options.readers` is not used).
    async withSnapshot<T>(fn: (reader: SnapshotReader, more: readonly SnapshotReader[]) => Promise<T>): Promise<T> {
      const db = openDatabase(Database, filename, true);
      const queue = createQueue();
      try {
        // A deferred transaction takes its snapshot (WAL) or SHARED lock (rollback journal) at its
        // first read; every later read of every table sees that same state.
        db.exec('BEGIN DEFERRED');
        db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get();
        const reader: SnapshotReader = {
          findOrganization: (organizations, id) => queue(() => findOrganizationRow(db, organizations, id)),
          exportTable: (plan, out, onRows) => queue(() => exportRows(db, plan, out, onRows)),
          countRows: (plan) => queue(() => countRows(db, plan)),
        };
        const result = await fn(reader, []);
        await queue(() => db.exec('COMMIT'));
        return result;
      } catch (error) {
        await queue(() => {
          if (db.inTransaction) db.exec('ROLLBACK');
        }).catch(() => undefined);
        throw error;
      } finally {
        db.close();
      }
    },

    async withRestoreTransaction<T>(plans: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
      const db = openDatabase(Database, filename, false);
      const queue = createQueue();
      const rollback = () =>
        queue(() => {
          if (db.inTransaction) db.exec('ROLLBACK');
        }).catch(() => undefined);
      try {
        // Must precede BEGIN: PRAGMA foreign_keys is a no-op inside a transaction.
        db.pragma('foreign_keys = ON');
        try {
          db.exec('BEGIN IMMEDIATE');
        } catch (error) {
          throw new OperationError(`The shared database is busy (another writer held it for ${BUSY_TIMEOUT_MS / 1000} s): ${describeCause(error)}`, { cause: error });
        }
        // Checks every foreign key at COMMIT; SQLite clears it when the transaction ends.
        db.pragma('defer_foreign_keys = ON');
        const references = new ReferenceChecks({
          quote: q,
          actionsRun: true, // SQLite runs ON DELETE actions at once, deferred checks or not
          rows: async (sql) =>
            queue(() => (db.prepare(sql).raw().all() as unknown[][]).map((row) => row.map((v) => (v === null ? null : Buffer.isBuffer(v) ? v.toString('hex') : String(v))))),
          exec: async (sql) => {
            await queue(() => db.exec(sql));
          },
          createTempTable: (name, select) => `CREATE TEMP TABLE ${q(name)} AS ${select}`,
        });
        const writer: RestoreWriter = {
          countRows: (plan) =>
            queue(() =>
              Number(
                db
                  .prepare(`SELECT count(*) FROM ${q(plan.table)} AS t WHERE ${plan.where}`)
                  .pluck()
                  .get(),
              ),
            ),
          deleteRows: (plan) =>
            queue(() => {
              try {
                return db.prepare(`DELETE FROM ${q(plan.table)} AS t WHERE ${plan.where}`).run().changes;
              } catch (error) {
                throw asOperationError(`Deleting the organization's rows of table "${plan.table}" failed`, error);
              }
            }),
          importTable: (plan, columns, rows, onRows, limits) =>
            queue(() => importRows(db, plan, columns, rows, onRows, limits?.maxLineBytes)).catch((error: unknown) => {
              rows.destroy();
              throw asOperationError(`Restoring table "${plan.table}" failed`, error);
            }),
          resetCounters: (plan) =>
            queue(() => {
              try {
                resetCounter(db, plan);
              } catch (error) {
                throw asOperationError(`Moving the id counter of table "${plan.table}" failed`, error);
              }
            }),
          // Every row is checked right after its insert (restore.ts), naming it; none is left here.
          findStrangerRow: async () => null,
          noteReferences: (schema, tables, tenantColumn) =>
            references.note(schema, tables, tenantColumn).catch((error: unknown) => {
              throw asOperationError("Checking the references into the organization's rows failed", error);
            }),
          checkReferences: () =>
            references.check().catch((error: unknown) => {
              throw asOperationError("Checking the restored rows' references failed", error);
            }),
        };
        const result = await fn(writer);
        await writer.checkReferences();
        await queue(() => {
          try {
            db.exec('COMMIT');
          } catch (error) {
            const detail = (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ? describeForeignKeyViolations(db, plans) : '';
            throw new OperationError(`The restore could not be committed: ${describeCause(error)}${detail}. Nothing was changed.`, { cause: error });
          }
        });
        return result;
      } catch (error) {
        await rollback();
        throw error;
      } finally {
        db.close();
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await serial(() => main.close()).catch(() => undefined);
    },

    // A local file read by a synchronous driver: no wait here depends on a server, and the work
    // in flight ends at its next chunk (the caller stops its streams). The transaction of a
    // restore is rolled back by the caller's failure path.
    abort() {},
  };
  return session;
}
