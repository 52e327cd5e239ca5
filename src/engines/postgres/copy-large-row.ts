/**
 * A large NDJSON row → COPY text, at byte level and in pieces (the PostgreSQL restore's path for
 * rows of at least LARGE_ROW_BYTES). The usual path decodes the row into a string, parses it and
 * encodes the values again: four copies of a large value at once, and nothing longer than a
 * JavaScript string (~512 MiB; a bytea's hex is twice the value). Here the row's JSON array is
 * scanned in its bytes, and each large value is turned into COPY text a slice at a time — a
 * string's JSON escapes undone and COPY's applied, a bytea's base64 decoded and written as `\\x`
 * hex — as pieces the caller hands on one by one (with back-pressure: see import-codec.ts), so
 * besides the row's own bytes only a slice is held. Other values are small and go through
 * `encodeValue`, like every value of an ordinary row.
 *
 * The output is byte for byte what the usual path gives (Buffer.from(escapeCopyText(JSON.parse(…)))
 * for strings, a lone surrogate included, which becomes U+FFFD; `\\x` + Buffer.from(base64).hex for
 * bytea); test/unit/copy-large-row.test.ts compares them. Strict like the usual path: anything that
 * is not a JSON array of one value per column fails.
 */
import { escapeTable, forEachElement, parseElement, transcodeJsonString, transcodeJsonStringStep, type Fail } from '../json-bytes.js';
import type { ColumnInfo } from '../types.js';

/** Rows at least this long (bytes) take this path. */
export const LARGE_ROW_BYTES = 1024 * 1024;
/** A string value at least this long (bytes, escaped) is transcoded at byte level. */
export const LARGE_VALUE_BYTES = 64 * 1024;
/** A large value's bytes converted at a time (a multiple of 4: base64 decodes in groups of 4). */
const SLICE_BYTES = 1024 * 1024;

/** COPY text escapes what escapeCopyText escapes: backslash, newline, carriage return, tab. */
const COPY_ESCAPES = escapeTable({ 0x5c: '\\', 0x0a: 'n', 0x0d: 'r', 0x09: 't' });
const NO_ESCAPES = new Uint8Array(128);
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BACKSLASH = 0x5c;
const HEX_PREFIX = Buffer.from('\\\\x', 'latin1');

/** The COPY text bytes of the JSON string whose content (between the quotes) is bytes[from, to). */
export function jsonStringToCopyText(bytes: Buffer, from: number, to: number, fail: Fail): Buffer {
  return transcodeJsonString(bytes, from, to, COPY_ESCAPES, fail);
}

export interface LargeRowOptions {
  columns: ColumnInfo[];
  /** The COPY text of one small value (`\N` for null), as the usual path writes it. */
  encodeValue(column: ColumnInfo, value: unknown): string;
  fail: Fail;
  /** Overridable for tests. */
  largeValueBytes?: number;
}

/** The row's COPY text line, in pieces. */
export function* largeRowToCopy(bytes: Buffer, options: LargeRowOptions): Generator<Buffer> {
  const { columns, encodeValue, fail } = options;
  const largeValue = options.largeValueBytes ?? LARGE_VALUE_BYTES;
  // The elements are located first (one walk over the row), then converted one after another.
  const elements: Array<{ start: number; end: number; isString: boolean }> = [];
  forEachElement(bytes, columns.length, fail, (_i, start, end, isString) => elements.push({ start, end, isString }));
  let out = '';
  for (const [i, { start, end, isString }] of elements.entries()) {
    if (i > 0) out += '\t';
    const column = columns[i]!;
    const large = isString && end - start - 2 >= largeValue;
    if (large && column.encoding === 'string') {
      yield Buffer.from(out);
      out = '';
      yield* stringSlices(bytes, start + 1, end - 1, fail);
    } else if (large && column.encoding === 'base64') {
      yield Buffer.from(out);
      out = '';
      yield* byteaSlices(bytes, start + 1, end - 1, fail, () => encodeValue(column, parseElement(bytes, start, end, fail)));
    } else {
      out += encodeValue(column, parseElement(bytes, start, end, fail));
    }
  }
  yield Buffer.from(`${out}\n`);
}

/** A JSON string's COPY text, a slice at a time (cut between escapes, never inside one). */
function* stringSlices(bytes: Buffer, from: number, to: number, fail: Fail): Generator<Buffer> {
  for (let at = from; at < to;) {
    const out = Buffer.allocUnsafe(2 * (SLICE_BYTES + 16));
    const step = transcodeJsonStringStep(out, 0, bytes, at, to, COPY_ESCAPES, fail, at + SLICE_BYTES);
    at = step.next;
    yield out.subarray(0, step.end);
  }
}

/**
 * A bytea's base64 as COPY's `\\x` hex input, a slice at a time. Base64 as a backup writes it (no
 * padding but at the end) is decoded in slices; anything else is decoded whole by `usual`, as the
 * usual path decodes it.
 */
function* byteaSlices(bytes: Buffer, from: number, to: number, fail: Fail, usual: () => string): Generator<Buffer> {
  // Base64 needs no JSON escape; one (`\/`) is undone first, never assumed absent.
  const text = bytes.subarray(from, to).includes(BACKSLASH) ? transcodeJsonString(bytes, from, to, NO_ESCAPES, fail) : bytes.subarray(from, to);
  if (!strictBase64(text)) {
    yield Buffer.from(usual());
    return;
  }
  yield HEX_PREFIX;
  for (let at = 0; at < text.length; at += SLICE_BYTES) {
    const decoded = Buffer.from(text.toString('latin1', at, Math.min(text.length, at + SLICE_BYTES)), 'base64');
    yield Buffer.from(decoded.toString('hex'), 'latin1');
  }
}

/** Groups of 4 of the base64 alphabet, `=` only at the very end (checked in slices). */
function strictBase64(text: Buffer): boolean {
  if (text.length % 4 !== 0) return false;
  for (let at = 0; at < text.length; at += SLICE_BYTES) {
    const slice = text.toString('latin1', at, Math.min(text.length, at + SLICE_BYTES));
    if (!STRICT_BASE64.test(slice) || (at + SLICE_BYTES < text.length && slice.includes('='))) return false;
  }
  return true;
}
