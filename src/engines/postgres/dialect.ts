/** PostgreSQL identifiers and organization-id literals for the planner's conditions. */
import { InvalidNameError } from '../../errors.js';
import type { SqlDialect } from '../types.js';

const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const postgresDialect: SqlDialect = {
  quoteIdentifier: (name) => `"${name.replaceAll('"', '""')}"`,
  literal(value) {
    if (!ORGANIZATION_ID.test(value)) throw new InvalidNameError(`Invalid organization id ${JSON.stringify(value)}: use letters, digits, "_" and "-".`);
    return `'${value}'`;
  },
};
export const q = postgresDialect.quoteIdentifier;
