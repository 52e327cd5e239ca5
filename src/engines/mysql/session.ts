/**
 * A MySQL/MariaDB session: one dedicated connection for the catalog and the snapshot, and one more
 * per restore transaction (closed after it). Snapshot: `START TRANSACTION WITH CONSISTENT
 * SNAPSHOT, READ ONLY` at REPEATABLE READ — it covers transactional (InnoDB) tables only.
 */
import type { Connection } from 'mysql2';
import type { OrganizationsConfig } from '../../config/schema.js';
import { OperationError } from '../../errors.js';
import type { OrganizationRow, OrganizationSession, RestoreWriter, SchemaInfo, SnapshotReader, TablePlan } from '../types.js';
import { introspectSchema } from './catalog.js';
import { mysqlDialect, q } from './dialect.js';
import { findOrganizationRows } from './organizations.js';
import { destroyConnection, fail, openConnection, run, runRaw, type ConnectTarget, type MysqlModule } from './driver.js';
import { exportRows } from './export.js';
import { ReferenceChecks } from '../restore-checks.js';
import { BATCH_CHARS, importRows } from './restore.js';

export class MysqlSession implements OrganizationSession {
  readonly dialect = mysqlDialect;
  private version: string | undefined;
  private broken = false;
  /** Restore transactions' own connections, while open (see abort). */
  private readonly restoring = new Set<Connection>();

  constructor(
    private readonly mysql: MysqlModule,
    private readonly connection: Connection,
    private readonly target: ConnectTarget,
  ) {}

  async listOrganizationIds(config: OrganizationsConfig): Promise<string[]> {
    const rows = await runRaw(this.connection, `SELECT t.${q(config.idColumn)} FROM ${q(config.table)} t ORDER BY t.${q(config.idColumn)}`).catch((error: unknown) => {
      throw fail(`listing the organizations of "${config.table}"`, error);
    });
    return rows.map((row) => row[0]?.toString('utf8') ?? '').filter((id) => id !== '');
  }

  async serverVersion(): Promise<string> {
    if (this.version === undefined) {
      const rows = await runRaw(this.connection, 'SELECT VERSION()').catch((error: unknown) => {
        throw fail('reading the server version', error);
      });
      this.version = rows[0]?.[0]?.toString('utf8') ?? '';
    }
    return this.version;
  }

  async introspect(): Promise<SchemaInfo> {
    const mariadb = /mariadb/i.test(await this.serverVersion());
    return introspectSchema(this.connection, mariadb).catch((error: unknown) => {
      throw fail('reading the schema', error);
    });
  }

