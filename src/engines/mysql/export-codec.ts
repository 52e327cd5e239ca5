/**
 * Text-protocol result rows → NDJSON, the MySQL/MariaDB export's encoder. Export queries run with
 * `typeCast: false`, so every value arrives as the raw bytes of the text protocol (the server's
 * own text form, or the raw bytes of binary columns) and never becomes a JS Date or Number:
 *
 * | type                                              | NDJSON                                  |
 * |---------------------------------------------------|-----------------------------------------|
 * | TINYINT SMALLINT MEDIUMINT INT (signed/unsigned)  | number (BOOLEAN = TINYINT(1) → 0/1)     |
 * | BIGINT, DECIMAL, DOUBLE                           | string: the server's text               |
 * | FLOAT                                             | string: `col + 0e0`, its exact double   |
 * | DATE DATETIME(n) TIME(n) YEAR                     | string: server text (zero dates too)    |
 * | TIMESTAMP(n)                                      | string `YYYY-MM-DD hh:mm:ss[.ffffff]`, UTC |
 * | CHAR VARCHAR *TEXT ENUM SET UUID INET4 INET6      | string                                  |
 * | JSON (MySQL type; MariaDB LONGTEXT + json_valid)  | string: the exact JSON text             |
 * | BINARY VARBINARY *BLOB BIT, spatial types         | base64 of the raw bytes                 |
 *
 * - FLOAT is read as `col + 0e0` because the server prints FLOAT with 6 significant digits
 *   (123456789 is stored as 123456792 and shown as 123457000): the double of the float is exact
 *   and turns back into the same float on insert.
 * - TIMESTAMP is kept in the server's form rather than ISO-8601: the session runs with
 *   `time_zone = '+00:00'`, so the text is the UTC instant and inserts back unchanged (MariaDB
 *   10.11 rejects both `…T…Z` and `…+00:00` literals in strict mode).
 * - JSON stays a string: MariaDB keeps the text verbatim, MySQL normalizes it anyway, and a JS
 *   round trip through JSON.parse would lose 64-bit integers inside documents.
 */
import { isUtf8 } from 'node:buffer';
import { OperationError } from '../../errors.js';
import { escapeControl, escapeText, readValues, writeShortValue } from './export-large-row.js';
import type { ColumnInfo } from '../types.js';

/**
 * How a column's text-protocol bytes become its NDJSON value (chosen once per column):
 * - NUMBER: the digits as they are (ZEROFILL: leading zeros dropped, as `Number()` would);
 * - ASCII: server text made of digits, signs, `-:. e` (decimal, float, date/time types):
 *   quoted, nothing to escape;
 * - TEXT: UTF-8 (utf8mb4 session) quoted and escaped exactly as JSON.stringify escapes a string;
 * - BASE64: the raw bytes, base64.
 */
export const KIND = { number: 0, zerofill: 1, ascii: 2, text: 3, base64: 4 } as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

const ASCII_TYPES = new Set(['bigint', 'decimal', 'float', 'double', 'date', 'datetime', 'timestamp', 'time', 'year']);

