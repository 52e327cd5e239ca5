/**
 * PostgreSQL restore, inside the one transaction the session opens: NDJSON lines are converted to
 * COPY text format in a streaming Transform (import-codec.ts) and copied straight into the table,
 * `COPY <table> (<columns>) FROM STDIN`. Identity columns take the given values (as with
 * OVERRIDING SYSTEM VALUE). One COPY statement per table, so foreign keys between rows of the same
 * table (self-references) are checked at the end of that statement. The JSON decoding in Node runs
 * in parallel with the server's inserts (figures: bench/PERFORMANCE.md).
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { OperationError } from '../../errors.js';
import { forwardForeignKeys, hasForeignKeyCycle } from '../plan-order.js';
import { firstFailure } from '../streams.js';
import { ReferenceChecks, planRowColumns } from '../restore-checks.js';
import type { ColumnInfo, ImportLimits, RestoreWriter, SchemaInfo, TablePlan } from '../types.js';
import { TransactionCatalog } from './catalog.js';
import type { SessionContext } from './client.js';
import { q } from './dialect.js';
import { NdjsonToCopyText } from './import-codec.js';

/** Tables counted in one query (see PostgresRestoreWriter.countRows). */
const COUNT_BATCH = 100;

/** Deferring suffices unless a cycle runs through a foreign key that is not DEFERRABLE. */
export function needsReplicationRole(plan: TablePlan[]): boolean {
  return hasForeignKeyCycle(plan) && forwardForeignKeys(plan).some((fk) => !fk.deferrable);
}

export class PostgresRestoreWriter implements RestoreWriter {
  readonly references: ReferenceChecks;
  /** The tables' columns and kinds, read once for the transaction (not per table and step). */
  private readonly catalog: TransactionCatalog;
  /** Sequences owned by serial/identity columns of the schema's tables, by table: read once. */
  private counters: Promise<Map<string, Array<{ column: string; sequence: string }>>> | undefined;
  /**
   * The rows of every planned table, counted in one query when the first is asked for, and valid
   * until this transaction first writes: a restore counts every table before it changes any.
   */
  private counts: Promise<Map<string, number>> | undefined;

  /**
   * `actionsRun`: false in replica mode, where foreign-key triggers (and ON DELETE actions) are off.
   * `plans`: the tables this transaction restores (their counts are read together).
   */
  constructor(
    private readonly session: SessionContext,
    private readonly client: pg.Client,
    actionsRun = true,
    private readonly plans: TablePlan[] = [],
  ) {
    this.catalog = new TransactionCatalog(client, session.schema);
    this.references = new ReferenceChecks({
      quote: q,
      actionsRun,
      rows: async (sql) => {
        const result = await this.client.query<unknown[]>({ text: sql, rowMode: 'array', types: { getTypeParser: () => (value: string) => value } });
        return result.rows.map((row) => row.map((value) => (value === null ? null : String(value))));
      },
      exec: async (sql) => {
        await this.client.query(sql);
      },
      createTempTable: (name, select) => `CREATE TEMPORARY TABLE ${q(name)} ON COMMIT DROP AS ${select}`,
    });
  }

  async noteReferences(schema: SchemaInfo, plans: TablePlan[], tenantColumn: string): Promise<void> {
    try {
      await this.references.note(schema, plans, tenantColumn);
    } catch (error) {
      throw this.session.operationError("Checking the references into the organization's rows failed", error);
    }
  }

  async checkReferences(): Promise<void> {
    try {
      await this.references.check();
    } catch (error) {
      throw this.session.operationError("Checking the references into the organization's rows failed", error);
    }
  }

  /** Rows this transaction wrote carry its transaction id in `xmin` (no savepoints are used). */
  async findStrangerRow(plan: TablePlan): Promise<string | null> {
    try {
      const table = await this.catalog.ownRows(plan.table);
      const columns = planRowColumns(plan);
      const result = await this.client.query<Record<string, string | null>>(
        `SELECT ${columns.map((c) => `t.${q(c)}::text AS ${q(c)}`).join(', ')} FROM ${table} t
         WHERE t.xmin = (txid_current() % 4294967296)::text::xid AND (${plan.where}) IS NOT TRUE LIMIT 1`,
      );
      const row = result.rows[0];
      return row ? columns.map((c) => `${c} = ${row[c] ?? 'NULL'}`).join(', ') : null;
    } catch (error) {
      throw this.session.operationError(`Checking the restored rows of table "${plan.table}" failed`, error);
    }
  }

