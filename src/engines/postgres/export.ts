/**
 * PostgreSQL export: the server does exactly what `psql \copy (SELECT …) TO STDOUT` makes it do,
 * nothing more. Each table is read with
 *   COPY (SELECT t.<column>, … FROM <table> t WHERE <plan.where> ORDER BY <pk>) TO STDOUT
 * (text format), and the COPY bytes are turned into NDJSON in Node (copy-out.ts, export-codec.ts)
 * while the server produces the next rows. Types with a function cast to text that differs from
 * their output function (bpchar, inet, cidr, name, "char", …) are read as `col::text`.
 * json and jsonb are `string`s, NOT embedded: a `json` value's exact text may contain raw newlines
 * (whitespace between tokens), which would break NDJSON framing, and an embedded jsonb `null`
 * could not be told apart from SQL NULL. As strings, both come back exactly.
 * Tables without a primary key are ordered by the byte order of their encoded rows (the same
 * `json_build_array` text, computed for the ORDER BY only), so equal data gives equal archives.
 * Why COPY rather than the server's JSON encoder: bench/PERFORMANCE.md.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { OrganizationsConfig } from '../../config/schema.js';
import { OperationError } from '../../errors.js';
import { firstFailure } from '../streams.js';
import type { ColumnInfo, ExportResult, OrganizationRow, SnapshotReader, TablePlan } from '../types.js';
import { findOrganizationRows } from './organizations.js';
import { OID, TransactionCatalog, type LiveColumn } from './catalog.js';
import { destroySocket, type SessionContext } from './client.js';
import { CopyToNdjson } from './copy-out.js';
import { q } from './dialect.js';
import { NdjsonEncoder, wireOf } from './export-codec.js';

/** json_build_array takes at most 100 arguments (FUNC_MAX_ARGS). */
const MAX_FUNCTION_ARGS = 100;

/**
 * The JSON a column had in earlier versions, built by the server (`json_build_array` argument):
 * now only used to order rows of tables without a primary key, and as the reference the
 * converter's output is tested against.
 */
export function jsonExpression(column: ColumnInfo, baseOid: number): string {
  const ref = `t.${q(column.name)}`;
  switch (column.encoding) {
    case 'number':
    case 'boolean':
    case 'json':
      return ref;
    case 'base64':
      // encode() breaks base64 lines every 76 characters.
      return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
    case 'string':
      if (baseOid === OID.date || baseOid === OID.timestamp || baseOid === OID.timestamptz) return ref;
      return `${ref}::text`;
  }
}

/** One JSON array per row; beyond json_build_array's 100 arguments, chunks are joined as text. */
function rowExpression(expressions: string[]): string {
  if (expressions.length <= MAX_FUNCTION_ARGS) return `json_build_array(${expressions.join(', ')})`;
  const parts: string[] = [];
  for (let i = 0; i < expressions.length; i += MAX_FUNCTION_ARGS) {
    // json_build_array's text is "[" + elements joined by ", " + "]": keep the elements.
    parts.push(`left(substr(json_build_array(${expressions.slice(i, i + MAX_FUNCTION_ARGS).join(', ')})::text, 2), -1)`);
  }
  return `('[' || ${parts.join(` || ', ' || `)} || ']')`;
}

/** The select-list expression whose COPY text the converter reads for this column. */
function copyExpression(column: ColumnInfo, live: LiveColumn): string {
  const ref = `t.${q(column.name)}`;
  return column.encoding === 'string' && live.textCast ? `${ref}::text` : ref;
}

/**
 * The server builds each row's COPY text in one piece of at most 1 GB: a row beyond that (a bytea
 * over ~512 MiB, whose hex form is twice its size, or text near 1 GB) fails on the server with
 * "invalid memory alloc request size" or "out of memory" — as it fails for pg_dump.
 */
const ROW_LIMIT_HINT =
  " (a row of this table is too large for PostgreSQL to send: the server writes each row's COPY text in one piece of at most 1 GB, " +
  'so a bytea value over ~512 MiB — its hex form is twice its size — or a text value near 1 GB cannot be exported; pg_dump has the same limit)';

function tooLargeForCopy(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /invalid memory alloc request size|out of memory|Cannot enlarge string buffer/i.test(message);
}