export function kindOf(column: ColumnInfo): Kind {
  const type = column.type.toLowerCase();
  const base = /^[a-z]+/.exec(type)?.[0] ?? type;
  if (column.encoding === 'number') return /\bzerofill\b/.test(type) ? KIND.zerofill : KIND.number;
  if (column.encoding === 'base64') return KIND.base64;
  return ASCII_TYPES.has(base) ? KIND.ascii : KIND.text;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NULL_JSON = Buffer.from('null', 'latin1');
/** Rows of at least this many bytes are converted in bounded steps (convertLarge). */
export const LARGE_ROW_BYTES = 1024 * 1024;
/** A large row's text is escaped this many bytes at a time (at most 6 × as many out). */
const LARGE_SLICE = 64 * 1024;
/** A large row's binary is encoded this many bytes at a time (a multiple of 3: base64 joins up). */
const BASE64_SLICE = 48 * 1024;
/** A large row's output goes downstream in pieces of about this size. */
const FLUSH_BYTES = 1024 * 1024;
const OUTPUT_CHUNK = 2 * 1024 * 1024;
/**
 * The first output buffer of a table; each next one doubles, up to OUTPUT_CHUNK. A wide schema's
 * small tables then never allocate 2 MiB each (130 tables: 260 MiB of short-lived buffers, which
 * kept the garbage collector busy for ~0.1 s).
 */
const FIRST_OUTPUT_CHUNK = 64 * 1024;

/**
 * Text-protocol result rows → NDJSON lines, straight from the packet bytes: each value is a
 * length-encoded string (0xFB = NULL) that is copied, quoted or escaped into a large output
 * buffer by its column's kind — no Buffer, string or array per row or value. A row whose text
 * is not valid UTF-8 (bytes the server could not convert) takes the slow path, which gives what
 * JSON.stringify of the decoded string gives (U+FFFD for bad bytes), as before.
 */
export class MysqlRowEncoder {
  rows = 0;
  private out: Buffer = Buffer.alloc(0);
  private at = 0;
  private taken = 0;
  private chunk = FIRST_OUTPUT_CHUNK;

  constructor(
    private readonly table: string,
    private readonly kinds: readonly Kind[],
  ) {}

  take(): Buffer | undefined {
    if (this.at === this.taken) return undefined;
    const bytes = this.out.subarray(this.taken, this.at);
    this.taken = this.at;
    return bytes;
  }

  pending(): number {
    return this.at - this.taken;
  }

  /**
   * Converts one row packet's payload buf[pos, end). A row of LARGE_ROW_BYTES or more is written
   * in bounded steps, `flush` handing the output downstream between them (convertLarge), when
   * the caller gives one.
   */
  convert(buf: Buffer, pos: number, end: number, flush?: () => void): void {
    if (flush && end - pos >= LARGE_ROW_BYTES) {
      for (const _step of this.convertLarge(buf, pos, end)) flush();
      return;
    }
    const kinds = this.kinds;
    const width = kinds.length;
    // Worst case: every byte a control character (6 bytes), base64 (4/3), plus per-value overhead.
    const need = (end - pos) * 6 + width * 8 + 16;
    if (this.at + need > this.out.length) this.grow(need);
    const rowStart = pos;
    const out = this.out;
    let o = this.at;
    out[o++] = 0x5b; // [
    for (let column = 0; column < width; column++) {
      if (column > 0) out[o++] = 0x2c;
      let length = buf[pos++]!;
      if (length === 0xfb) {
        o += NULL_JSON.copy(out, o);
        continue;
      }
      if (length >= 0xfc) {
        if (length === 0xfc) {
          length = buf.readUInt16LE(pos);
          pos += 2;
        } else if (length === 0xfd) {
          length = buf.readUIntLE(pos, 3);
          pos += 3;
        } else {
          length = Number(buf.readBigUInt64LE(pos));
          pos += 8;
        }
      }
      const valueEnd = pos + length;
      if (valueEnd > end) throw this.bad(`is shorter than its column ${column + 1} says`);
      switch (kinds[column]) {
        case KIND.number:
          if (length === 0) throw this.bad(`has an empty number in column ${column + 1}`);
          while (pos < valueEnd) out[o++] = buf[pos++]!;
          break;
        case KIND.zerofill: {
          let first = pos;
          while (first < valueEnd - 1 && buf[first] === 0x30) first++;
          if (length === 0) throw this.bad(`has an empty number in column ${column + 1}`);
          while (first < valueEnd) out[o++] = buf[first++]!;
          pos = valueEnd;
          break;
        }
        case KIND.ascii:
          out[o++] = QUOTE;
          while (pos < valueEnd) out[o++] = buf[pos++]!;
          out[o++] = QUOTE;
          break;
        case KIND.text:
          out[o++] = QUOTE;
          while (pos < valueEnd) {
            const b = buf[pos++]!;
            if (b > QUOTE && b !== BACKSLASH) {
              out[o++] = b;
              if (b >= 0x80) {
                // A multi-byte UTF-8 sequence, copied once it is known to be valid.
                const size = utf8SequenceLength(buf, pos - 1, valueEnd);
                if (size === 0) {
                  this.convertSlowly(buf, rowStart, end);
                  return;
                }
                for (let i = 1; i < size; i++) out[o++] = buf[pos++]!;
              }
            } else if (b === QUOTE || b === BACKSLASH) {
              out[o++] = BACKSLASH;
              out[o++] = b;
            } else if (b >= 0x20) {
              out[o++] = b; // space, !
            } else {
              o = escapeControl(out, o, b);
            }
          }
          out[o++] = QUOTE;
          break;
        case KIND.base64:
          out[o++] = QUOTE;
          o += out.write(buf.toString('base64', pos, valueEnd), o, 'latin1');
          out[o++] = QUOTE;
          pos = valueEnd;
          break;
      }
    }
    if (pos !== end) throw this.bad(`does not have ${width} columns`);
    out[o++] = 0x5d; // ]
    out[o++] = 0x0a;
    this.at = o;
    this.rows += 1;
  }

  /**
   * A large row, in bounded steps: each value in slices of LARGE_SLICE bytes, each slice written
   * into room it is sure to fit (no 6 × row-size buffer), yielding whenever FLUSH_BYTES of output
   * are pending (the caller takes them, and may wait for its reader before going on) — a value
   * never becomes one string or one output buffer, whatever its size. The bytes are those `convert`
   * writes; text is checked to be UTF-8 first (before anything of the row is handed on), so a row
   * that needs the slow path takes it whole.
   */
  *convertLarge(buf: Buffer, pos: number, end: number): Generator<void> {
    const values = readValues(buf, pos, end, this.kinds.length, (what) => this.bad(what));
    if (values.some((value, column) => value !== null && this.kinds[column] === KIND.text && !isUtf8(buf.subarray(value[0], value[1])))) {
      this.convertSlowly(buf, pos, end);
      return;
    }
    /** Room for `bytes` more (the output is taken at each yield, so the buffer stays small). */
    const room = (bytes: number) => {
      if (this.at + bytes > this.out.length) this.grow(bytes);
    };
    room(1);
    this.out[this.at++] = 0x5b; // [
    for (const [column, value] of values.entries()) {
      room(16);
      if (column > 0) this.out[this.at++] = 0x2c;
      if (value === null) {
        this.at += NULL_JSON.copy(this.out, this.at);
        continue;
      }
      const [from, to] = value;
      const kind = this.kinds[column]!;
      if (kind !== KIND.text && kind !== KIND.base64) {
        // Numbers and the server's own date/time/decimal text: short; written as the usual path writes them.
        room((to - from) * 6 + 16);
        this.at = writeShortValue(this.out, this.at, kind === KIND.ascii ? 'ascii' : kind === KIND.zerofill ? 'zerofill' : 'number', buf, from, to, () =>
          this.bad(`has an empty number in column ${column + 1}`),
        );
        continue;
      }
      this.out[this.at++] = QUOTE;
      for (let at = from; at < to;) {
        if (this.pending() >= FLUSH_BYTES) yield;
        const sliceEnd = Math.min(to, at + (kind === KIND.text ? LARGE_SLICE : BASE64_SLICE));
        room((sliceEnd - at) * 6 + 16);
        if (kind === KIND.base64) {
          this.at += this.out.write(buf.toString('base64', at, sliceEnd), this.at, 'latin1');
          at = sliceEnd;
        } else {
          // A UTF-8 sequence cut by the slice's end is finished first (at most 3 more bytes).
          let stop = sliceEnd;
          while (stop < to && (buf[stop]! & 0xc0) === 0x80) stop += 1;
          this.at = escapeText(this.out, this.at, buf, at, stop);
          at = stop;
        }
      }
      room(1);
      this.out[this.at++] = QUOTE;
    }
    room(2);
    this.out[this.at++] = 0x5d; // ]
    this.out[this.at++] = 0x0a;
    this.rows += 1;
  }

  /** The reference behaviour, for rows with bytes that are not UTF-8. */
  private convertSlowly(buf: Buffer, pos: number, end: number): void {
    const values = readValues(buf, pos, end, this.kinds.length, (what) => this.bad(what)).map((value, column) => {
      if (value === null) return 'null';
      const kind = this.kinds[column];
      const raw = buf.subarray(value[0], value[1]);
      if (kind === KIND.number) return raw.toString('latin1');
      if (kind === KIND.zerofill) return String(Number(raw.toString('latin1')));
      if (kind === KIND.ascii) return `"${raw.toString('latin1')}"`;
      if (kind === KIND.text) return JSON.stringify(raw.toString('utf8'));
      return `"${raw.toString('base64')}"`;
    });
    const line = Buffer.from(`[${values.join(',')}]\n`, 'utf8');
    if (this.at + line.length > this.out.length) this.grow(line.length);
    this.at += line.copy(this.out, this.at);
    this.rows += 1;
  }

  private grow(need: number): void {
    const pending = this.out.subarray(this.taken, this.at);
    const next = Buffer.allocUnsafe(Math.max(this.chunk, need + pending.length));
    this.chunk = Math.min(OUTPUT_CHUNK, this.chunk * 2);
    pending.copy(next, 0);
    this.out = next;
    this.at = pending.length;
    this.taken = 0;
  }

  private bad(what: string): OperationError {
    return new OperationError(`MySQL/MariaDB: exporting table "${this.table}": row ${this.rows + 1} of the result ${what}; the export was stopped.`, {
      details: { table: this.table, row: this.rows + 1 },
    });
  }
}

/**
 * Length of the valid UTF-8 sequence starting at buf[at] (a byte ≥ 0x80) that ends by `end`, or 0
 * if it is not valid UTF-8 (WHATWG rules: no overlong forms, no surrogates, nothing past U+10FFFF).
 */
function utf8SequenceLength(buf: Buffer, at: number, end: number): number {
  const lead = buf[at]!;
  let size: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) size = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    size = 3;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    size = 4;
    if (lead === 0xf0) low = 0x90;
    else if (lead === 0xf4) high = 0x8f;
  } else return 0;
  if (at + size > end) return 0;
  const second = buf[at + 1]!;
  if (second < low || second > high) return 0;
  for (let i = 2; i < size; i++) {
    const next = buf[at + i]!;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return size;
}