  async withSnapshot<T>(fn: (reader: SnapshotReader, more: readonly SnapshotReader[]) => Promise<T>): Promise<T> {
    const connection = this.connection;
    try {
      await run(connection, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await run(connection, 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    } catch (error) {
      throw fail('starting the snapshot transaction', error);
    }
    const reader: SnapshotReader = {
      findOrganization: (config, id) => this.findOrganization(config, id),
      countRows: async (plan) => {
        try {
          const rows = await runRaw(connection, `SELECT COUNT(*) FROM ${q(plan.table)} t WHERE ${plan.where}`);
          return Number(rows[0]?.[0]?.toString('latin1') ?? 0);
        } catch (error) {
          throw fail(`counting the rows of table "${plan.table}"`, error);
        }
      },
      exportTable: (plan, out, onRows) => {
        if (this.broken) {
          const error = new OperationError('MySQL/MariaDB: the snapshot connection was dropped by an earlier failed export.');
          out.destroy(error);
          return Promise.reject(error);
        }
        return exportRows(connection, plan, out, onRows, () => {
          this.broken = true;
        });
      },
    };
    let result: T;
    try {
      result = await fn(reader, []);
    } catch (error) {
      if (!this.broken) await run(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
    try {
      await run(connection, 'COMMIT');
    } catch (error) {
      throw fail('ending the snapshot transaction', error);
    }
    return result;
  }

  private async findOrganization(config: OrganizationsConfig, id: string): Promise<OrganizationRow | null> {
    return (await findOrganizationRows(this.connection, config, id, false))[0] ?? null;
  }

  /** Rows whose id (compared by its column's type) or code equals `reference` (`--org <id|code>`); at most 10. */
  findOrganizations(config: OrganizationsConfig, reference: string): Promise<OrganizationRow[]> {
    return findOrganizationRows(this.connection, config, reference, true);
  }

  /**
   * The restore runs on its own connection, closed afterwards, so the session settings below can
   * never leak into anything else:
   * - FOREIGN_KEY_CHECKS = 0: InnoDB checks foreign keys row by row at each statement (there is no
   *   deferral), so self-referencing rows inserted in key order, foreign-key cycles between tables,
   *   and rows of tables outside the plan that reference the organization's rows (an ON DELETE
   *   CASCADE would silently delete them, RESTRICT would refuse) all need it off while rows are
   *   replaced. Cascades therefore do not fire: children are deleted explicitly, children first.
   *   Before COMMIT every foreign key of every restored row is checked (`checkReferences`, restore-checks.ts),
   *   so a restore can never commit dangling references of its own rows. SET FOREIGN_KEY_CHECKS
   *   does not commit; DDL would (and so would ALTER TABLE … AUTO_INCREMENT), so none is issued.
   * - UNIQUE_CHECKS stays on.
   */
  async withRestoreTransaction<T>(plan: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
    const connection = await openConnection(this.mysql, this.target);
    this.restoring.add(connection);
    try {
      let batchChars = BATCH_CHARS;
      let maxPacket: number | undefined;
      let schema: SchemaInfo;
      try {
        const packet = ((await run(connection, 'SELECT @@max_allowed_packet AS size')) as Array<{ size: string | number }>)[0]?.size;
        // JS string length × 3 bounds the UTF-8 bytes of the statement.
        if (packet !== undefined) {
          maxPacket = Number(packet);
          batchChars = Math.max(64 * 1024, Math.min(BATCH_CHARS, Math.floor(maxPacket / 3) - 64 * 1024));
        }
        schema = await introspectSchema(connection, /mariadb/i.test(await this.serverVersion()));
        await run(connection, 'SET FOREIGN_KEY_CHECKS = 0');
        await run(connection, 'START TRANSACTION');
      } catch (error) {
        throw fail('starting the restore transaction', error);
      }
      const references = new ReferenceChecks({
        quote: q,
        actionsRun: false, // FOREIGN_KEY_CHECKS = 0: no ON DELETE action runs
        rows: async (sql) => (await runRaw(connection, sql)).map((row) => row.map((v) => (v == null ? null : v.toString('utf8')))),
        exec: async (sql) => {
          await run(connection, sql);
        },
        createTempTable: (name, select) => `CREATE TEMPORARY TABLE ${q(name)} AS ${select}`,
      });
      const writer: RestoreWriter = {
        countRows: async (table) => {
          try {
            const rows = await runRaw(connection, `SELECT COUNT(*) FROM ${q(table.table)} t WHERE ${table.where}`);
            return Number(rows[0]?.[0]?.toString('latin1') ?? 0);
          } catch (error) {
            throw fail(`counting rows of table "${table.table}"`, error);
          }
        },
        deleteRows: async (table) => {
          try {
            const result = (await run(connection, `DELETE t FROM ${q(table.table)} t WHERE ${table.where}`)) as { affectedRows: number };
            return result.affectedRows;
          } catch (error) {
            throw fail(`deleting rows of table "${table.table}"`, error);
          }
        },
        importTable: (table, columns, rows, onRows, limits) => importRows(this.mysql, connection, batchChars, table, columns, rows, onRows, limits?.maxLineBytes, maxPacket),
        // InnoDB moves AUTO_INCREMENT past every explicitly inserted id by itself (and MariaDB
        // 10.2+/MySQL 8 persist it), and ALTER TABLE … AUTO_INCREMENT would commit the restore
        // half-way. Nothing to do.
        resetCounters: async () => undefined,
        // Every batch is checked as it is inserted (restore.ts), naming the row; none is left here.
        findStrangerRow: async () => null,
        noteReferences: (schemaInfo, plans, tenantColumn) =>
          references.note(schemaInfo, plans, tenantColumn).catch((error: unknown) => {
            throw fail("checking the references into the organization's rows", error);
          }),
        checkReferences: () =>
          references.check(schema, plan).catch((error: unknown) => {
            throw fail("checking the restored rows' references", error);
          }),
      };
      let result: T;
      try {
        result = await fn(writer);
        await writer.checkReferences();
      } catch (error) {
        await run(connection, 'ROLLBACK').catch(() => undefined);
        throw error;
      }
      try {
        await run(connection, 'COMMIT');
      } catch (error) {
        throw fail('committing the restore', error);
      }
      return result;
    } finally {
      // Never handed back anywhere, but restore the setting anyway before the connection ends.
      await run(connection, 'SET FOREIGN_KEY_CHECKS = 1').catch(() => undefined);
      this.restoring.delete(connection);
      await new Promise<void>((resolve) => connection.end(() => resolve()));
      connection.destroy();
    }
  }

  abort(reason: Error): void {
    this.broken = true;
    for (const connection of [this.connection, ...this.restoring]) destroyConnection(connection, reason);
  }

  async close(): Promise<void> {
    if (this.broken) {
      this.connection.destroy();
      return;
    }
    await new Promise<void>((resolve) => this.connection.end(() => resolve()));
    this.connection.destroy();
  }
}
