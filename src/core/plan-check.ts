/**
 * The checks of a plan against the database, run inside the snapshot before anything is written:
 * every condition of `organizations.include` must run on the database as it is (its columns,
 * tables and types). It is run with `AND 1 = 0` appended — parsed, resolved and planned by the
 * database, yet no row is read (PostgreSQL plans a one-time false filter, MariaDB an "impossible
 * WHERE", SQLite a constant jump) — so the check costs the same on any table size.
 */
import type { SnapshotReader, TablePlan } from '../engines/types.js';
import { ConfigError, describeCause } from '../errors.js';
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
