/**
 * The SQL of the database ledger, per engine: the two tables, how their values are written and
 * read back as the record's exact text forms, and how each engine reports a missing table, a
 * refused privilege and a broken unique key.
 *
 * `auto_backup_logs` has exactly the record's columns (`id` … `updated_at`) plus what the JSON
 * ledger keeps beside them: `backup_type`, `host` (where the archive was written), `run_pid` and
 * `run_lock` (who runs an `in_progress` record, and the lock that proves it alive), and
 * `daily_slot` — `<organization>/<date>` on an `auto_daily` record that is `in_progress` or
 * `success`, NULL otherwise — under a unique key: the second automatic backup of a day cannot be
 * recorded even if an operation lock was lost. `auto_backup_settings` holds the enable switch.
 */
export type DialectName = 'pg' | 'mysql' | 'sqlite';

export interface LedgerTables {
  logs: string;
  settings: string;
}

export interface Dialect {
  readonly name: DialectName;
  quote(identifier: string): string;
  /** `?` placeholders in the driver's form. */
  sql(text: string): string;
  createStatements(tables: LedgerTables): string[];
  /** The columns of a record (and its extras) as text in the record's forms, from table alias `alias`. */
  selectList(alias: string): string;
  /** A settings row's `updated_at` as the record's text form. */
  timestampText(column: string): string;
  /** An ISO instant (`2026-11-23T08:00:00.000Z`) as the engine takes it. */
  timestamp(iso: string): string;
  /** `RETURNING id` where the engine has it. */
  returningId: string;
  upsertSettings(tables: LedgerTables): string;
  /** Rows `{ name }`: the columns of the table named by the one parameter (none: no such table). */
  columnsSql: string;
  /** Rows `{ index_name, column_name }` of the table's unique indexes and keys, in key order (column NULL: an expression). */
  uniqueIndexesSql: string;
  isMissingTable(error: unknown): boolean;
  isPermissionDenied(error: unknown): boolean;
  isUniqueViolation(error: unknown): boolean;
}

/** The driver's error under the session's OperationError (session.ts keeps it as `cause`). */
const driverError = (error: unknown) => ((error as { cause?: unknown })?.cause ?? error) as { code?: unknown; errno?: unknown; message?: unknown };
const codeOf = (error: unknown) => driverError(error).code;
const errnoOf = (error: unknown) => driverError(error).errno;
const messageOf = (error: unknown) => String(driverError(error).message ?? '');

/** What the records table's index names add to its name (`<table>_organization` …). */
const INDEX_SUFFIXES = ['_daily_slot', '_organization', '_tenant', '_created', '_filename', '_status'];
/** Identifiers: PostgreSQL keeps 63 bytes (and cuts longer ones silently), MariaDB refuses beyond 64. */
const MAX_IDENTIFIER = 63;
/** The longest records table name whose index names all fit. */
export const MAX_LOGS_TABLE = MAX_IDENTIFIER - Math.max(...INDEX_SUFFIXES.map((suffix) => suffix.length));

/**
 * An identifier the ledger's tables may be called (no quoting games: letters, digits, _), at most
 * `maxLength` characters — for the records table, short enough that every index name derived
 * from it fits: a name PostgreSQL cut short could meet another index's, which CREATE INDEX IF NOT
 * EXISTS would then skip without a word.
 */
export function assertTableName(name: string, key: string, maxLength = MAX_IDENTIFIER): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name.length > maxLength) {
    throw new Error(
      `${key} "${name}" is not a plain table name (letters, digits and _, at most ${maxLength}${maxLength < MAX_IDENTIFIER ? ': its index names add up to 13 more' : ''}).`,
    );
  }
}

