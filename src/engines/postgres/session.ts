/**
 * A PostgreSQL session: one `pg.Client` for catalog reads, plus a dedicated connection per snapshot
 * and per restore transaction. A restore's connection is closed after it, so no setting outlives
 * it. A snapshot's connections are kept for the session's next snapshot once their read-only
 * transactions have ended cleanly (COMMIT or ROLLBACK: a snapshot sets nothing), so a session that
 * serves many backups (`auto --all`) opens one connection per concurrent reader, not one per
 * backup; a connection that broke or ended meanwhile is never reused.
 *
 * Every connection sets UTC, ISO DateStyle, the `postgres` IntervalStyle, shortest-exact floats,
 * hex bytea, search_path = the configured schema, no statement/lock/idle timeouts, row_security =
 * off (like pg_dump: a role subject to row-level security gets an error instead of a silently
 * partial backup) and jit = off (compiling the export queries and the restore's DELETEs cost more
 * than running them).
 *
 * Snapshot: one `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` on a dedicated connection.
 * Restore: one transaction on a dedicated connection, `SET CONSTRAINTS ALL DEFERRED` (DEFERRABLE
 * foreign keys are checked at commit); if the plan has a cycle between tables through a
 * non-deferrable foreign key, `SET LOCAL session_replication_role = replica` (superuser only; it
 * also skips triggers and ON DELETE actions for that transaction) — otherwise an OperationError
 * explains the options. Both settings end with the transaction; the connection is closed after.
 */
import type pg from 'pg';
import type { OrganizationsConfig } from '../../config/schema.js';
import { ConnectionError, OperationError, TenantBackupError } from '../../errors.js';
import { forwardForeignKeys } from '../plan-order.js';
import type { ConnectOptions, OrganizationRow, OrganizationSession, RestoreWriter, SchemaInfo, SnapshotOptions, SnapshotReader, TablePlan } from '../types.js';
import { liveColumns, readSchema } from './catalog.js';
import { findOrganizationRows } from './organizations.js';
import { describeTarget, destroySocket, driverMessage, guardAgainstStalls, postgresClientConfig, type Driver, type SessionContext, type Target } from './client.js';
import { postgresDialect, q } from './dialect.js';
import { PostgresSnapshotReader } from './export.js';
import { needsReplicationRole, PostgresRestoreWriter } from './restore.js';

export class PostgresSession implements OrganizationSession, SessionContext {
  readonly dialect = postgresDialect;
  readonly schema: string;
  private readonly target: Target;
  private readonly clientConfig: pg.ClientConfig;
  private main: pg.Client | undefined;
  private readonly open = new Set<pg.Client>();
  /** Snapshot connections whose transaction ended cleanly, ready for the next snapshot. */
  private readonly spare: pg.Client[] = [];

  constructor(
    private readonly driver: Driver,
    config: OrganizationsConfig,
    private readonly options: ConnectOptions = {},
  ) {
    this.schema = config.schema ?? 'public';
    this.target = describeTarget(config.connection);
    this.clientConfig = postgresClientConfig(config.connection);
  }

  private get setup(): string {
    return [
      `SET TimeZone = 'UTC'`,
      `SET DateStyle = 'ISO, YMD'`,
      `SET IntervalStyle = 'postgres'`,
      `SET extra_float_digits = 3`,
      `SET bytea_output = 'hex'`,
      `SET client_encoding = 'UTF8'`,
      `SET standard_conforming_strings = on`,
      `SET statement_timeout = 0`,
      `SET lock_timeout = 0`,
      `SET idle_in_transaction_session_timeout = 0`,
      `SET row_security = off`,
      // JIT compiles each export query (and the restore's DELETEs) at a cost of 0.3–2.5 s here,
      // more than running them. (Guarded: a server without the setting simply skips it.)
      `SELECT set_config('jit', 'off', false) FROM pg_settings WHERE name = 'jit'`,
      // pg_temp last: no temporary table can shadow an application table.
      `SET search_path = ${q(this.schema)}, pg_temp`,
    ].join('; ');
  }

  async connect(): Promise<void> {
    this.main = await this.openClient();
  }

  /** A new connection with the session settings; closed by `closeClient`. */
  private async openClient(): Promise<pg.Client> {
    const client = new this.driver.pg.Client(this.clientConfig);
    // A connection lost while idle is reported by the next query; never crash the process.
    client.on('error', () => undefined);
    // A spare connection the server ended (restart, idle timeout) is not handed out again.
    client.once('end', () => {
      const at = this.spare.indexOf(client);
      if (at !== -1) this.spare.splice(at, 1);
    });
    try {
      await client.connect();
    } catch (error) {
      void client.end().catch(() => undefined);
      const { host, port, database, user } = this.target;
      throw new ConnectionError(`Cannot connect to PostgreSQL at ${host}:${port}, database "${database}", user "${user}": ${driverMessage(error, this.target.secrets)}`, error);
    }
    this.open.add(client);
    guardAgainstStalls(client, this.options.stallTimeoutMs);
    try {
      await client.query(this.setup);
    } catch (error) {
      await this.closeClient(client, true);
      throw this.operationError('Preparing the PostgreSQL session failed', error);
    }
    return client;
  }

