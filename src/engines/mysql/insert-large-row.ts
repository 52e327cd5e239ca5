/**
 * A large NDJSON row → the tuple of an INSERT, at byte level (the MySQL/MariaDB restore's path for
 * rows of at least LARGE_ROW_BYTES). The usual path decodes the row into a string, parses it,
 * escapes each value into a new string and joins them into the statement: several copies of a
 * large value at once. Here the row's JSON array is scanned in its bytes, and each large string
 * value is turned straight into its quoted SQL literal's bytes (exactly what `mysql.escape` gives
 * for the parsed value; test/unit/insert-large-row.test.ts compares them). The caller sends the
 * statement as one string made from those bytes, so the value is held as the row's bytes, the
 * statement and the packet mysql2 writes — and the first two are garbage by the time the third
 * exists.
 */
import { escapeTable, forEachElement, parseElement, transcodeJsonString, type Fail } from '../json-bytes.js';
import type { ColumnInfo } from '../types.js';

/** Rows at least this long (bytes) take this path. */
export const LARGE_ROW_BYTES = 1024 * 1024;
/** A string value at least this long (bytes, escaped) is transcoded at byte level. */
export const LARGE_VALUE_BYTES = 64 * 1024;

/** What sql-escaper's escapeString (mysql2's `escape`) escapes. */
const SQL_ESCAPES = escapeTable({ 0: '0', 8: 'b', 9: 't', 10: 'n', 13: 'r', 26: 'Z', 34: '"', 39: "'", 92: '\\' });
const NO_ESCAPES = new Uint8Array(128);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface LargeTuple {
  /** `(v1,v2,…)` as pieces of bytes (joined once, with the statement's start, by the caller). */
  pieces: Buffer[];
  /** Each value's SQL text when it is small (a key is compared by it), undefined for a large one. */
  parts: Array<string | undefined>;
}

/**
 * `encode(i, value)` is the usual path's SQL for a parsed value of column i. Large values of
 * `string` columns become quoted literals, of `base64` columns FROM_BASE64('…') (checked like the
 * usual path checks them); anything else is parsed and encoded as usual.
 */
export function largeRowTuple(bytes: Buffer, columns: ColumnInfo[], encode: (index: number, value: unknown) => string, fail: Fail, largeValueBytes = LARGE_VALUE_BYTES): LargeTuple {
  const pieces: Buffer[] = [Buffer.from('(')];
  const parts: Array<string | undefined> = [];
  forEachElement(bytes, columns.length, fail, (i, start, end, isString) => {
    if (i > 0) pieces.push(COMMA);
    const encoding = columns[i]!.encoding;
    if (isString && (encoding === 'string' || encoding === 'base64') && end - start - 2 >= largeValueBytes) {
      if (encoding === 'string') pieces.push(QUOTE, transcodeJsonString(bytes, start + 1, end - 1, SQL_ESCAPES, fail), QUOTE);
      else pieces.push(...fromBase64(bytes, start + 1, end - 1, columns[i]!, fail));
      parts.push(undefined);
    } else {
      const sql = encode(i, parseElement(bytes, start, end, fail));
      pieces.push(Buffer.from(sql));
      parts.push(sql);
    }
  });
  pieces.push(Buffer.from(')'));
  return { pieces, parts };
}

const COMMA = Buffer.from(',');
const QUOTE = Buffer.from("'");

function fromBase64(bytes: Buffer, from: number, to: number, column: ColumnInfo, fail: Fail): Buffer[] {
  const text = transcodeJsonString(bytes, from, to, NO_ESCAPES, fail);
  // Checked in slices: one regular expression over a huge string would need it as one string.
  const SLICE = 1024 * 1024;
  let ok = text.length % 4 === 0;
  for (let at = 0; ok && at < text.length; at += SLICE) {
    const slice = text.toString('latin1', at, Math.min(text.length, at + SLICE));
    ok = BASE64.test(slice) && (at + SLICE >= text.length || !slice.includes('='));
  }
  if (!ok) throw fail(`has a value that is not base64 for column "${column.name}" (base64)`);
  return [Buffer.from("FROM_BASE64('"), text, Buffer.from("')")];
}
