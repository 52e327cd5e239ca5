/** MySQL/MariaDB identifiers and organization-id literals for the planner's conditions. */
import type { SqlDialect } from '../types.js';

export const mysqlDialect: SqlDialect = {
  quoteIdentifier: (name) => '`' + name.replace(/`/g, '``') + '`',
  // Quoted: compares correctly with both integer and string tenant columns (and uses their index).
  // Integer columns get a bare number: MySQL compares a quoted string with an integer as doubles,
  // so '9007199254740993' would also match 9007199254740992. Other columns get a quoted string.
  literal: (value, column) =>
    column && /int/i.test(column.type) && /^(0|[1-9][0-9]{0,19})$/.test(value) ? value : `'${value}'`,
};
export const q = mysqlDialect.quoteIdentifier;
