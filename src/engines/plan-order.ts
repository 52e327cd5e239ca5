/**
 * Facts about the order of a table plan that the engines need when they prepare a restore
 * transaction (the planner itself lives in core/plan-organization.ts and re-exports these).
 */
import type { ForeignKeyInfo, TablePlan } from './types.js';

/** True when inserting in plan order could still violate a foreign key (a cycle between tables). */
export function hasForeignKeyCycle(plans: TablePlan[]): boolean {
  const position = new Map(plans.map((p, i) => [p.table, i]));
  return plans.some((p, i) => p.parents.some((fk) => (position.get(fk.referencedTable) ?? -1) > i));
}

/** Foreign keys pointing at a table restored LATER in plan order (only cycles produce them). */
export function forwardForeignKeys(plan: TablePlan[]): ForeignKeyInfo[] {
  const position = new Map(plan.map((p, i) => [p.table, i]));
  return plan.flatMap((p, i) => p.parents.filter((fk) => (position.get(fk.referencedTable) ?? -1) > i));
}
