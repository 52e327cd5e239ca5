/**
 * The ledger: every backup the tool made or tried, with exactly the columns of the application's
 * `auto_backup_logs` table (snake_case), so records can move between the JSON file and that table.
 */
import type { Weekday } from '../retention/clock.js';

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

export type NewRecord = Pick<
  LedgerRecord,
  'kind' | 'organization_id' | 'tenant' | 'user_id' | 'day_of_week' | 'backup_filename' | 'backup_path' | 'backup_date'
>;

export type Outcome =
  | { status: 'success'; backup_size: number; sha256: string }
  | { status: 'failed'; error_message: string };

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

/** Why a backup was made; also in the archive's manifest. Kept beside the record (not a column). */
export type LedgerBackupType = 'manual' | 'auto_daily' | 'pre_restore';

export interface BeginOptions {
  /** The operation lock this run holds; while it is held, the record is a live `in_progress`. */
  lockKey?: string;
  backupType?: LedgerBackupType;
}

export interface Ledger {
  /** Adds an `in_progress` record owned by this process. */
  begin(record: NewRecord, options?: BeginOptions): Promise<LedgerRecord>;
  /**
   * Ends a record. A success replaces every other record that points at the same file (the
   * archive it replaced), so there is one record per organization and weekday.
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
   * Marks `in_progress` records whose process is gone (dead pid on this host, or its operation
   * lock no longer held) as `failed`, and returns them.
   */
  recoverInterrupted(): Promise<LedgerRecord[]>;
  getOrganizationSettings(organizationId: string): Promise<OrganizationSettings>;
  setOrganizationSettings(organizationId: string, patch: { auto_backup_enabled: boolean }): Promise<OrganizationSettings>;
  /**
   * Runs `fn` while holding a cross-process lock named `key`. With `wait: false` a held lock is a
   * LockedError at once; a lock whose holder died is taken over once it is stale.
   */
  withLock<T>(key: string, fn: () => Promise<T>, options?: { wait?: boolean }): Promise<T>;
}
