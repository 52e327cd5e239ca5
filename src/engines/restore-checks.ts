/**
 * Checks every organization engine runs inside its restore transaction, the SQL shared by all three.
 *
 * References from rows a restore does NOT put back into rows it deletes:
 *
 * A restore deletes the organization's rows and inserts the archive's. A row it does not restore
 * (another organization's row of a planned table, a row of a table outside the plan) may point at
 * one of the deleted rows: a `bank_transactions` row of organization B referencing A's
 * `bank_integrations` row created after A's backup. Committing then would leave B's row pointing at
 * nothing (MySQL/MariaDB restore with FOREIGN_KEY_CHECKS off; PostgreSQL with foreign-key triggers
 * off in replica mode), or — where the database acts on the delete at once (ON DELETE CASCADE /
 * SET NULL / SET DEFAULT / RESTRICT, which PostgreSQL and SQLite run even while checks are
 * deferred, and any PostgreSQL foreign key that is not DEFERRABLE) — silently delete or change
 * B's row, or fail with the database's own message, even when the archive puts the key back. So, before the deletes, every such row is found (`RestoreWriter.noteReferences`): where the delete
 * would act on it, the restore is refused at once; otherwise its key is kept in a temporary table
 * of the restore's own connection, and before COMMIT (`RestoreWriter.checkReferences`) every kept row
 * whose referenced key did not come back refuses the restore. Both name the table, the foreign key
 * and the organization of the referencing row. Nothing is changed in either case.
 *
 * Cost: one existence test per foreign key into a planned table, driven by the organization's keys
 * (an index on the referencing columns — which InnoDB always has — makes it a lookup per key),
 * up to 64 of them per round trip; only a foreign key with such rows costs more queries (its
 * temporary table, or the refusal's row).
 */
import { ArchiveError, OperationError } from '../errors.js';
import type { ForeignKeyInfo, SchemaInfo, TableInfo, TablePlan } from './types.js';

/** What an engine's restore connection offers the check. */
export interface ReferenceRunner {
  quote(name: string): string;
  /** Rows as text (NULL as null), columns in select order. */
  rows(sql: string): Promise<Array<Array<string | null>>>;
  exec(sql: string): Promise<void>;
  /** `CREATE TEMP… TABLE <name> AS <select>`, living until the transaction (or connection) ends. */
  createTempTable(name: string, select: string): string;
  /** True when ON DELETE actions run during the restore's deletes (PG outside replica mode, SQLite). */
  actionsRun: boolean;
}

interface Noted {
  table: TableInfo;
  fk: ForeignKeyInfo;
  temp: string;
  describe: string[];
}

const ACTING = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT']);
/** Existence checks asked in one statement (see ReferenceChecks.nonEmpty). */
const NON_EMPTY_BATCH = 64;

export class ReferenceChecks {
  private noted: Noted[] = [];
  private restored: { schema: SchemaInfo; plans: TablePlan[] } | undefined;
  private done = false;

  constructor(private readonly runner: ReferenceRunner) {}