function columns(types: { id: string; text: (length: number) => string; longText: string; bigint: string; date: string; timestamp: string; integer: string }): string[] {
  const t = types;
  return [
    `id ${t.id}`,
    `kind ${t.text(16)} NOT NULL`,
    `organization_id ${t.text(191)} NULL`,
    `tenant ${t.text(191)} NULL`,
    `user_id ${t.text(191)} NULL`,
    `day_of_week ${t.text(9)} NOT NULL`,
    `backup_filename ${t.text(255)} NOT NULL`,
    `backup_path ${t.longText} NOT NULL`,
    `backup_size ${t.bigint} NOT NULL DEFAULT 0`,
    `sha256 ${t.text(64)} NULL`,
    `status ${t.text(16)} NOT NULL`,
    `error_message ${t.longText} NULL`,
    `backup_date ${t.date} NOT NULL`,
    `created_at ${t.timestamp} NOT NULL`,
    `updated_at ${t.timestamp} NOT NULL`,
    `backup_type ${t.text(16)} NULL`,
    `host ${t.text(191)} NULL`,
    `run_pid ${t.integer} NULL`,
    `run_lock ${t.text(191)} NULL`,
    `daily_slot ${t.text(255)} NULL`,
  ];
}

/** The records table's column names, in order. */
export const LOG_COLUMNS = columns({ id: '', text: () => '', longText: '', bigint: '', date: '', timestamp: '', integer: '' }).map((definition) => definition.split(' ')[0]!);
/** The settings table's column names. */
export const SETTINGS_COLUMNS = ['organization_id', 'auto_backup_enabled', 'updated_at'];

function indexes(tables: LedgerTables, quote: (name: string) => string, create: string): string[] {
  const { logs } = tables;
  return [
    `CREATE UNIQUE INDEX ${create}${quote(`${logs}_daily_slot`)} ON ${quote(logs)} (daily_slot)`,
    `CREATE INDEX ${create}${quote(`${logs}_organization`)} ON ${quote(logs)} (organization_id, created_at, id)`,
    `CREATE INDEX ${create}${quote(`${logs}_tenant`)} ON ${quote(logs)} (tenant, created_at, id)`,
    `CREATE INDEX ${create}${quote(`${logs}_created`)} ON ${quote(logs)} (created_at, id)`,
    `CREATE INDEX ${create}${quote(`${logs}_filename`)} ON ${quote(logs)} (backup_filename)`,
    `CREATE INDEX ${create}${quote(`${logs}_status`)} ON ${quote(logs)} (status)`,
  ];
}

const PG_TYPES = {
  id: 'bigserial PRIMARY KEY',
  text: (n: number) => `varchar(${n})`,
  longText: 'text',
  bigint: 'bigint',
  date: 'date',
  timestamp: 'timestamptz(3)',
  integer: 'integer',
};
const MYSQL_TYPES = {
  id: 'BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY',
  text: (n: number) => `VARCHAR(${n})`,
  longText: 'MEDIUMTEXT',
  bigint: 'BIGINT',
  date: 'DATE',
  timestamp: 'DATETIME(3)',
  integer: 'INT',
};
const SQLITE_TYPES = { id: 'INTEGER PRIMARY KEY AUTOINCREMENT', text: () => 'TEXT', longText: 'TEXT', bigint: 'INTEGER', date: 'TEXT', timestamp: 'TEXT', integer: 'INTEGER' };

/** A column's definition as the engine's CREATE TABLE has it (for the ALTER TABLE a refusal suggests). */
export function columnDefinition(dialect: DialectName, column: string): string | undefined {
  const types = dialect === 'pg' ? PG_TYPES : dialect === 'mysql' ? MYSQL_TYPES : SQLITE_TYPES;
  return columns(types).find((definition) => definition.split(' ')[0] === column);
}