  /** Ends a connection; `broken` (e.g. a COPY abandoned mid-stream) closes the socket at once. */
  private async closeClient(client: pg.Client, broken = false): Promise<void> {
    const at = this.spare.indexOf(client);
    if (at !== -1) this.spare.splice(at, 1);
    if (!this.open.delete(client)) return;
    if (broken) {
      destroySocket(client);
      return;
    }
    await client.end().catch(() => undefined);
  }

  private async run(client: pg.Client, sql: string, what: string): Promise<void> {
    try {
      await client.query(sql);
    } catch (error) {
      throw this.operationError(`${what} failed`, error);
    }
  }

  operationError(what: string, error: unknown): TenantBackupError {
    if (error instanceof TenantBackupError) return error;
    return new OperationError(`${what}: ${driverMessage(error, this.target.secrets)}`, { cause: error });
  }

  private mainClient(): pg.Client {
    if (!this.main) throw new OperationError('The PostgreSQL session is closed.');
    return this.main;
  }

  /** Rows whose id (typed by its column) or code equals `reference` (`--org <id|code>`); at most 10. */
  async findOrganizations(config: OrganizationsConfig, reference: string): Promise<OrganizationRow[]> {
    const client = this.mainClient();
    const columns = await liveColumns(client, this.schema, config.table).catch((error: unknown) => {
      throw this.operationError(`Looking up organization "${reference}" in table "${config.table}" failed`, error);
    });
    return findOrganizationRows(client, this, config, columns, reference, true);
  }

  async listOrganizationIds(config: OrganizationsConfig): Promise<string[]> {
    const q = postgresDialect.quoteIdentifier;
    try {
      const result = await this.mainClient().query<{ id: string }>(`SELECT t.${q(config.idColumn)}::text AS id FROM ${q(config.table)} t ORDER BY t.${q(config.idColumn)}`);
      return result.rows.map((row) => row.id);
    } catch (error) {
      throw this.operationError(`Listing the organizations of "${config.table}" failed`, error);
    }
  }

  async serverVersion(): Promise<string> {
    try {
      const result = await this.mainClient().query<{ server_version: string }>('SHOW server_version');
      return result.rows[0]!.server_version;
    } catch (error) {
      throw this.operationError('Reading the server version failed', error);
    }
  }

  async introspect(): Promise<SchemaInfo> {
    try {
      return await readSchema(this.mainClient(), this.schema);
    } catch (error) {
      throw this.operationError(`Reading the tables of schema "${this.schema}" failed`, error);
    }
  }

