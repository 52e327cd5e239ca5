/**
 * A large NDJSON row → its INSERT statement, at byte level (the MySQL/MariaDB restore's path for
 * rows of at least LARGE_ROW_BYTES). The usual path decodes the row into a string, parses it,
 * escapes each value into a new string, joins them into the statement, and mysql2 encodes that
 * string into its packet: several copies of a large value at once, and no value can exceed what a
 * JavaScript string holds (~512 MiB). Here the row's JSON array is scanned in its bytes, and the
 * statement is made of pieces: each large string value turned straight into its quoted SQL
 * literal's bytes (exactly what `mysql.escape` gives for the parsed value) — or, when nothing in it
 * needs escaping, the row's own bytes —, each large base64 value put in `FROM_BASE64('…')` as the
 * usual path writes it (the row's own bytes again). The pieces are sent as they are (driver.ts
 * `runStatement`): the row's bytes are then the only whole copy of the value.
 * test/unit/insert-large-row.test.ts compares the tuple with the usual path's.
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
const BACKSLASH = 0x5c;

export interface LargeStatement {
  /** `prefix` then `(v1,v2,…)`, as pieces of bytes: views of the row where a value needs no change. */
  pieces: Buffer[];
  /** Their total length. */
  bytes: number;
  /** Each value's SQL text when it is small (a key is compared by it), undefined for a large one. */
  parts: Array<string | undefined>;
}

const OPEN_BASE64 = Buffer.from("FROM_BASE64('");
const CLOSE_BASE64 = Buffer.from("')");
const QUOTE = Buffer.from("'");

/**
 * `encode(i, value)` is the usual path's SQL for a parsed value of column i. Large values of
 * `string` columns become quoted literals, of `base64` columns FROM_BASE64('…') (checked like the
 * usual path checks them); anything else is parsed and encoded as usual.
 */
export function largeRowStatement(
  bytes: Buffer,
  columns: ColumnInfo[],
  encode: (index: number, value: unknown) => string,
  fail: Fail,
  { prefix = '', largeValueBytes = LARGE_VALUE_BYTES }: { prefix?: string; largeValueBytes?: number } = {},
): LargeStatement {
  const pieces: Buffer[] = [];
  const parts: Array<string | undefined> = [];
  let sql = `${prefix}(`;
  const large = (...values: Buffer[]) => {
    pieces.push(Buffer.from(sql), ...values);
    sql = '';
    parts.push(undefined);
  };
  forEachElement(bytes, columns.length, fail, (i, start, end, isString) => {
    if (i > 0) sql += ',';
    const encoding = columns[i]!.encoding;
    const from = start + 1;
    const to = end - 1;
    if (isString && encoding === 'string' && to - from >= largeValueBytes) {
      // The row's own bytes when nothing in them changes (no JSON escape, nothing SQL escapes).
      large(QUOTE, unchanged(bytes, from, to, SQL_ESCAPES) ? bytes.subarray(from, to) : transcodeJsonString(bytes, from, to, SQL_ESCAPES, fail), QUOTE);
    } else if (isString && encoding === 'base64' && to - from >= largeValueBytes) {
      // Base64 needs no JSON escape; one (`\/`) is undone on the way, never assumed absent.
      const text = unchanged(bytes, from, to, NO_ESCAPES) ? bytes.subarray(from, to) : transcodeJsonString(bytes, from, to, NO_ESCAPES, fail);
      if (!isBase64(text)) throw fail(`has a value that is not base64 for column "${columns[i]!.name}" (base64)`);
      large(OPEN_BASE64, text, CLOSE_BASE64);
    } else {
      const value = encode(i, parseElement(bytes, start, end, fail));
      sql += value;
      parts.push(value);
    }
  });
  pieces.push(Buffer.from(`${sql})`));
  return { pieces, bytes: pieces.reduce((sum, piece) => sum + piece.length, 0), parts };
}

/** True when bytes[from, to) hold no JSON escape and no byte that `escapes` escapes. */
function unchanged(bytes: Buffer, from: number, to: number, escapes: Uint8Array): boolean {
  for (let at = from; at < to; at++) {
    const b = bytes[at]!;
    if (b === BACKSLASH || (b < 0x80 && escapes[b] !== 0)) return false;
  }
  return true;
}

/** Checked in slices: one regular expression over a huge string would need it as one string. */
function isBase64(text: Buffer): boolean {
  const SLICE = 1024 * 1024;
  if (text.length % 4 !== 0) return false;
  for (let at = 0; at < text.length; at += SLICE) {
    const slice = text.toString('latin1', at, Math.min(text.length, at + SLICE));
    if (!BASE64.test(slice) || (at + SLICE < text.length && slice.includes('='))) return false;
  }
  return true;
}

/** The tuple `(v1,v2,…)` alone, as pieces of bytes (tests compare it with the usual path's). */
export function largeRowTuple(bytes: Buffer, columns: ColumnInfo[], encode: (index: number, value: unknown) => string, fail: Fail, largeValueBytes = LARGE_VALUE_BYTES) {
  const { pieces, parts } = largeRowStatement(bytes, columns, encode, fail, { largeValueBytes });
  return { pieces, parts };
}
