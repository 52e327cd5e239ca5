/**
 * A large NDJSON row → COPY text, at byte level (the PostgreSQL restore's path for rows of at least
 * LARGE_ROW_BYTES). The usual path decodes the row into a string, parses it and encodes the values
 * again: four copies of a large value at once. Here the row's JSON array is scanned in its bytes;
 * each large string value is turned straight into its COPY text bytes (JSON escapes undone, COPY's
 * escapes applied), so the value is held twice at most: the row's bytes and their COPY form. Other
 * values are small and go through `encodeValue`, like every value of an ordinary row.
 *
 * The output is byte for byte what the usual path gives (Buffer.from(escapeCopyText(JSON.parse(…))),
 * a lone surrogate included, which becomes U+FFFD); test/unit/copy-large-row.test.ts compares them.
 * Strict like the usual path: anything that is not a JSON array of one value per column fails.
 */
import type { ColumnInfo } from '../types.js';

/** Rows at least this long (bytes) take this path. */
export const LARGE_ROW_BYTES = 1024 * 1024;
/** A string value at least this long (bytes, escaped) is transcoded at byte level. */
export const LARGE_VALUE_BYTES = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface LargeRowOptions {
  columns: ColumnInfo[];
  /** The COPY text of one small value (`\N` for null), as the usual path writes it. */
  encodeValue(column: ColumnInfo, value: unknown): string;
  emit(chunk: Buffer): void;
  fail(what: string): Error;
  /** Overridable for tests. */
  largeValueBytes?: number;
}

export function largeRowToCopy(bytes: Buffer, options: LargeRowOptions): void {
  const { columns, encodeValue, emit, fail } = options;
  const largeValue = options.largeValueBytes ?? LARGE_VALUE_BYTES;
  const width = columns.length;
  const notArray = () => fail(`is not a JSON array of ${width} values`);
  const skipSpace = (at: number) => {
    while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x09 || bytes[at] === 0x0a || bytes[at] === 0x0d)) at += 1;
    return at;
  };
  const parse = (from: number, to: number): unknown => {
    try {
      return JSON.parse(bytes.toString('utf8', from, to));
    } catch {
      throw fail('is not valid JSON');
    }
  };
  let at = skipSpace(0);
  if (bytes[at] !== 0x5b /* [ */) throw notArray();
  at += 1;
  let out = '';
  for (let i = 0; i < width; i += 1) {
    at = skipSpace(at);
    if (i > 0) out += '\t';
    const column = columns[i]!;
    if (bytes[at] === QUOTE && column.encoding === 'string') {
      const end = stringEnd(bytes, at, fail);
      if (end - at - 1 >= largeValue) {
        emit(Buffer.from(out));
        out = '';
        emit(jsonStringToCopyText(bytes, at + 1, end, fail));
      } else {
        out += encodeValue(column, parse(at, end + 1));
      }
      at = end + 1;
    } else {
      const end = elementEnd(bytes, at, fail);
      out += encodeValue(column, parse(at, end));
      at = end;
    }
    at = skipSpace(at);
    if (bytes[at] !== (i < width - 1 ? 0x2c /* , */ : 0x5d) /* ] */) throw notArray();
    at += 1;
  }
  if (width === 0) {
    at = skipSpace(at);
    if (bytes[at] !== 0x5d) throw notArray();
    at += 1;
  }
  if (skipSpace(at) !== bytes.length) throw notArray();
  emit(Buffer.from(`${out}\n`));
}

/** Index of the closing quote of the JSON string opening at `start`. */
function stringEnd(bytes: Buffer, start: number, fail: (what: string) => Error): number {
  for (let at = start + 1; at < bytes.length; ) {
    const b = bytes[at]!;
    if (b === QUOTE) return at;
    if (b === BACKSLASH) at += 2;
    else if (b < 0x20) throw fail('is not valid JSON (a control character inside a string)');
    else at += 1;
  }
  throw fail('is not valid JSON (a string does not end)');
}