const POSTGRES: Dialect = {
  name: 'pg',
  quote: (name) => `"${name.replaceAll('"', '""')}"`,
  sql: (text) => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  },
  createStatements(tables) {
    const q = POSTGRES.quote;
    return [
      `CREATE TABLE IF NOT EXISTS ${q(tables.logs)} (\n  ${columns(PG_TYPES).join(',\n  ')}\n)`,
      ...indexes(tables, q, 'IF NOT EXISTS '),
      `CREATE TABLE IF NOT EXISTS ${q(tables.settings)} (\n  organization_id varchar(191) PRIMARY KEY,\n  auto_backup_enabled boolean NOT NULL,\n  updated_at timestamptz(3) NULL\n)`,
    ];
  },
  selectList: (a) =>
    `${a}.id::text AS id, ${a}.kind, ${a}.organization_id, ${a}.tenant, ${a}.user_id, ${a}.day_of_week, ${a}.backup_filename, ${a}.backup_path, ` +
    `${a}.backup_size::text AS backup_size, ${a}.sha256, ${a}.status, ${a}.error_message, to_char(${a}.backup_date, 'YYYY-MM-DD') AS backup_date, ` +
    `${POSTGRES.timestampText(`${a}.created_at`)} AS created_at, ${POSTGRES.timestampText(`${a}.updated_at`)} AS updated_at, ` +
    `${a}.backup_type, ${a}.host, ${a}.run_lock, ${a}.run_pid::text AS run_pid`,
  timestampText: (column) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  timestamp: (iso) => iso,
  returningId: ' RETURNING id',
  upsertSettings: (tables) =>
    `INSERT INTO ${POSTGRES.quote(tables.settings)} (organization_id, auto_backup_enabled, updated_at) VALUES (?, ?, ?) ` +
    'ON CONFLICT (organization_id) DO UPDATE SET auto_backup_enabled = EXCLUDED.auto_backup_enabled, updated_at = EXCLUDED.updated_at',
  // to_regclass resolves the name as the ledger's statements do (search_path); the parameter is the quoted name.
  columnsSql: 'SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped',
  uniqueIndexesSql:
    'SELECT i.relname AS index_name, a.attname AS column_name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid ' +
    'CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ' +
    'WHERE x.indrelid = to_regclass(?) AND x.indisunique ORDER BY i.relname, k.ord',
  isMissingTable: (error) => codeOf(error) === '42P01',
  isPermissionDenied: (error) => codeOf(error) === '42501',
  isUniqueViolation: (error) => codeOf(error) === '23505',
};

