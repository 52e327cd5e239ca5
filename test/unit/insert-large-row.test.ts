/**
 * The byte-level path for large MySQL/MariaDB restore rows (insert-large-row.ts) builds exactly
 * the tuple the usual path builds (mysql2's escaping of the parsed values), and refuses what the
 * usual path refuses.
 */
import mysql from 'mysql2';
import { describe, expect, it } from 'vitest';
import { largeRowTuple } from '../../src/engines/mysql/insert-large-row.js';
import { valueSqlFor } from '../../src/engines/mysql/restore.js';
import type { ColumnInfo, ValueEncoding } from '../../src/engines/types.js';

const column = (name: string, encoding: ValueEncoding): ColumnInfo => ({ name, type: 'text', nullable: true, encoding, autoIncrement: false, generated: false });
const COLUMNS = [column('id', 'number'), column('body', 'string'), column('blob', 'base64'), column('big', 'string')];
const encoders = COLUMNS.map((c) => valueSqlFor(mysql, c));
// Compared as the bytes sent (a lone surrogate is U+FFFD on the wire either way).
const usual = (row: unknown[]) => Buffer.from(`(${row.map((value, i) => encoders[i]!(value)).join(',')})`).toString('utf8');
const fail = (what: string) => new Error(what);
const large = (line: string, threshold: number) =>
  Buffer.concat(largeRowTuple(Buffer.from(line), COLUMNS, (i, value) => encoders[i]!(value), fail, threshold).pieces).toString('utf8');

const SAMPLES = [
  '',
  'plain',
  `quotes ' and " back \\ slash / solidus`,
  'tab\tnew\nline\rcr\0nul\u001a',
  '\b\f\u0001\u007f',
  'é ü 日本 🚀 𝄞',
  '\ud800 lone high',
  'lone low \udc00',
  'x'.repeat(5000),
];

describe('large MySQL rows converted at byte level', () => {
  it('gives the usual tuple for every kind of string, escaped or not in the JSON', () => {
    for (const text of SAMPLES) {
      const row = [7, text, Buffer.from(text).toString('base64'), `${text}!`];
      expect(large(JSON.stringify(row), 0), text.slice(0, 20)).toBe(usual(row));
      expect(large(JSON.stringify(row), 1_000_000), text.slice(0, 20)).toBe(usual(row));
    }
    const escaped = '[1,"\\u0041\\u00e9\\ud83d\\ude80\\/\\b\\f\\n\\r\\t\\"\\\\\\u0027\\u0000\\u001a",null,"\\ud83d\\u0041"]';
    expect(large(escaped, 0)).toBe(usual(JSON.parse(escaped) as unknown[]));
  });

  it('refuses what the usual path refuses', () => {
    for (const bad of [
      '[1,"a",null]',
      '[1,"a",null,"b",2]',
      '{"a":1}',
      '[1,"a","not base64!",null]',
      '[1,"a\u0001",null,"b"]',
      '[1,"\\x",null,"b"]',
      '[1,"a",null,"b"] x',
      '[1,"a",null,3]',
    ]) {
      expect(() => large(bad, 0), bad).toThrow();
    }
  });
});