export class PostgresSnapshotReader implements SnapshotReader {
  /** The schema's columns and relation kinds as this snapshot sees them, read once (two queries). */
  readonly catalog: TransactionCatalog;

  /** `catalog`: the one of another reader of the same snapshot (it is the same). */
  constructor(
    private readonly session: SessionContext,
    private readonly client: pg.Client,
    private readonly state: { broken: boolean },
    catalog?: TransactionCatalog,
  ) {
    this.catalog = catalog ?? new TransactionCatalog(client, session.schema);
  }

  private liveColumns(table: string): Promise<Map<string, LiveColumn>> {
    return this.catalog.liveColumns(table);
  }

  private ownRows(table: string): Promise<string> {
    return this.catalog.ownRows(table);
  }

  async findOrganization(config: OrganizationsConfig, id: string): Promise<OrganizationRow | null> {
    const columns = await this.liveColumns(config.table).catch((error: unknown) => {
      throw this.session.operationError(`Looking up organization ${id} in table "${config.table}" failed`, error);
    });
    const rows = await findOrganizationRows(this.client, this.session, config, columns, id, false);
    return rows[0] ?? null;
  }

  tableSizes(): Promise<Map<string, number>> {
    return this.catalog.sizes();
  }

  async countRows(plan: Pick<TablePlan, 'table' | 'where'>): Promise<number> {
    try {
      const result = await this.client.query<{ n: string }>(`SELECT count(*) AS n FROM ${await this.ownRows(plan.table)} t WHERE ${plan.where}`);
      return Number(result.rows[0]!.n);
    } catch (error) {
      throw this.session.operationError(`Counting the rows of table "${plan.table}" failed`, error);
    }
  }

  async exportTable(plan: TablePlan, out: Writable, onRows?: (rows: number) => void): Promise<ExportResult> {
    let copy: CopyToNdjson | undefined;
    let failure: ReturnType<typeof firstFailure> | undefined;
    try {
      const live = await this.liveColumns(plan.table);
      const found = plan.columns.map((column) => {
        const current = live.get(column.name);
        if (!current) throw new OperationError(`Column "${column.name}" of table "${plan.table}" no longer exists.`, { details: { table: plan.table, column: column.name } });
        // A plan made from an earlier read of the catalogue (auto --all reads it once a run): rows
        // are never encoded by a type the snapshot does not have.
        if (current.type !== column.type) {
          throw new OperationError(`Column "${column.name}" of table "${plan.table}" changed type since the backup was planned (${column.type} → ${current.type}); try again.`, {
            details: { table: plan.table, column: column.name },
          });
        }
        return current;
      });
      const select = plan.columns.map((column, i) => copyExpression(column, found[i]!)).join(', ');
      const from = `FROM ${await this.ownRows(plan.table)} t WHERE ${plan.where}`;
      const order =
        plan.primaryKey.length > 0
          ? plan.primaryKey.map((c) => `t.${q(c)}`).join(', ')
          : // No key: a stable order all the same (byte order of the encoded rows).
            `(${rowExpression(plan.columns.map((column, i) => jsonExpression(column, found[i]!.baseOid)))})::text COLLATE "C"`;
      const encoder = new NdjsonEncoder(
        plan.table,
        plan.columns.map((column, i) => wireOf(column, found[i]!.baseOid)),
      );
      copy = new CopyToNdjson(`COPY (SELECT ${select} ${from} ORDER BY ${order}) TO STDOUT`, encoder, onRows);
      failure = firstFailure([copy, out]);
      this.client.query(copy as unknown as pg.Submittable);
      await pipeline(copy, out);
      await copy.completed;
      if (encoder.rows !== copy.rowCount) throw new OperationError(`Exporting table "${plan.table}": ${encoder.rows} rows converted, but COPY sent ${copy.rowCount}.`);
      return { rows: encoder.rows };
    } catch (error) {
      // A COPY abandoned mid-stream leaves the connection in COPY mode: it cannot be reused.
      if (copy && !copy.readableEnded) {
        this.state.broken = true;
        destroySocket(this.client);
      }
      if (!out.destroyed) out.destroy(error as Error);
      // The caller's own stream failing is the caller's error.
      if (failure?.origin === out) throw error;
      throw this.session.operationError(`Exporting table "${plan.table}" failed${tooLargeForCopy(error) ? ROW_LIMIT_HINT : ''}`, error);
    }
  }
}