  /** Before the deletes: see the file comment. Without it, `check` covers the restored rows only. */
  async note(schema: SchemaInfo, plans: TablePlan[], tenantColumn: string): Promise<void> {
    const q = (name: string) => this.runner.quote(name);
    const planned = new Map(plans.map((p) => [p.table, p]));
    this.noted = [];
    this.restored = { schema, plans };
    const candidates: Array<{ table: TableInfo; fk: ForeignKeyInfo; select: string; describe: string[] }> = [];
    for (const table of schema.tables) {
      const own = planned.get(table.name);
      for (const fk of table.foreignKeys) {
        const parent = planned.get(fk.referencedTable);
        if (!parent) continue;
        const describe = describedColumns(table, tenantColumn);
        const notNull = fk.columns.map((c) => `t.${q(c)} IS NOT NULL`).join(' AND ');
        const keys = fk.columns.map((c) => `t.${q(c)}`);
        const select =
          `SELECT ${[...keys.map((k, i) => `${k} AS k${i}`), ...describe.map((c, i) => `t.${q(c)} AS d${i}`)].join(', ')} FROM ${q(table.name)} t ` +
          `WHERE ${notNull}${own ? ` AND (${own.where}) IS NOT TRUE` : ''} AND ${keyAmongRows(keys, q(parent.table), fk.referencedColumns.map(q), parent.where)}`;
        candidates.push({ table, fk, select, describe });
      }
    }
    // Usually no such row exists: one round trip finds the foreign keys that have any.
    const found = await this.nonEmpty(candidates.map((c) => c.select));
    for (const [index, { table, fk, select, describe }] of candidates.entries()) {
      if (!found.has(index)) continue;
      // A foreign key that is not DEFERRABLE is checked at the end of each DELETE on PostgreSQL:
      // the key coming back later in the transaction is too late for it.
      if (this.runner.actionsRun && (ACTING.has(fk.onDelete ?? 'NO ACTION') || !fk.deferrable)) {
        const [row] = await this.runner.rows(`${select} LIMIT 1`);
        if (row) throw refusal(table, fk, describe, row, fk.columns.length, `deleting the organization's rows would ${actionText(fk)} it`);
        continue;
      }
      const temp = `tb_outside_ref_${this.noted.length}`;
      await this.runner.exec(this.runner.createTempTable(temp, select));
      this.noted.push({ table, fk, temp, describe });
    }
  }

  /**
   * Which of `selects` return at least one row: their indexes. Asked in one statement per
   * NON_EMPTY_BATCH selects (`SELECT i … WHERE EXISTS (…) UNION ALL …`) instead of one each: a
   * schema with 170 foreign keys into the plan spent most of a small restore in these round trips.
   */
  private async nonEmpty(selects: string[]): Promise<Set<number>> {
    const found = new Set<number>();
    for (let start = 0; start < selects.length; start += NON_EMPTY_BATCH) {
      const batch = selects.slice(start, start + NON_EMPTY_BATCH);
      // `FROM (SELECT 1) d`: MySQL 5.7 wants a FROM before WHERE; every engine takes this one.
      const sql = batch.map((select, i) => `SELECT ${start + i} AS n FROM (SELECT 1 AS x) d WHERE EXISTS (${select})`).join(' UNION ALL ');
      for (const [n] of await this.runner.rows(sql)) found.add(Number(n));
    }
    return found;
  }

  /**
   * Before COMMIT (once; later calls do nothing): every foreign key of every restored row points
   * at an existing row, and every noted row's referenced key came back.
   */
  async check(schema?: SchemaInfo, plans?: TablePlan[]): Promise<void> {
    if (this.done) return;
    this.done = true;
    const restored = this.restored ?? (schema && plans ? { schema, plans } : undefined);
    if (restored) await this.checkRestored(restored);
    const q = (name: string) => this.runner.quote(name);
    for (const { table, fk, temp, describe } of this.noted) {
      const join = fk.referencedColumns.map((c, i) => `r.${q(c)} = c.${q(`k${i}`)}`).join(' AND ');
      const columns = [...fk.columns.map((_, i) => `c.${q(`k${i}`)}`), ...describe.map((_, i) => `c.${q(`d${i}`)}`)];
      const [row] = await this.runner.rows(`SELECT ${columns.join(', ')} FROM ${q(temp)} c WHERE NOT EXISTS (SELECT 1 FROM ${q(fk.referencedTable)} r WHERE ${join}) LIMIT 1`);
      if (row) throw refusal(table, fk, describe, row, fk.columns.length, 'it would be left pointing at a row the archive does not hold');
    }
  }

