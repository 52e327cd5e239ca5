/**
 * The two engine interfaces, one folder per database kind below this one (postgres/, mysql/,
 * sqlite/), each implementation checked with `satisfies`:
 * - `OrganizationEngine` (`<kind>/index.ts`): organization-scoped backups in a shared database.
 * - `DatabaseEngine` (`<kind>/dump.ts`): whole-database dumps for the database-per-tenant model.
 * `registry.ts` maps a configured client to them, importing each lazily.
 *
 * Organization-scoped backups move rows as NDJSON: one JSON array per row, values in the column
 * order of the manifest, each encoded by its column's `encoding` so a restore gives back exactly
 * what was read (see `ValueEncoding`). Rows are never materialised as driver objects on the hot
 * path where the engine can avoid it, and never held whole in memory.
 */
import type { Readable, Writable } from 'node:stream';
import type { DatabaseClient, OrganizationsConfig, TenantConfig } from '../config/schema.js';

export type EngineName = 'postgres' | 'mysql' | 'sqlite';

/**
 * How a value is written in NDJSON. NULL is always `null`.
 * - `number`  — JSON number; only for types whose every value is exact in a double (int2/int4, …).
 * - `string`  — the database's own exact text form (bigint, numeric/decimal, floats, dates, times,
 *               timestamps as ISO strings with offset where the type has one, uuid, enums, PG
 *               arrays, text, …); read back through the type's input function.
 * - `boolean` — JSON true/false.
 * - `base64`  — binary (bytea / BLOB).
 * - `json`    — JSON/JSONB values embedded as JSON (PG `json` keeps its exact text: embedded verbatim).
 */
export type ValueEncoding = 'number' | 'string' | 'boolean' | 'base64' | 'json';

export interface ColumnInfo {
  name: string;
  /** The database's type name as its catalog shows it, e.g. `numeric(20,6)`, `timestamp with time zone`. */
  type: string;
  nullable: boolean;
  encoding: ValueEncoding;
  /** Filled by the database on insert (serial/identity/auto-increment): counters move past restored ids. */
  autoIncrement: boolean;
  /** Generated/computed columns are neither exported nor inserted. */
  generated: boolean;
  /** The column has a default the database fills in (restores of archives older than the column). */
  hasDefault?: boolean;
  /**
   * Restores only: the column's type in the archive, when today's differs (accepted schema drift,
   * see core/restore-drift.ts). Values are then sent in the archive's encoding.
   */
  archivedType?: string;
}

export interface ForeignKeyInfo {
  name: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
  /** PostgreSQL DEFERRABLE constraints can be checked at commit. */
  deferrable: boolean;
  /**
   * What deleting a referenced row does to the referencing rows (`NO ACTION` when unknown):
   * `CASCADE`, `SET NULL`, `SET DEFAULT` and `RESTRICT` act at once, even inside a restore.
   */
  onDelete?: 'NO ACTION' | 'RESTRICT' | 'CASCADE' | 'SET NULL' | 'SET DEFAULT';
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  /** Empty when the table has no primary key (rows are then ordered by all columns). */
  primaryKey: string[];
  foreignKeys: ForeignKeyInfo[];
}

export interface SchemaInfo {
  tables: TableInfo[];
}

/** How the rows of one table that belong to the organization are found. */
export type RowSelection =
  | { kind: 'organization-row'; idColumn: string }
  | { kind: 'tenant-column'; column: string }
  /** Rows referencing, through any of these foreign keys, a selected row of an earlier table. */
  | { kind: 'children'; via: ForeignKeyInfo[] }
  /**
   * Rows matching a condition from the configuration (`organizations.include.<table>`): rows the
   * foreign keys cannot reach (polymorphic `record_type`/`record_id`, JSON links). `condition` is
   * the text as configured (`:org` unbound); the plan's `where` holds it bound.
   */
  | { kind: 'condition'; condition: string };

export interface TablePlan {
  table: string;
  columns: ColumnInfo[];
  primaryKey: string[];
  selection: RowSelection;
  /** SQL condition on alias `t` selecting exactly this organization's rows (built by the planner). */
  where: string;
  /** Foreign keys to other planned tables (parents), for ordering and cycle handling. */
  parents: ForeignKeyInfo[];
}

export interface OrganizationRow {
  id: string;
  name: string | null;
  code: string | null;
  /** `auto_backup_enabled` column when the table has one. */
  autoBackupEnabled: boolean | null;
}

/** SQL dialect facts the planner needs to write conditions. */
export interface SqlDialect {
  quoteIdentifier(name: string): string;
  /**
   * A literal for an organization id (already validated as [A-Za-z0-9_-]) compared with `column`.
   * Integer columns need a bare number on MySQL: a quoted id is compared as a double there, which
   * would match neighbouring ids beyond 2^53.
   */
  literal(value: string, column?: ColumnInfo): string;
}

export interface ExportResult {
  rows: number;
}

