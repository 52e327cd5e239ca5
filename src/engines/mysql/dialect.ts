/** MySQL/MariaDB identifiers and organization-id literals for the planner's conditions. */
import { InvalidNameError } from '../../errors.js';
import type { SqlDialect } from '../types.js';

const ORGANIZATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const mysqlDialect: SqlDialect = {
  quoteIdentifier: (name) => '`' + name.replace(/`/g, '``') + '`',
  // Quoted: compares correctly with both integer and string tenant columns (and uses their index).
  // Integer columns get a bare number: MySQL compares a quoted string with an integer as doubles,
  // so '9007199254740993' would also match 9007199254740992. Other columns get a quoted string.
  // Ids are validated like PostgreSQL's (letters, digits, "_", "-"): nothing else is ever quoted.
  literal(value, column) {
    if (!ORGANIZATION_ID.test(value)) throw new InvalidNameError(`Invalid organization id ${JSON.stringify(value)}: use letters, digits, "_" and "-".`);
    return column && /int/i.test(column.type) && /^(0|[1-9][0-9]{0,19})$/.test(value) ? value : `'${value}'`;
  },
};
export const q = mysqlDialect.quoteIdentifier;
