/**
 * Reading a JSON array (one NDJSON row) at byte level, for rows too large to become one string:
 * finding its elements, and turning a JSON string's bytes straight into another syntax's escaped
 * bytes (COPY text for PostgreSQL, a quoted SQL literal for MySQL/MariaDB) without ever making the
 * value a JavaScript string. Used by postgres/copy-large-row.ts and mysql/insert-large-row.ts.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export type Fail = (what: string) => Error;

export function skipSpace(bytes: Buffer, at: number): number {
  while (at < bytes.length && (bytes[at] === 0x20 || bytes[at] === 0x09 || bytes[at] === 0x0a || bytes[at] === 0x0d)) at += 1;
  return at;
}

/** Index of the closing quote of the JSON string opening at `start`. */
export function stringEnd(bytes: Buffer, start: number, fail: Fail): number {
  for (let at = start + 1; at < bytes.length;) {
    const b = bytes[at]!;
    if (b === QUOTE) return at;
    if (b === BACKSLASH) at += 2;
    else if (b < 0x20) throw fail('is not valid JSON (a control character inside a string)');
    else at += 1;
  }
  throw fail('is not valid JSON (a string does not end)');
}

/** Index of the `,` or `]` ending the array element that starts at `start` (strings and nesting skipped). */
export function elementEnd(bytes: Buffer, start: number, fail: Fail): number {
  let depth = 0;
  for (let at = start; at < bytes.length; at += 1) {
    const b = bytes[at]!;
    if (b === QUOTE) at = stringEnd(bytes, at, fail);
    else if (b === 0x5b || b === 0x7b) depth += 1;
    else if ((b === 0x5d || b === 0x7d) && depth > 0) depth -= 1;
    else if (depth === 0 && (b === 0x2c || b === 0x5d)) return at;
  }
  throw fail('is not a JSON array (it does not end)');
}

/**
 * Walks the JSON array that is the whole of `bytes` (white space aside): exactly `width` elements,
 * `visit(index, start, end, isString)` called for each in order, [start, end) its bytes (a string's
 * quotes included). Anything else — another count, another shape, bytes after the array — fails
 * with "is not a JSON array of <width> values".
 */
export function forEachElement(bytes: Buffer, width: number, fail: Fail, visit: (index: number, start: number, end: number, isString: boolean) => void): void {
  const notArray = () => fail(`is not a JSON array of ${width} values`);
  let at = skipSpace(bytes, 0);
  if (bytes[at] !== 0x5b) throw notArray();
  at = skipSpace(bytes, at + 1);
  if (width === 0) {
    if (bytes[at] !== 0x5d) throw notArray();
    at += 1;
  }
  for (let i = 0; i < width; i += 1) {
    at = skipSpace(bytes, at);
    const isString = bytes[at] === QUOTE;
    const end = isString ? stringEnd(bytes, at, fail) + 1 : elementEnd(bytes, at, fail);
    visit(i, at, end, isString);
    at = skipSpace(bytes, end);
    if (bytes[at] !== (i < width - 1 ? 0x2c : 0x5d)) throw notArray();
    at += 1;
  }
  if (skipSpace(bytes, at) !== bytes.length) throw notArray();
}

/** The element's value, parsed (small elements only). */
export function parseElement(bytes: Buffer, start: number, end: number, fail: Fail): unknown {
  try {
    return JSON.parse(bytes.toString('utf8', start, end));
  } catch {
    throw fail('is not valid JSON');
  }
}

/**
 * Which ASCII characters the target syntax escapes, as the letter after its backslash (0: none):
 * a character is written `\` + letter, everything else as its UTF-8 bytes.
 */
export function escapeTable(entries: Record<number, string>): Uint8Array {
  const table = new Uint8Array(128);
  for (const [code, letter] of Object.entries(entries)) table[Number(code)] = letter.charCodeAt(0);
  return table;
}

const hexValue = (b: number): number => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1);

/**
 * The bytes of the JSON string whose content (between its quotes) is bytes[from, to), with its
 * JSON escapes undone and `escapes` applied: what escaping JSON.parse's result would give, byte
 * for byte (a lone surrogate becomes U+FFFD, as Buffer.from(string) writes it).
 */