/** Reads inside one consistent snapshot (REPEATABLE READ / CONSISTENT SNAPSHOT / read transaction). */
export interface SnapshotReader {
  /**
   * The organization whose id equals `id`, compared with the id column's own type (a uuid given
   * in upper case is found); null when there is none. An `id` that is not a valid value of that
   * type is a UsageError (exit 2), never "not found".
   */
  findOrganization(config: OrganizationsConfig, id: string): Promise<OrganizationRow | null>;
  /**
   * Writes this table's selected rows to `out` as NDJSON lines (see ValueEncoding), then ends `out`.
   * Rejects (and destroys `out`) on any error. Respects back-pressure.
   */
  exportTable(plan: TablePlan, out: Writable, onRows?: (rows: number) => void): Promise<ExportResult>;
  /**
   * Rows of `plan.table` matching `plan.where` (alias `t`) in this snapshot. A condition the
   * database cannot run (unknown column or table, bad syntax) rejects with the database's message.
   */
  countRows(plan: Pick<TablePlan, 'table' | 'where'>): Promise<number>;
  /**
   * Each table's size on disk as the database estimates it (bytes; whole tables, not the
   * organization's share): which exports to start first when several run at once. Optional.
   */
  tableSizes?(): Promise<Map<string, number>>;
}

/** Bounds on what one archive entry may hold (an archive is untrusted input). */
export interface ImportLimits {
  /** Longest NDJSON line (one row) accepted, in bytes; default MAX_NDJSON_LINE_BYTES (ndjson-lines.ts). */
  maxLineBytes?: number;
}

/** Writes inside the one restore transaction. */
export interface RestoreWriter {
  countRows(plan: TablePlan): Promise<number>;
  deleteRows(plan: TablePlan): Promise<number>;
  /**
   * Inserts NDJSON rows (columns in `columns` order, as written by exportTable of the same engine).
   * An error in the stream (checksum mismatch detected at its end) must reject.
   */
  importTable(plan: TablePlan, columns: ColumnInfo[], rows: Readable, onRows?: (rows: number) => void, limits?: ImportLimits): Promise<number>;
  /** Moves serial/identity/auto-increment counters past the ids now in the table. */
  resetCounters(plan: TablePlan): Promise<void>;
  /**
   * A row this transaction inserted into the table that does not satisfy `plan.where` (a row of
   * another organization, a global row, a child of another organization's parent), described as
   * `column = value, …` (primary key first), or null when there is none or the engine cannot
   * single it out. Only asked when the counts already show such a row exists.
   */
  findStrangerRow(plan: TablePlan): Promise<string | null>;
  /**
   * Before the deletes: finds the rows that are NOT restored (other organizations' rows of planned
   * tables, rows of tables outside the plan) and reference a row the restore deletes. Refuses at
   * once where deleting would act on them (ON DELETE CASCADE, SET NULL, RESTRICT on engines that
   * run those during the restore); remembers the others for `checkReferences`.
   */
  noteReferences(schema: SchemaInfo, plans: TablePlan[], tenantColumn: string): Promise<void>;
  /**
   * Before COMMIT (the engine also runs it by itself; it runs once): every restored row's foreign
   * keys point at existing rows, and no noted row is left pointing at nothing. Refuses with an
   * OperationError naming the table, the foreign key and the row (see engines/restore-checks.ts).
   */
  checkReferences(): Promise<void>;
}