  async countRows(plan: TablePlan): Promise<number> {
    const planned = this.plans.find((p) => p.table === plan.table);
    if (planned && planned.where === plan.where) {
      this.counts ??= this.countPlans();
      const n = (await this.counts).get(plan.table);
      if (n !== undefined) return n;
    }
    try {
      const table = await this.catalog.ownRows(plan.table);
      const result = await this.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} t WHERE ${plan.where}`);
      return Number(result.rows[0]!.n);
    } catch (error) {
      throw this.session.operationError(`Counting the rows of table "${plan.table}" failed`, error);
    }
  }

  private async countPlans(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let start = 0; start < this.plans.length; start += COUNT_BATCH) {
      const batch = this.plans.slice(start, start + COUNT_BATCH);
      try {
        const selects = await Promise.all(batch.map(async (p, i) => `(SELECT count(*) FROM ${await this.catalog.ownRows(p.table)} t WHERE ${p.where}) AS c${i}`));
        const result = await this.client.query<unknown[]>({ text: `SELECT ${selects.join(', ')}`, rowMode: 'array' });
        batch.forEach((p, i) => counts.set(p.table, Number(result.rows[0]![i])));
      } catch (error) {
        const names = batch.map((p) => `"${p.table}"`).join(', ');
        throw this.session.operationError(`Counting the rows of tables ${names} failed`, error);
      }
    }
    return counts;
  }

  /** Any write ends the validity of the counts read together. */
  private wrote(): void {
    this.counts = Promise.resolve(new Map());
  }

  async deleteRows(plan: TablePlan): Promise<number> {
    this.wrote();
    try {
      const table = await this.catalog.ownRows(plan.table);
      const result = await this.client.query(`DELETE FROM ${table} t WHERE ${plan.where}`);
      return result.rowCount ?? 0;
    } catch (error) {
      throw this.session.operationError(`Deleting the organization's rows of table "${plan.table}" failed`, error);
    }
  }

  async importTable(plan: TablePlan, columns: ColumnInfo[], rows: Readable, onRows?: (rows: number) => void, limits?: ImportLimits): Promise<number> {
    this.wrote();
    const live = await this.catalog.liveColumns(plan.table).catch((error: unknown) => {
      rows.destroy();
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    });
    for (const column of columns) {
      const found = live.get(column.name);
      const problem = !found
        ? 'no longer exists in the database'
        : found.generated
          ? 'is now a generated column'
          : column.encoding === 'json'
            ? 'has the encoding "json", which the PostgreSQL engine never writes'
            : undefined;
      if (problem) {
        rows.destroy();
        throw new OperationError(`Cannot restore table "${plan.table}": the archive's column "${column.name}" ${problem}.`, {
          details: { table: plan.table, column: column.name },
        });
      }
    }
    // An accepted timestamp → timestamptz drift: the archived local times are read in the
    // database's default zone (as ALTER TABLE … TYPE timestamptz read them), for this COPY only.
    const zoned = columns.some((c) => c.archivedType !== undefined && !/with time zone/.test(c.archivedType) && /with time zone/.test(c.type));
    if (zoned) {
      await this.client.query(`SELECT set_config('TimeZone', (SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'), true)`).catch((error: unknown) => {
        rows.destroy();
        throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
      });
    }
    const copy = await this.session.copyFrom(`COPY ${q(plan.table)} (${columns.map((c) => q(c.name)).join(', ')}) FROM STDIN`).catch((error: unknown) => {
      rows.destroy();
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    });
    const convert = new NdjsonToCopyText(plan.table, columns, onRows, limits?.maxLineBytes);
    const failure = firstFailure([rows, convert, copy]);
    try {
      this.client.query(copy);
      // An error anywhere (the rows stream, a bad line, the server) destroys the COPY stream,
      // which sends CopyFail: the server rejects the COPY and the connection stays usable.
      await pipeline(rows, convert, copy);
      if (zoned) await this.client.query(`SET LOCAL TimeZone = 'UTC'`);
      return copy.rowCount;
    } catch (error) {
      // The caller's stream failing (e.g. a checksum mismatch) is the caller's error.
      if (failure.origin === rows) throw error;
      if ((error as { code?: unknown }).code === '23503') {
        // A foreign key that is not DEFERRABLE is checked at the end of the COPY: a parent the
        // archive does not hold (a shared row deleted after the backup) fails it here.
        throw this.session.operationError(
          `Restore refused: the archive's rows of table "${plan.table}" reference a row that does not exist (a shared row deleted after the backup?); ` +
            `re-create that row (same key), then run the restore again. Nothing was changed`,
          error,
        );
      }
      throw this.session.operationError(`Restoring table "${plan.table}" failed`, error);
    }
  }

  async resetCounters(plan: TablePlan): Promise<void> {
    try {
      this.counters ??= this.readCounters();
      for (const { column, sequence } of (await this.counters).get(plan.table) ?? []) {
        // Only ever forward: next value = max(id) + 1 unless the sequence is already past it.
        // `sequence` is regclass output: already quoted and qualified as needed.
        await this.client.query(
          `SELECT setval($1::regclass, m.max_id)
           FROM (SELECT max(t.${q(column)})::bigint AS max_id FROM ${q(plan.table)} t) m, ${sequence} s
           WHERE m.max_id IS NOT NULL AND (m.max_id > s.last_value OR (m.max_id = s.last_value AND NOT s.is_called))`,
          [sequence],
        );
      }
    } catch (error) {
      throw this.session.operationError(`Moving the sequences of table "${plan.table}" past the restored ids failed`, error);
    }
  }

  /** Every integer column of the schema's tables fed by a sequence (owned, identity or default), by table. */
  private async readCounters(): Promise<Map<string, Array<{ column: string; sequence: string }>>> {
    const result = await this.client.query<{ table_name: string; column_name: string; sequence: string }>(
      `WITH tbl AS (
         SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
       ), owned AS (
         SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum FROM pg_depend d JOIN tbl ON d.refobjid = tbl.oid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
         UNION
         SELECT d.refobjid, ad.adrelid, ad.adnum FROM pg_attrdef ad JOIN tbl ON ad.adrelid = tbl.oid
         JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
       )
       SELECT tbl.relname AS table_name, a.attname AS column_name, s.oid::regclass::text AS sequence
       FROM owned o
       JOIN pg_class s ON s.oid = o.seq AND s.relkind = 'S'
       JOIN pg_sequence ps ON ps.seqrelid = s.oid AND ps.seqincrement > 0
       JOIN tbl ON tbl.oid = o.rel
       JOIN pg_attribute a ON a.attrelid = o.rel AND a.attnum = o.attnum
       WHERE a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
       ORDER BY tbl.relname, a.attnum`,
      [this.session.schema],
    );
    const byTable = new Map<string, Array<{ column: string; sequence: string }>>();
    for (const row of result.rows) {
      const list = byTable.get(row.table_name) ?? [];
      list.push({ column: row.column_name, sequence: row.sequence });
      byTable.set(row.table_name, list);
    }
    return byTable;
  }
}
