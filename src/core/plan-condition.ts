/**
 * Conditions of `organizations.include` (`"versions": "item_type = 'Invoice' AND item_id IN
 * (SELECT id FROM invoices WHERE organization_id = :org)"`): checked as text here, then bound.
 *
 * A condition is one SQL boolean expression on the included table's columns (bare, or as
 * `t.<column>`), placed by the planner inside `WHERE (…)`. So that it can be nothing else, the
 * text must not end the expression early: no `;`, no `--` or `/*` comment (which would swallow
 * the closing parenthesis), parentheses balanced outside string literals, no backslash inside a
 * string literal (MySQL and PostgreSQL read it differently). (`#`, a comment only on MySQL, is an
 * operator on PostgreSQL — `data #>> '{invoice,id}'` — and stays allowed: a MySQL comment that
 * unbalanced the parentheses would make the statement invalid, which the database check reports.) It must use `:org`: a condition without it
 * selects the same rows for every organization, and restoring one would replace another's rows.
 *
 * `:org` is replaced by the dialect's literal of the organization id (validated, quoted or bare
 * by the id column's type): never by text from the command line as it was typed. An `:org` inside
 * a string literal or a quoted identifier is left alone, and so is `::org` (a PostgreSQL cast).
 * Whether the database can run the condition (columns, tables, types) is checked against it
 * before a backup writes anything (core/plan-check.ts).
 */
import { ConfigError } from '../errors.js';

interface Token {
  /** `:org` placeholders, as offsets into the text. */
  placeholders: number[];
}

const IDENTIFIER_CHAR = /[A-Za-z0-9_$]/;

/** The setting a condition comes from, for messages. */
export function includeSetting(table: string): string {
  return `organizations.include.${/^[A-Za-z_][A-Za-z0-9_]*$/.test(table) ? table : JSON.stringify(table)}`;
}

/** Scans `condition`, refusing what could end the expression early; returns where `:org` stands. */
function scan(table: string, condition: string): Token {
  const setting = includeSetting(table);
  const refuse = (why: string): never => {
    throw new ConfigError(`${setting}: the condition ${why}. Give one SQL condition on the columns of "${table}", using :org for the organization id.`, {
      setting,
    });
  };
  const placeholders: number[] = [];
  let depth = 0;
  for (let i = 0; i < condition.length; i += 1) {
    const c = condition[i]!;
    if (c === "'" || c === '"' || c === '`') {
      // A literal or a quoted identifier: the quote doubled is the quote itself.
      let j = i + 1;
      for (;;) {
        if (j >= condition.length) refuse(`has an unterminated ${c === "'" ? 'string literal' : 'quoted identifier'}`);
        if (c === "'" && condition[j] === '\\') refuse('has a backslash inside a string literal (MySQL and PostgreSQL read it differently)');
        if (condition[j] === c) {
          if (condition[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j += 1;
      }
      i = j;
    } else if (c === ';') refuse('contains ";" (one condition, not statements)');
    else if ((c === '-' && condition[i + 1] === '-') || (c === '/' && condition[i + 1] === '*')) refuse('contains a comment');
    else if (c === '(') depth += 1;
    else if (c === ')') {
      depth -= 1;
      if (depth < 0) refuse('closes a parenthesis it did not open');
    } else if (c === ':' && condition.startsWith(':org', i) && condition[i - 1] !== ':' && !IDENTIFIER_CHAR.test(condition[i + 4] ?? '')) {
      placeholders.push(i);
      i += 3;
    }
  }
  if (depth !== 0) refuse('leaves a parenthesis open');
  if (placeholders.length === 0) {
    refuse("does not use :org (it would select the same rows for every organization, and restoring one organization would replace the others' rows)");
  }
  return { placeholders };
}

/** Checks a condition as text (config errors name the setting); see the module comment. */
export function checkConditionText(table: string, condition: string): void {
  if (condition.trim() === '') throw new ConfigError(`${includeSetting(table)} is empty: give a SQL condition using :org.`, { setting: includeSetting(table) });
  scan(table, condition);
}

/** The condition with every `:org` replaced by `literal` (the dialect's literal of the id). */
export function bindCondition(table: string, condition: string, literal: string): string {
  const { placeholders } = scan(table, condition);
  let out = '';
  let from = 0;
  for (const at of placeholders) {
    out += `${condition.slice(from, at)}${literal}`;
    from = at + ':org'.length;
  }
  return out + condition.slice(from);
}
