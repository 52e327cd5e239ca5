/**
 * The checks of a plan against the database, run inside the snapshot before anything is written:
 * every condition of `organizations.include` must run on the database as it is (its columns,
 * tables and types). It is run with `AND 1 = 0` appended — parsed, resolved and planned by the
 * database, yet no row is read (PostgreSQL plans a one-time false filter, MariaDB an "impossible
 * WHERE", SQLite a constant jump) — so the check costs the same on any table size.
 */
import type { OrganizationRow, SnapshotReader, TablePlan } from '../engines/types.js';
import { ConfigError, UsageError, describeCause } from '../errors.js';
import { includeSetting } from './plan-condition.js';

export async function checkConditions(reader: Pick<SnapshotReader, 'countRows'>, plans: TablePlan[]): Promise<void> {
  for (const plan of plans) {
    if (plan.selection.kind !== 'condition') continue;
    try {
      await reader.countRows({ table: plan.table, where: `(${plan.where}) AND 1 = 0` });
    } catch (error) {
      const setting = includeSetting(plan.table);
      throw new ConfigError(`${setting}: the database cannot run this condition on table "${plan.table}": ${describeCause(error)}`, { setting });
    }
  }
}

/**
 * The organization must be named by its id exactly as the organizations table holds it: the
 * plan's conditions compare the tenant columns with that text, and SQLite compares text by its
 * bytes (a uuid in upper case would select none of the organization's rows), while the ledger,
 * the lock and the manifest would name the organization differently from its other backups. The
 * command line resolves `--org` to that form first; library callers get this error instead of a
 * backup that silently holds less.
 */
export function assertExactId(found: OrganizationRow, given: string, table: string): void {
  if (found.id === given) return;
  throw new UsageError(`Organization "${given}" is held as "${found.id}" in table "${table}": give the id exactly in that form (--org resolves it by itself).`, {
    organization: given,
    id: found.id,
  });
}