  /**
   * One `REPEATABLE READ READ ONLY` transaction; with `readers` > 1, further connections join its
   * snapshot (`pg_export_snapshot()` here, `SET TRANSACTION SNAPSHOT` there) and their readers
   * share its catalog. They are opened while the first connection starts. One that cannot be
   * opened or cannot join is not used: `options.onWarning` hears of it once, with the first reason.
   */
  async withSnapshot<T>(fn: (reader: SnapshotReader, more: readonly SnapshotReader[]) => Promise<T>, options: SnapshotOptions = {}): Promise<T> {
    const wanted = Math.max(1, Math.floor(options.readers ?? 1));
    const opening = Array.from({ length: wanted - 1 }, () => this.reuseOrOpen());
    for (const pending of opening) pending.catch(() => undefined); // reported once joined (below)
    const joined: Array<{ client: pg.Client; state: { broken: boolean } }> = [];
    const state = { broken: false };
    let client: pg.Client | undefined;
    let ended = false;
    let committed = false;
    try {
      client = await this.reuseOrOpen();
      await this.run(client, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'Starting the snapshot');
      const reader = new PostgresSnapshotReader(this, client, state);
      const reasons: string[] = [];
      joined.push(...(await this.joinSnapshot(client, opening, reasons)));
      if (joined.length < wanted - 1) {
        options.onWarning?.(
          `only ${joined.length + 1} of ${wanted} connections read the snapshot (${wanted - 1 - joined.length} could not be opened or join it: ${reasons[0] ?? 'unknown reason'}); the backup goes on with fewer tables at a time.`,
        );
      }
      const result = await fn(
        reader,
        joined.map((other) => new PostgresSnapshotReader(this, other.client, other.state, reader.catalog)),
      );
      for (const other of joined) await this.run(other.client, 'COMMIT', 'Ending the snapshot');
      await this.run(client, 'COMMIT', 'Ending the snapshot');
      ended = committed = true;
      return result;
    } catch (error) {
      // A failure that left the first connection usable (an organization not found, a refused
      // condition): its read-only transaction is rolled back and the connection kept.
      if (client && !state.broken)
        ended = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        );
      throw error;
    } finally {
      const opened = await Promise.allSettled(opening);
      for (const other of opened) if (other.status === 'fulfilled' && !joined.some((j) => j.client === other.value)) await this.closeClient(other.value);
      // The joined readers are kept only after a clean COMMIT of all; on failure they end with their connections.
      for (const other of joined) await this.keepOrClose(other.client, committed && !other.state.broken);
      if (client) await this.keepOrClose(client, ended && !state.broken);
    }
  }

  /** A spare snapshot connection (still open, session not closed), else a new one. */
  private async reuseOrOpen(): Promise<pg.Client> {
    return this.spare.pop() ?? (await this.openClient());
  }

  private async keepOrClose(client: pg.Client, clean: boolean): Promise<void> {
    if (clean && this.open.has(client) && this.main !== undefined) this.spare.push(client);
    else await this.closeClient(client, !clean);
  }

  /**
   * The connections of `opening` that joined the snapshot of `client`'s transaction (nothing has
   * been read in it yet). A server that cannot share it leaves the snapshot to `client` alone.
   */
  private async joinSnapshot(client: pg.Client, opening: Array<Promise<pg.Client>>, reasons: string[]): Promise<Array<{ client: pg.Client; state: { broken: boolean } }>> {
    const settled = await Promise.allSettled(opening);
    const opened = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    for (const result of settled) if (result.status === 'rejected') reasons.push(this.operationError('Opening a connection failed', result.reason).message);
    if (opened.length === 0) return [];
    let id: string;
    try {
      id = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    } catch (error) {
      reasons.push(this.operationError('pg_export_snapshot() failed', error).message);
      // The failed call ended the transaction: start it again (nothing was read in it yet).
      await this.run(client, 'ROLLBACK', 'Restarting the snapshot');
      await this.run(client, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', 'Starting the snapshot');
      return [];
    }
    // A snapshot id is hex digits and dashes (`00000003-0000001B-1`); anything else is not used.
    if (!/^[0-9A-Fa-f-]+$/.test(id)) {
      reasons.push(`pg_export_snapshot() returned an unexpected id`);
      return [];
    }
    const joined = await Promise.all(
      opened.map(async (other) => {
        try {
          await other.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '${id}'`);
          return [{ client: other, state: { broken: false } }];
        } catch (error) {
          reasons.push(this.operationError('Joining the snapshot failed', error).message);
          return [];
        }
      }),
    );
    return joined.flat();
  }

  async withRestoreTransaction<T>(plan: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T> {
    const client = await this.openClient();
    let healthy = true;
    try {
      await this.run(client, 'BEGIN', 'Starting the restore transaction');
      try {
        await this.run(client, 'SET CONSTRAINTS ALL DEFERRED', 'Deferring foreign-key checks');
        const replica = needsReplicationRole(plan);
        if (replica) await this.disableForeignKeyTriggers(client, plan);
        const writer = new PostgresRestoreWriter(this, client, !replica, plan);
        const result = await fn(writer);
        await writer.checkReferences();
        try {
          // DEFERRABLE foreign keys are checked here; a failed COMMIT rolls back.
          await client.query('COMMIT');
        } catch (error) {
          throw this.operationError('Committing the restore failed (it was rolled back)', error);
        }
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          healthy = false; // the server rolls back when the connection goes
        }
        throw error;
      }
    } finally {
      await this.closeClient(client, !healthy);
    }
  }

  private async disableForeignKeyTriggers(client: pg.Client, plan: TablePlan[]): Promise<void> {
    try {
      await client.query('SET LOCAL session_replication_role = replica');
    } catch (error) {
      const cycle = forwardForeignKeys(plan).filter((fk) => !fk.deferrable);
      const names = cycle.map((fk) => `"${fk.name}"`).join(', ');
      throw new OperationError(
        `The tables to restore reference each other in a cycle through foreign keys that are not DEFERRABLE (${names}). ` +
          `Restoring them needs either those constraints made DEFERRABLE (ALTER TABLE … ALTER CONSTRAINT … DEFERRABLE), ` +
          `or a restore as a superuser (which may set session_replication_role = replica for the transaction): ` +
          driverMessage(error, this.target.secrets),
        { cause: error, details: { constraints: cycle.map((fk) => fk.name) } },
      );
    }
  }

  async close(): Promise<void> {
    this.main = undefined;
    this.spare.length = 0;
    await Promise.all([...this.open].map((client) => this.closeClient(client)));
  }

  abort(reason: Error): void {
    this.main = undefined;
    this.spare.length = 0;
    for (const client of this.open) destroySocket(client, reason);
    this.open.clear();
  }

  async copyFrom(sql: string) {
    return (await this.driver.copy()).from(sql);
  }
}