/** Index of the `,` or `]` ending the array element that starts at `start` (strings and nesting skipped). */
function elementEnd(bytes: Buffer, start: number, fail: (what: string) => Error): number {
  let depth = 0;
  for (let at = start; at < bytes.length; at += 1) {
    const b = bytes[at]!;
    if (b === QUOTE) at = stringEnd(bytes, at, fail);
    else if (b === 0x5b || b === 0x7b) depth += 1;
    else if ((b === 0x5d || b === 0x7d) && depth > 0) depth -= 1;
    else if (depth === 0 && (b === 0x2c || b === 0x5d)) return at;
  }
  throw fail(`is not a JSON array (it does not end)`);
}

const hexValue = (b: number): number => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1);

/** The COPY text bytes of the JSON string whose content (between the quotes) is bytes[from, to). */
export function jsonStringToCopyText(bytes: Buffer, from: number, to: number, fail: (what: string) => Error): Buffer {
  // Worst case: every `\\` (2 bytes) becomes `\\\\` (4). Pages of the unused rest are never touched.
  const out = Buffer.allocUnsafe((to - from) * 2 + 8);
  let w = 0;
  const hex4 = (at: number): number => {
    let value = 0;
    for (let k = 0; k < 4; k += 1) {
      const digit = hexValue(bytes[at + k] ?? -1);
      if (digit < 0 || at + k >= to) throw fail('is not valid JSON (a bad \\u escape)');
      value = value * 16 + digit;
    }
    return value;
  };
  for (let at = from; at < to; ) {
    const b = bytes[at]!;
    if (b !== BACKSLASH) {
      out[w++] = b;
      at += 1;
      continue;
    }
    const escape = bytes[at + 1];
    at += 2;
    switch (escape) {
      case QUOTE:
        out[w++] = QUOTE;
        break;
      case BACKSLASH:
        out[w++] = BACKSLASH;
        out[w++] = BACKSLASH;
        break;
      case 0x2f: // /
        out[w++] = 0x2f;
        break;
      case 0x62: // b: the character itself, as the usual path writes it
        out[w++] = 0x08;
        break;
      case 0x66: // f
        out[w++] = 0x0c;
        break;
      case 0x6e: // n, r, t: COPY's own escapes, the same two bytes
      case 0x72:
      case 0x74:
        out[w++] = BACKSLASH;
        out[w++] = escape;
        break;
      case 0x75: {
        // u
        let code = hex4(at);
        at += 4;
        if (code >= 0xd800 && code <= 0xdbff && bytes[at] === BACKSLASH && bytes[at + 1] === 0x75 && at + 6 <= to) {
          const low = hex4(at + 2);
          if (low >= 0xdc00 && low <= 0xdfff) {
            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
            at += 6;
          }
        }
        if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate, as Buffer.from(string) writes it
        w = writeCodePoint(out, w, code);
        break;
      }
      default:
        throw fail('is not valid JSON (a bad escape in a string)');
    }
  }
  return out.subarray(0, w);
}

/** UTF-8 of one code point, COPY-escaped where the usual path escapes it (\\ \n \r \t). */
function writeCodePoint(out: Buffer, w: number, code: number): number {
  if (code === 0x5c || code === 0x0a || code === 0x0d || code === 0x09) {
    out[w++] = BACKSLASH;
    out[w++] = code === 0x5c ? BACKSLASH : code === 0x0a ? 0x6e : code === 0x0d ? 0x72 : 0x74;
  } else if (code < 0x80) {
    out[w++] = code;
  } else if (code < 0x800) {
    out[w++] = 0xc0 | (code >> 6);
    out[w++] = 0x80 | (code & 0x3f);
  } else if (code < 0x10000) {
    out[w++] = 0xe0 | (code >> 12);
    out[w++] = 0x80 | ((code >> 6) & 0x3f);
    out[w++] = 0x80 | (code & 0x3f);
  } else {
    out[w++] = 0xf0 | (code >> 18);
    out[w++] = 0x80 | ((code >> 12) & 0x3f);
    out[w++] = 0x80 | ((code >> 6) & 0x3f);
    out[w++] = 0x80 | (code & 0x3f);
  }
  return w;
}