export interface OrganizationSession {
  readonly dialect: SqlDialect;
  serverVersion(): Promise<string>;
  /** Tables of the configured schema with columns, primary and foreign keys. */
  introspect(): Promise<SchemaInfo>;
  /**
   * Rows of the organizations table whose id equals `reference` (compared with the id column's
   * type) or whose code equals it as exact text (at most 10, in id order, ids as the database
   * writes them): how `--org <id|code>` is resolved, and an organization's existence checked.
   * A `reference` that is not a valid id for that type and is no organization's code is a
   * UsageError (exit 2), not an empty result.
   */
  findOrganizations(config: OrganizationsConfig, reference: string): Promise<OrganizationRow[]>;
  /** Every organization id in the organizations table, as exact text, in id order (`auto --all`). */
  listOrganizationIds(config: OrganizationsConfig): Promise<string[]>;
  /**
   * Runs `fn` inside one consistent read-only snapshot. With `options.readers` > 1, `more` holds
   * up to that many − 1 further readers of the very same snapshot, each on its own connection, so
   * tables can be exported at the same time (`backup --org --jobs`). An engine that cannot share
   * a snapshot between connections — or a server that refuses it — gives fewer (none at all), never
   * readers of another snapshot.
   */
  withSnapshot<T>(fn: (reader: SnapshotReader, more: readonly SnapshotReader[]) => Promise<T>, options?: SnapshotOptions): Promise<T>;
  /**
   * Runs `fn` inside one transaction; commits when it resolves, rolls back when it rejects.
   * `plan` lets the engine prepare (e.g. defer or scope-disable FK checks for cycles, never
   * beyond this transaction/session).
   */
  withRestoreTransaction<T>(plan: TablePlan[], fn: (writer: RestoreWriter) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Ends every connection of this session at once (Ctrl-C, SIGTERM): whatever is waiting on the
   * database — a query, a COPY, a transaction — rejects promptly instead of waiting for the server.
   * An open transaction is rolled back by the server when its connection goes.
   */
  abort(reason: Error): void;
}

export interface SnapshotOptions {
  /** Readers wanted in the snapshot, the first included (default 1). */
  readers?: number;
  /** Told once when fewer readers than wanted could share the snapshot (why, secrets redacted). */
  onWarning?: (message: string) => void;
}

export interface ConnectOptions {
  /**
   * The stall guard: a connection with a query in flight that receives nothing for this long is
   * closed with an error (every pending operation rejects). Undefined or 0: no guard.
   */
  stallTimeoutMs?: number;
}

export interface OrganizationEngine {
  readonly name: EngineName;
  /**
   * True when a session's `withSnapshot` may run several times at once, each snapshot on a connection of its
   * own: one session then serves every concurrent backup of a run (`auto --all`). Otherwise a run
   * gives each concurrent backup a session of its own.
   */
  readonly concurrentSnapshots?: boolean;
  /** Connects to the shared database; drivers are imported here, lazily. */
  connect(config: OrganizationsConfig, options?: ConnectOptions): Promise<OrganizationSession>;
}

// ---------------------------------------------------------------------------------------------
// Whole-database engines (database per tenant: `backup acme`, `restore acme …`).
//
// Contracts every one keeps:
// - Secrets never reach an argv: passwords go to a child through its own env (PGPASSWORD) or a
//   0600 option file in a private temp dir that is removed afterwards (MySQL); see tools.ts.
// - Dumps are streamed: the tool's stdout is piped into `out` with back-pressure and never held
//   whole. `out` is ended only after the tool exited 0; on any failure it is destroyed with the
//   error, so an archive entry can never look complete when the dump was not.
// - Restores read their input as a stream. When that input fails (e.g. the archive entry's
//   checksum does not match at its end), the loading tool is KILLED before its stdin is closed,
//   so it never sees a clean end of input (and never commits a partial load).
// - Errors are typed (ToolMissingError, ConnectionError, OperationError) and carry the tool's
//   stderr tail, redacted of every secret of the connection.

/** One tenant's database, as configured under `tenants.<name>` (knex form). */
export interface DatabaseTarget {
  tenant: string;
  client: DatabaseClient;
  connection: TenantConfig['connection'];
}

export interface EngineOptions {
  signal?: AbortSignal;
  /**
   * The PATH searched for dump tools and given to them (default: `process.env.PATH`). Lets tests
   * (and locked-down hosts) choose exactly which binaries run, without touching `process.env`.
   */
  searchPath?: string;
}

export interface RestoreOptions extends EngineOptions {
  /**
   * Remove every object of the database before loading, so the result is exactly the dump (MySQL:
   * set by the caller only once a safety backup exists, since the load is not atomic). PostgreSQL
   * always empties inside its load transaction and SQLite replaces every page: both ignore it.
   */
  emptyFirst?: boolean;
}

export interface PreflightInfo {
  /** The server's own version string (e.g. `15.18`, `10.11.19-MariaDB`, SQLite `3.46.1`). */
  serverVersion: string;
  /** The dump tool as it names itself (first line of `--version`), recorded in the manifest. */
  toolVersion: string;
}

/** What the tools are needed for: a restore also needs the loading client (psql / mysql). */
export type PreflightPurpose = 'backup' | 'restore';

export interface DatabaseEngine {
  readonly name: EngineName;
  /** The archive entry holding the dump: `dump.sql` (SQL text) or `database.sqlite` (a file). */
  readonly entryPath: string;
  /** True when a failed restore leaves the database exactly as it was, by itself. */
  readonly atomicRestore: boolean;
  /** How a restore loads the data, for dry-runs and messages. */
  readonly restoreMethod: string;
  /**
   * Checks, without changing anything: the tools exist (ToolMissingError naming the Debian
   * package), their version can handle the server, the server is reachable and accepts the
   * credentials (ConnectionError, never quoting the password).
   */
  preflight(target: DatabaseTarget, purpose: PreflightPurpose, options?: EngineOptions): Promise<PreflightInfo>;
  /** Streams the whole database into `out` and ends it; destroys it on failure. */
  dumpDatabase(target: DatabaseTarget, out: Writable, options?: EngineOptions): Promise<{ bytes: number }>;
  /** Loads a dump made by `dumpDatabase` of the same engine, replacing the database's contents. */
  restoreDatabase(target: DatabaseTarget, source: Readable, options?: RestoreOptions): Promise<void>;
}