  /** Restored rows whose parent is missing: a shared row (e.g. a user) deleted after the backup. */
  private async checkRestored({ schema, plans }: { schema: SchemaInfo; plans: TablePlan[] }): Promise<void> {
    const q = (name: string) => this.runner.quote(name);
    const tables = new Map(schema.tables.map((t) => [t.name, t]));
    const planned = new Set(plans.map((p) => p.table));
    const checks = plans.flatMap((plan) =>
      (tables.get(plan.table)?.foreignKeys ?? []).map((fk) => {
        const notNull = fk.columns.map((c) => `t.${q(c)} IS NOT NULL`).join(' AND ');
        const join = fk.columns.map((c, i) => `r.${q(fk.referencedColumns[i]!)} = t.${q(c)}`).join(' AND ');
        const select = `SELECT ${fk.columns.map((c) => `t.${q(c)}`).join(', ')} FROM ${q(plan.table)} t
           WHERE ${plan.where} AND ${notNull} AND NOT EXISTS (SELECT 1 FROM ${q(fk.referencedTable)} r WHERE ${join})`;
        return { plan, fk, select };
      }),
    );
    const found = await this.nonEmpty(checks.map((c) => c.select));
    for (const [index, { plan, fk, select }] of checks.entries()) {
      if (!found.has(index)) continue;
      const [row] = await this.runner.rows(`${select} LIMIT 1`);
      if (!row) continue;
      const key = fk.columns.map((_, i) => show(row[i] ?? null)).join(', ');
      const shared = !planned.has(fk.referencedTable);
      throw new OperationError(
        `Restore refused: the archive's rows of table "${plan.table}" reference a row of "${fk.referencedTable}" that does not exist, ` +
          `through foreign key ${fk.name} (${fk.columns.join(', ')}) = (${key}). ` +
          (shared
            ? `"${fk.referencedTable}" is not part of the organization's backup (a shared row, deleted after the backup?): re-create that row ` +
              `(with the same ${fk.referencedColumns.join(', ')}), then run the restore again. `
            : '') +
          'Nothing was changed.',
        {
          details: {
            table: plan.table,
            foreign_key: fk.name,
            missing: { table: fk.referencedTable, key: Object.fromEntries(fk.referencedColumns.map((c, i) => [c, row[i] ?? null])) },
          },
        },
      );
    }
  }
}

/**
 * Row ownership: every row a restore inserts must satisfy the plan's condition for THIS
 * organization (tenant column equal to its id, a child of one of its restored rows, its own
 * organizations row). An archive is untrusted input: a row that does not is refused (exit 5).
 */
export function strangerRowError(plan: TablePlan, key: string | null): ArchiveError {
  const condition =
    plan.selection.kind === 'organization-row'
      ? `its "${plan.selection.idColumn}" is not the organization's id`
      : plan.selection.kind === 'tenant-column'
        ? `its "${plan.selection.column}" is not the organization's id`
        : plan.selection.kind === 'condition'
          ? `it does not match the table's organizations.include condition`
          : `not every row it references through ${plan.selection.via.map((fk) => fk.name).join(', ')} is one of the organization's`;
  return new ArchiveError(
    `Restore refused: the archive's table "${plan.table}" holds a row that does not belong to this organization` +
      `${key ? ` (${key})` : ''}: ${condition}. The archive may have been tampered with; nothing was changed.`,
    { details: { table: plan.table, ...(key ? { row: key } : {}) } },
  );
}

/**
 * The condition every row a restore inserts into `plan`'s table must meet: the plan's own (tenant
 * column equal to the id; the organization's row), and for a child table, EVERY non-null foreign
 * key through which it is selected must point at a row of this organization (the plan selects a
 * child when ANY of them does; an inserted child of another organization's parent — a line added
 * to another organization's order — must not pass). Alias `t`, like `plan.where`.
 */
