/**
 * The ledger: every backup the tool made or tried, with exactly the columns of the application's
 * `auto_backup_logs` table (snake_case), so records can move between the JSON file and that table.
 */
import type { Weekday } from '../retention/clock.js';
import type { HistoryPolicy } from '../retention/history.js';

export type BackupKind = 'organization' | 'database';
export type BackupStatus = 'success' | 'failed' | 'in_progress';
export type RecordId = number;

export interface LedgerRecord {
  id: RecordId;
  kind: BackupKind;
  /** Organization ids are kept as strings: they may be 64-bit or non-numeric in some schemas. */
  organization_id: string | null;
  tenant: string | null;
  user_id: string | null;
  day_of_week: Weekday;
  backup_filename: string;
  /** Absolute path of the archive. */
  backup_path: string;
  backup_size: number;
  sha256: string | null;
  status: BackupStatus;
  error_message: string | null;
  /** `YYYY-MM-DD` in the configured time zone. */
  backup_date: string;
  created_at: string;
  updated_at: string;
}

export const LEDGER_RECORD_FIELDS = [
  'id',
  'kind',
  'organization_id',
  'tenant',
  'user_id',
  'day_of_week',
  'backup_filename',
  'backup_path',
  'backup_size',
  'sha256',
  'status',
  'error_message',
  'backup_date',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof LedgerRecord)[];

export type NewRecord = Pick<LedgerRecord, 'kind' | 'organization_id' | 'tenant' | 'user_id' | 'day_of_week' | 'backup_filename' | 'backup_path' | 'backup_date'>;

export type Outcome = { status: 'success'; backup_size: number; sha256: string } | { status: 'failed'; error_message: string };

export interface RecordFilter {
  kind?: BackupKind;
  organization_id?: string;
  tenant?: string;
  status?: BackupStatus;
  backup_filename?: string;
  backup_date?: string;
}

export interface OrganizationSettings {
  auto_backup_enabled: boolean;
  updated_at: string | null;
}

/** What `auto` decides on: an organization's settings and its `success` records of one day (newest first). */
export interface OrganizationDay {
  settings: OrganizationSettings;
  successes: LedgerEntry[];
}

/** Why a backup was made; also in the archive's manifest. Kept beside the record (not a column). */
export type LedgerBackupType = 'manual' | 'auto_daily' | 'pre_restore';

export interface BeginOptions {
  /** The operation lock this run holds; while it is held, the record is a live `in_progress`. */
  lockKey?: string;
  backupType?: LedgerBackupType;
}

/** A record with what the ledger keeps beside it (not `auto_backup_logs` columns of the application). */
export interface LedgerEntry {
  record: LedgerRecord;
  backup_type: LedgerBackupType | null;
  /** The host that made the record (where its archive was written); null when not recorded. */
  host: string | null;
}

/** A tenant or an organization: whose records a set of records is. */
export type LedgerOwner = { kind: 'organization'; organization_id: string } | { kind: 'database'; tenant: string };

export interface HistoryPruneOptions {
  policy: HistoryPolicy;
  /** Only this owner's records (default: every owner's). */
  owner?: LedgerOwner;
  /** Count what would be forgotten; change nothing. */
  dryRun?: boolean;
  /**
   * Whether a success record's archive still exists: false forgets the record (unless the policy
   * keeps them), null ("cannot tell from here", e.g. made on another host) keeps it.
   */
  archiveExists(entry: LedgerEntry): Promise<boolean | null>;
}

export interface HistoryPruneResult {
  /** Failed records older than the policy's `failedDays`. */
  failures: number;
  /** Success records whose archive no longer exists. */
  missing_archives: number;
}

export interface Ledger {
  /**
   * Adds an `in_progress` record owned by this process. An `auto_daily` record is refused
   * (DailySlotTakenError) when the organization already has an `auto_daily` record of the same
   * `backup_date` that is `success` or `in_progress`: "once a day" does not rest on the
   * operation lock alone.
   */
  begin(record: NewRecord, options?: BeginOptions): Promise<LedgerRecord>;
  /**
   * Ends a record. A success replaces the owner's other success records of the same file name (the
   * archive it replaced), so there is one success per organization and weekday; failed attempts
   * stay until the history policy forgets them.
   */
  finish(id: RecordId, outcome: Outcome): Promise<LedgerRecord>;
  /** Matching records, newest first. */
  find(filter?: RecordFilter): Promise<LedgerRecord[]>;
  remove(id: RecordId): Promise<void>;
  /**
   * Appends `note` to a finished record's `error_message` (a notification about it could not be
   * delivered). Nothing else changes: not its status, file, size or times.
   */
  annotate(id: RecordId, note: string): Promise<LedgerRecord>;
  /** The backup type given to `begin` (records mirror `auto_backup_logs`, which has no such column). */
  backupTypeOf(id: RecordId): Promise<LedgerBackupType | null>;
  /**
   * Marks `in_progress` records whose run is gone (the lock its process held while running is
   * free: the process ended) as `failed`, and returns them. Never decided by pid or clock.
   */
  recoverInterrupted(): Promise<LedgerRecord[]>;
  getOrganizationSettings(organizationId: string): Promise<OrganizationSettings>;
  /**
   * What `auto` decides on, in one read: the organization's settings and its `success` records of
   * `backupDate` (newest first). The JSON ledger reads one file; the database ledger runs one
   * indexed query.
   */
  dayOfOrganization(organizationId: string, backupDate: string): Promise<OrganizationDay>;
  /**
   * `dayOfOrganization` of every organization at once, in one read of the ledger (`auto --all`
   * decides its skips on it): the organizations with settings or successes of `backupDate`; any
   * other organization has the defaults (enabled, no success). An organization whose records
   * could not be read (a damaged file) is null: its own `dayOfOrganization` says why.
   */
  organizationDays(backupDate: string): Promise<Map<string, OrganizationDay | null>>;
  setOrganizationSettings(organizationId: string, patch: { auto_backup_enabled: boolean }): Promise<OrganizationSettings>;
  /**
   * Runs `fn` while holding a cross-process lock named `key`. With `wait: false` a held lock is a
   * LockedError at once. A lock is held exactly as long as its holder lives: never taken over
   * from a live holder (however busy), released at once when the holder dies.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { wait?: boolean }): Promise<T>;
  /** Like `find`, with what the ledger keeps beside each record. */
  findEntries(filter?: RecordFilter): Promise<LedgerEntry[]>;
  /**
   * Matching records, newest first, as `findEntries` orders them — streamed, in memory that does
   * not grow with the ledger (`list` of a million records).
   */
  scan(filter?: RecordFilter): AsyncIterable<LedgerEntry>;
  /** Every tenant and organization the ledger has records or settings of. */
  owners(): Promise<LedgerOwner[]>;
  /** Applies the history policy (`prune`); see retention/history.ts. */
  pruneHistory(options: HistoryPruneOptions): Promise<HistoryPruneResult>;
  /** Ends what the ledger holds open (database connections); the ledger is unusable afterwards. */
  close(): Promise<void>;
}