const MYSQL: Dialect = {
  name: 'mysql',
  quote: (name) => `\`${name.replaceAll('`', '``')}\``,
  sql: (text) => text,
  createStatements(tables) {
    const q = MYSQL.quote;
    const { logs } = tables;
    return [
      `CREATE TABLE IF NOT EXISTS ${q(logs)} (\n  ${columns(MYSQL_TYPES).join(',\n  ')},\n` +
        `  UNIQUE KEY ${q(`${logs}_daily_slot`)} (daily_slot),\n  KEY ${q(`${logs}_organization`)} (organization_id, created_at, id),\n` +
        `  KEY ${q(`${logs}_tenant`)} (tenant, created_at, id),\n  KEY ${q(`${logs}_created`)} (created_at, id),\n` +
        `  KEY ${q(`${logs}_filename`)} (backup_filename),\n  KEY ${q(`${logs}_status`)} (status)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
      `CREATE TABLE IF NOT EXISTS ${q(tables.settings)} (\n  organization_id VARCHAR(191) NOT NULL PRIMARY KEY,\n  auto_backup_enabled BOOLEAN NOT NULL,\n  updated_at DATETIME(3) NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ];
  },
  selectList: (a) =>
    `${a}.id, ${a}.kind, ${a}.organization_id, ${a}.tenant, ${a}.user_id, ${a}.day_of_week, ${a}.backup_filename, ${a}.backup_path, ${a}.backup_size, ` +
    `${a}.sha256, ${a}.status, ${a}.error_message, DATE_FORMAT(${a}.backup_date, '%Y-%m-%d') AS backup_date, ` +
    `${MYSQL.timestampText(`${a}.created_at`)} AS created_at, ${MYSQL.timestampText(`${a}.updated_at`)} AS updated_at, ${a}.backup_type, ${a}.host, ${a}.run_lock, ${a}.run_pid`,
  timestampText: (column) => `CONCAT(REPLACE(CAST(${column} AS CHAR(23)), ' ', 'T'), 'Z')`,
  // Sessions run with time_zone +00:00 (engines/mysql/driver.ts): DATETIME holds UTC.
  timestamp: (iso) => iso.slice(0, 23).replace('T', ' '),
  returningId: '',
  upsertSettings: (tables) =>
    `INSERT INTO ${MYSQL.quote(tables.settings)} (organization_id, auto_backup_enabled, updated_at) VALUES (?, ?, ?) ` +
    'ON DUPLICATE KEY UPDATE auto_backup_enabled = VALUES(auto_backup_enabled), updated_at = VALUES(updated_at)',
  columnsSql: 'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
  uniqueIndexesSql:
    'SELECT INDEX_NAME AS index_name, COLUMN_NAME AS column_name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX',
  isMissingTable: (error) => codeOf(error) === 'ER_NO_SUCH_TABLE' || errnoOf(error) === 1146,
  isPermissionDenied: (error) => ['ER_TABLEACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR'].includes(String(codeOf(error))),
  isUniqueViolation: (error) => codeOf(error) === 'ER_DUP_ENTRY' || errnoOf(error) === 1062,
};

const SQLITE: Dialect = {
  name: 'sqlite',
  quote: POSTGRES.quote,
  sql: (text) => text,
  createStatements(tables) {
    const q = SQLITE.quote;
    return [
      `CREATE TABLE IF NOT EXISTS ${q(tables.logs)} (\n  ${columns(SQLITE_TYPES).join(',\n  ')}\n)`,
      ...indexes(tables, q, 'IF NOT EXISTS '),
      `CREATE TABLE IF NOT EXISTS ${q(tables.settings)} (\n  organization_id TEXT PRIMARY KEY,\n  auto_backup_enabled INTEGER NOT NULL,\n  updated_at TEXT NULL\n)`,
    ];
  },
  selectList: (a) =>
    `${a}.id, ${a}.kind, ${a}.organization_id, ${a}.tenant, ${a}.user_id, ${a}.day_of_week, ${a}.backup_filename, ${a}.backup_path, ${a}.backup_size, ` +
    `${a}.sha256, ${a}.status, ${a}.error_message, ${a}.backup_date, ${a}.created_at, ${a}.updated_at, ${a}.backup_type, ${a}.host, ${a}.run_lock, ${a}.run_pid`,
  timestampText: (column) => column,
  timestamp: (iso) => iso,
  returningId: ' RETURNING id',
  upsertSettings: (tables) =>
    `INSERT INTO ${SQLITE.quote(tables.settings)} (organization_id, auto_backup_enabled, updated_at) VALUES (?, ?, ?) ` +
    'ON CONFLICT (organization_id) DO UPDATE SET auto_backup_enabled = excluded.auto_backup_enabled, updated_at = excluded.updated_at',
  columnsSql: 'SELECT name FROM pragma_table_info(?)',
  // An INTEGER PRIMARY KEY is the rowid and is no index: only the keys that can refuse a row are listed.
  uniqueIndexesSql:
    'SELECT il.name AS index_name, ii.name AS column_name FROM pragma_index_list(?) il, pragma_index_info(il.name) ii WHERE il."unique" = 1 ORDER BY il.name, ii.seqno',
  isMissingTable: (error) => /no such table/i.test(messageOf(error)),
  isPermissionDenied: (error) => ['SQLITE_READONLY', 'SQLITE_PERM', 'SQLITE_AUTH'].includes(String(codeOf(error))),
  isUniqueViolation: (error) => String(codeOf(error)).startsWith('SQLITE_CONSTRAINT_UNIQUE'),
};

export const DIALECTS: Record<DialectName, Dialect> = { pg: POSTGRES, mysql: MYSQL, sqlite: SQLITE };
