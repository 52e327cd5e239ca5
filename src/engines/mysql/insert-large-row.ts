/**
 * A large NDJSON row → its INSERT statement, at byte level (the MySQL/MariaDB restore's path for
 * rows of at least LARGE_ROW_BYTES). The usual path decodes the row into a string, parses it,
 * escapes each value into a new string, joins them into the statement, and mysql2 encodes that
 * string into its packet: several copies of a large value at once, and no value can exceed what a
 * JavaScript string holds (~512 MiB). Here the row's JSON array is scanned in its bytes, and the
 * statement is written once, into one buffer of its exact size: each large string value turned
 * straight into its quoted SQL literal's bytes (exactly what `mysql.escape` gives for the parsed
 * value), each large base64 value copied into `FROM_BASE64('…')` as the usual path writes it. The
 * buffer is sent as it is (driver.ts `runStatement`): while it is built, the row's bytes and the
 * statement are all that hold the value. test/unit/insert-large-row.test.ts compares the tuple
 * with the usual path's.
 */
import { escapeTable, forEachElement, parseElement, transcodedLength, transcodeJsonStringInto, type Fail } from '../json-bytes.js';
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
  /** `headroom` unused bytes, then `prefix`, then `(v1,v2,…)`. */
  statement: Buffer;
  /** Each value's SQL text when it is small (a key is compared by it), undefined for a large one. */
  parts: Array<string | undefined>;
}

/** One value of the tuple: its SQL as text (small), or a large value written from the row's bytes. */
type Part = { sql: string } | { large: 'string' | 'base64'; from: number; to: number; length: number; escaped: boolean };

const OPEN_BASE64 = Buffer.from("FROM_BASE64('");
const CLOSE_BASE64 = Buffer.from("')");

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
  { prefix = '', headroom = 0, largeValueBytes = LARGE_VALUE_BYTES }: { prefix?: string; headroom?: number; largeValueBytes?: number } = {},
): LargeStatement {
  const parts: Part[] = [];
  forEachElement(bytes, columns.length, fail, (i, start, end, isString) => {
    const encoding = columns[i]!.encoding;
    const from = start + 1;
    const to = end - 1;
    if (isString && encoding === 'string' && to - from >= largeValueBytes) {
      parts.push({ large: 'string', from, to, length: 2 + transcodedLength(bytes, from, to, SQL_ESCAPES, fail), escaped: true });
    } else if (isString && encoding === 'base64' && to - from >= largeValueBytes) {
      // Base64 needs no JSON escape; one (`\/`) is undone on the way, never assumed absent.
      const escaped = bytes.subarray(from, to).includes(BACKSLASH);
      const length = escaped ? transcodedLength(bytes, from, to, NO_ESCAPES, fail) : to - from;
      parts.push({ large: 'base64', from, to, length: OPEN_BASE64.length + length + CLOSE_BASE64.length, escaped });
    } else {
      parts.push({ sql: encode(i, parseElement(bytes, start, end, fail)) });
    }
  });
  const sqlLength = (part: Part) => ('sql' in part ? Buffer.byteLength(part.sql) : part.length);
  const total = headroom + Buffer.byteLength(prefix) + 2 + parts.reduce((sum, part, i) => sum + sqlLength(part) + (i > 0 ? 1 : 0), 0);
  const statement = Buffer.allocUnsafe(total);
  let at = headroom + statement.write(prefix, headroom);
  statement[at++] = 0x28; // (
  for (const [i, part] of parts.entries()) {
    if (i > 0) statement[at++] = 0x2c; // ,
    if ('sql' in part) {
      at += statement.write(part.sql, at);
    } else if (part.large === 'string') {
      statement[at++] = 0x27; // '
      at = transcodeJsonStringInto(statement, at, bytes, part.from, part.to, SQL_ESCAPES, fail);
      statement[at++] = 0x27;
    } else {
      at += OPEN_BASE64.copy(statement, at);
      const start = at;
      at = part.escaped ? transcodeJsonStringInto(statement, at, bytes, part.from, part.to, NO_ESCAPES, fail) : at + bytes.copy(statement, at, part.from, part.to);
      if (!isBase64(statement, start, at)) throw fail(`has a value that is not base64 for column "${columns[i]!.name}" (base64)`);
      at += CLOSE_BASE64.copy(statement, at);
    }
  }
  statement[at++] = 0x29; // )
  if (at !== total) throw fail('could not be converted (internal length mismatch)');
  return { statement, parts: parts.map((part) => ('sql' in part ? part.sql : undefined)) };
}

/** Checked in slices: one regular expression over a huge string would need it as one string. */
function isBase64(bytes: Buffer, from: number, to: number): boolean {
  const SLICE = 1024 * 1024;
  if ((to - from) % 4 !== 0) return false;
  for (let at = from; at < to; at += SLICE) {
    const slice = bytes.toString('latin1', at, Math.min(to, at + SLICE));
    if (!BASE64.test(slice) || (at + SLICE < to && slice.includes('='))) return false;
  }
  return true;
}

/** The tuple `(v1,v2,…)` alone, as pieces of bytes (tests compare it with the usual path's). */
export function largeRowTuple(bytes: Buffer, columns: ColumnInfo[], encode: (index: number, value: unknown) => string, fail: Fail, largeValueBytes = LARGE_VALUE_BYTES) {
  const { statement, parts } = largeRowStatement(bytes, columns, encode, fail, { largeValueBytes });
  return { pieces: [statement], parts };
}