export function ownedCondition(plan: TablePlan, plans: TablePlan[], quote: (name: string) => string): string {
  if (plan.selection.kind !== 'children') return plan.where;
  const byName = new Map(plans.map((p) => [p.table, p]));
  const branches = plan.selection.via.flatMap((fk) => {
    const parent = byName.get(fk.referencedTable);
    if (!parent) return [];
    const keys = fk.columns.map((c) => `t.${quote(c)}`);
    const owned = keyAmongRows(keys, quote(parent.table), fk.referencedColumns.map(quote), parent.where);
    return [`(${keys.map((k) => `${k} IS NULL`).join(' OR ')} OR ${owned})`];
  });
  return [`(${plan.where})`, ...branches].join(' AND ');
}

/**
 * `keys` (expressions of the outer row, alias `t`) equal the key columns `parentColumns` of one of
 * `parentTable`'s rows meeting `parentWhere` (a condition on alias `t`, naming the parent inside).
 * A correlated EXISTS over a derived table, not `keys IN (SELECT …)`: PostgreSQL runs an IN whose
 * rows do not fit work_mem as a list scanned once per outer row (minutes for 500k rows against 500k
 * parents), while this is one primary-key lookup per row on every engine. Inside the derived table
 * `o` the parent's alias `t` hides the outer one; outside it, `t` is the outer row again.
 * Identifiers arrive quoted.
 */
export function keyAmongRows(keys: string[], parentTable: string, parentColumns: string[], parentWhere: string): string {
  const selected = parentColumns.map((c, i) => `t.${c} AS k${i}`).join(', ');
  const matches = keys.map((k, i) => `o.k${i} = ${k}`).join(' AND ');
  return `EXISTS (SELECT 1 FROM (SELECT ${selected} FROM ${parentTable} t WHERE ${parentWhere}) o WHERE ${matches})`;
}

/** The columns that name a row of a planned table in messages: its primary key, then what selects it. */
export function planRowColumns(plan: TablePlan): string[] {
  const selecting =
    plan.selection.kind === 'organization-row'
      ? [plan.selection.idColumn]
      : plan.selection.kind === 'tenant-column'
        ? [plan.selection.column]
        : plan.selection.kind === 'condition'
          ? []
          : plan.selection.via.flatMap((fk) => fk.columns);
  const names = [...plan.primaryKey];
  for (const column of selecting) if (!names.includes(column)) names.push(column);
  return names.length > 0 ? names : plan.columns.slice(0, 4).map((c) => c.name);
}

/** The referencing row's primary key and its organization column, when it has them. */
function describedColumns(table: TableInfo, tenantColumn: string): string[] {
  const names = [...table.primaryKey];
  if (table.columns.some((c) => c.name === tenantColumn) && !names.includes(tenantColumn)) names.push(tenantColumn);
  return names;
}

function actionText(fk: ForeignKeyInfo): string {
  if (!ACTING.has(fk.onDelete ?? 'NO ACTION')) return 'be refused by the database for (the foreign key is not DEFERRABLE)';
  switch (fk.onDelete) {
    case 'CASCADE':
      return 'delete (ON DELETE CASCADE)';
    case 'RESTRICT':
      return 'be refused by the database for (ON DELETE RESTRICT)';
    default:
      return `change (ON DELETE ${fk.onDelete})`;
  }
}

function refusal(table: TableInfo, fk: ForeignKeyInfo, describe: string[], row: Array<string | null>, width: number, why: string): OperationError {
  const values = row.slice(0, width).map(show).join(', ');
  const described = describe.map((column, i) => `${column} = ${show(row[width + i] ?? null)}`).join(', ');
  return new OperationError(
    `Restore refused: a row of table "${table.name}"${described ? ` (${described})` : ''} that the restore does not put back references a row of "${fk.referencedTable}" ` +
      `that it deletes, through foreign key ${fk.name} (${fk.columns.join(', ')}) = (${values}); ${why}. ` +
      `Remove or re-point that row first (or restore a backup that holds the referenced row). Nothing was changed.`,
    { details: { table: table.name, foreign_key: fk.name, referencing_row: Object.fromEntries(describe.map((c, i) => [c, row[width + i] ?? null])) } },
  );
}

const show = (value: string | null) => (value === null ? 'NULL' : value);