export function transcodeJsonString(bytes: Buffer, from: number, to: number, escapes: Uint8Array, fail: Fail): Buffer {
  // Worst case: a 2-byte JSON escape becoming 2 bytes, a plain byte becoming 2. The pages of the
  // unused rest of the allocation are never touched.
  const out = Buffer.allocUnsafe((to - from) * 2 + 8);
  return out.subarray(0, transcodeJsonStringInto(out, 0, bytes, from, to, escapes, fail));
}

/**
 * transcodeJsonString into `out` from `at` (room for 2 × (to − from) + 8 bytes); returns the index
 * after the last byte written. `out` null: only counts.
 */
export function transcodeJsonStringInto(out: Buffer | null, at: number, bytes: Buffer, from: number, to: number, escapes: Uint8Array, fail: Fail): number {
  return transcodeJsonStringStep(out, at, bytes, from, to, escapes, fail, to).end;
}

/**
 * As transcodeJsonStringInto, stopping at the first escape boundary at or after `stopAt` (input
 * index): `next` is where to go on, `end` the index after the last byte written. A slice of input
 * [from, stopAt) writes at most 2 × its length + 12 bytes.
 */
export function transcodeJsonStringStep(
  out: Buffer | null,
  outAt: number,
  bytes: Buffer,
  from: number,
  to: number,
  escapes: Uint8Array,
  fail: Fail,
  stopAt: number,
): { next: number; end: number } {
  let w = outAt;
  const put = (code: number) => {
    if (code < 0x80) {
      const letter = escapes[code]!;
      if (letter !== 0) {
        if (out) {
          out[w] = BACKSLASH;
          out[w + 1] = letter;
        }
        w += 2;
      } else {
        if (out) out[w] = code;
        w += 1;
      }
    } else if (code < 0x800) {
      if (out) {
        out[w] = 0xc0 | (code >> 6);
        out[w + 1] = 0x80 | (code & 0x3f);
      }
      w += 2;
    } else if (code < 0x10000) {
      if (out) {
        out[w] = 0xe0 | (code >> 12);
        out[w + 1] = 0x80 | ((code >> 6) & 0x3f);
        out[w + 2] = 0x80 | (code & 0x3f);
      }
      w += 3;
    } else {
      if (out) {
        out[w] = 0xf0 | (code >> 18);
        out[w + 1] = 0x80 | ((code >> 12) & 0x3f);
        out[w + 2] = 0x80 | ((code >> 6) & 0x3f);
        out[w + 3] = 0x80 | (code & 0x3f);
      }
      w += 4;
    }
  };
  const hex4 = (at: number): number => {
    let value = 0;
    for (let k = 0; k < 4; k += 1) {
      const digit = at + k < to ? hexValue(bytes[at + k]!) : -1;
      if (digit < 0) throw fail('is not valid JSON (a bad \\u escape)');
      value = value * 16 + digit;
    }
    return value;
  };
  let at = from;
  while (at < to && at < stopAt) {
    const b = bytes[at]!;
    if (b !== BACKSLASH) {
      // Multi-byte UTF-8 is copied as it is; only ASCII can need escaping.
      if (b < 0x80 && escapes[b] !== 0) put(b);
      else {
        if (out) out[w] = b;
        w += 1;
      }
      at += 1;
      continue;
    }
    const escape = bytes[at + 1];
    at += 2;
    switch (escape) {
      case QUOTE:
      case BACKSLASH:
      case 0x2f: // /
        put(escape);
        break;
      case 0x62: // b
        put(0x08);
        break;
      case 0x66: // f
        put(0x0c);
        break;
      case 0x6e: // n
        put(0x0a);
        break;
      case 0x72: // r
        put(0x0d);
        break;
      case 0x74: // t
        put(0x09);
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
        put(code >= 0xd800 && code <= 0xdfff ? 0xfffd : code);
        break;
      }
      default:
        throw fail('is not valid JSON (a bad escape in a string)');
    }
  }
  return { next: at, end: w };
}
