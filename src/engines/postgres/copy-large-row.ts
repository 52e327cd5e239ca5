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
import { escapeTable, forEachElement, parseElement, transcodeJsonString, type Fail } from '../json-bytes.js';
import type { ColumnInfo } from '../types.js';

/** Rows at least this long (bytes) take this path. */
export const LARGE_ROW_BYTES = 1024 * 1024;
/** A string value at least this long (bytes, escaped) is transcoded at byte level. */
export const LARGE_VALUE_BYTES = 64 * 1024;

/** COPY text escapes what escapeCopyText escapes: backslash, newline, carriage return, tab. */
const COPY_ESCAPES = escapeTable({ 0x5c: '\\', 0x0a: 'n', 0x0d: 'r', 0x09: 't' });

/** The COPY text bytes of the JSON string whose content (between the quotes) is bytes[from, to). */
export function jsonStringToCopyText(bytes: Buffer, from: number, to: number, fail: Fail): Buffer {
  return transcodeJsonString(bytes, from, to, COPY_ESCAPES, fail);
}

export interface LargeRowOptions {
  columns: ColumnInfo[];
  /** The COPY text of one small value (`\N` for null), as the usual path writes it. */
  encodeValue(column: ColumnInfo, value: unknown): string;
  emit(chunk: Buffer): void;
  fail: Fail;
  /** Overridable for tests. */
  largeValueBytes?: number;
}

export function largeRowToCopy(bytes: Buffer, options: LargeRowOptions): void {
  const { columns, encodeValue, emit, fail } = options;
  const largeValue = options.largeValueBytes ?? LARGE_VALUE_BYTES;
  let out = '';
  forEachElement(bytes, columns.length, fail, (i, start, end, isString) => {
    if (i > 0) out += '\t';
    const column = columns[i]!;
    if (isString && column.encoding === 'string' && end - start - 2 >= largeValue) {
      emit(Buffer.from(out));
      out = '';
      emit(jsonStringToCopyText(bytes, start + 1, end - 1, fail));
    } else {
      out += encodeValue(column, parseElement(bytes, start, end, fail));
    }
  });
  emit(Buffer.from(`${out}\n`));
}
