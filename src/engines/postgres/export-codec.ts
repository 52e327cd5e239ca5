/**
 * COPY text format → NDJSON, on bytes: the PostgreSQL export's converter. COPY's text escapes
 * (`\\ \n \r \t \b \f \v`, raw other control characters) map one to one onto JSON's, and
 * the few types whose JSON form differs from their text form are rewritten here:
 * - int2, int4 → JSON numbers; bool `t`/`f` → `true`/`false`; bytea hex output → base64 without
 *   line breaks;
 * - timestamp / timestamptz → the JSON encoder's ISO 8601 form (`2020-01-01T09:00:00.123456+00:00`,
 *   TimeZone = UTC; `infinity` and `… BC` forms included), which the input functions accept too:
 *   the text form's date/time space becomes `T` and a whole-hour offset `+00` becomes `+00:00`
 *   (exactly the difference between PostgreSQL's ISO and XSD date styles);
 * - everything else → a JSON string of the type's own text output.
 * The output is byte for byte what the server's own JSON encoder (`json_build_array` with the
 * expressions of export.ts's `jsonExpression`) produces: test/integration/postgres-export-wire.test.ts
 * checks it. No JS object, no JS string per row or value.
 */
import { OperationError } from '../../errors.js';
import type { ColumnInfo } from '../types.js';
import { OID } from './catalog.js';

/** How a column's COPY text becomes its NDJSON value (see NdjsonEncoder). */
export const WIRE = { number: 0, boolean: 1, string: 2, timestamp: 3, timestamptz: 4, bytea: 5 } as const;
export type Wire = (typeof WIRE)[keyof typeof WIRE];

export function wireOf(column: ColumnInfo, baseOid: number): Wire {
  switch (column.encoding) {
    case 'number':
      return WIRE.number;
    case 'boolean':
      return WIRE.boolean;
    case 'base64':
      return WIRE.bytea;
    case 'json':
      throw new OperationError(`Column "${column.name}" has the encoding "json", which the PostgreSQL engine never writes.`);
    case 'string':
      return baseOid === OID.timestamp ? WIRE.timestamp : baseOid === OID.timestamptz ? WIRE.timestamptz : WIRE.string;
  }
}

// Bytes the converter reads and writes.
const TAB = 0x09;
export const LF = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const NULL_JSON = Buffer.from('null', 'latin1');
const TRUE_JSON = Buffer.from('true', 'latin1');
const FALSE_JSON = Buffer.from('false', 'latin1');
/** Whole-hour offsets (`+00`) get their minutes (`+00:00`), as in the JSON encoder's XSD style. */
const ZERO_MINUTES = Buffer.from(':00', 'latin1');
const OUTPUT_CHUNK = 2 * 1024 * 1024;
/**
 * The first output buffer of a table; each next one doubles, up to OUTPUT_CHUNK. A wide schema's
 * small tables then never allocate 2 MiB each (130 tables: 260 MiB of short-lived buffers, which
 * kept the garbage collector busy for ~0.1 s).
 */
const FIRST_OUTPUT_CHUNK = 64 * 1024;
/** NDJSON is handed downstream in pieces of at least this size (each piece costs every stage a call). */
export const PUSH_BYTES = 1024 * 1024;

/**
 * COPY text format → NDJSON, one JSON array per line, working on bytes. Raw tabs and newlines in
 * COPY text are always structure (data tabs/newlines arrive as `\t`/`\n`), so fields are cut
 * without decoding anything; `\N` alone is NULL. Inside strings, COPY's escapes
 * `\\ \n \r \t \b \f` are already JSON escapes and are copied; `\v` becomes `\u000b`, a raw `"`
 * becomes `\"`, other raw control characters `\u00xx` (what PostgreSQL's JSON encoder writes).
 * Anything unexpected (a column count or escape COPY never produces) fails the export instead of
 * writing a doubtful line.
 *
 * Output goes into large buffers; `take()` hands out what was written since the last call (a
 * view: later writes go after it, never over it).
 */
export class NdjsonEncoder {
  rows = 0;
  private out: Buffer = Buffer.alloc(0);
  private at = 0;
  private taken = 0;
  private chunk = FIRST_OUTPUT_CHUNK;

  constructor(
    private readonly table: string,
    readonly wires: readonly Wire[],
  ) {}

  /** Bytes written since the last take(). */
  pending(): number {
    return this.at - this.taken;
  }

  /** The NDJSON written since the last call, or undefined. */
  take(): Buffer | undefined {
    if (this.at === this.taken) return undefined;
    const bytes = this.out.subarray(this.taken, this.at);
    this.taken = this.at;
    return bytes;
  }

  /**
   * Converts the complete lines of buf[pos, end) (end is just past a newline) — in practice one
   * line: COPY sends each row as one message.
   */
  convert(buf: Buffer, pos: number, end: number): void {
    const wires = this.wires;
    const width = wires.length;
    let out = this.out;
    let o = this.at;
    while (pos < end) {
      // Worst case: every byte a control character (6 bytes each), plus per-field overhead.
      const need = (end - pos) * 6 + width * 8 + 16;
      if (o + need > out.length) {
        this.at = o;
        out = this.grow(need);
        o = this.at;
      }
      out[o++] = 0x5b; // [
      for (let column = 0; column < width; column++) {
        if (column > 0) out[o++] = COMMA;
        const terminator = column === width - 1 ? LF : TAB;
        let b: number;
        if (buf[pos] === BACKSLASH && buf[pos + 1] === 0x4e /* N */) {
          if (buf[pos + 2] !== terminator) throw this.bad(`has a malformed NULL in column ${column + 1}`);
          o += NULL_JSON.copy(out, o);
          pos += 3;
          continue;
        }
        switch (wires[column]) {
          case WIRE.number: {
            const start = o;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) out[o++] = b;
            if (o === start) throw this.bad(`has an empty number in column ${column + 1}`);
            break;
          }
          case WIRE.boolean: {
            const value = buf[pos++];
            b = buf[pos++]!;
            if (value === 0x74 /* t */) o += TRUE_JSON.copy(out, o);
            else if (value === 0x66 /* f */) o += FALSE_JSON.copy(out, o);
            else throw this.bad(`has a malformed boolean in column ${column + 1}`);
            break;
          }
          case WIRE.string: {
            out[o++] = QUOTE;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) {
              if (b > QUOTE && b !== BACKSLASH) {
                out[o++] = b;
              } else if (b === BACKSLASH) {
                const escaped = buf[pos++]!;
                if (escaped === 0x76 /* v */) {
                  o = writeUnicodeEscape(out, o, 0x0b);
                } else if (escaped === BACKSLASH || escaped === 0x6e || escaped === 0x72 || escaped === 0x74 || escaped === 0x62 || escaped === 0x66) {
                  out[o++] = BACKSLASH; // \\ \n \r \t \b \f: the same escape in JSON
                  out[o++] = escaped;
                } else {
                  throw this.bad(`has an unexpected escape in column ${column + 1}`);
                }
              } else if (b === QUOTE) {
                out[o++] = BACKSLASH;
                out[o++] = QUOTE;
              } else if (b < SPACE) {
                o = writeUnicodeEscape(out, o, b);
              } else {
                out[o++] = b; // space, !
              }
            }
            out[o++] = QUOTE;
            break;
          }
          case WIRE.timestamp:
          case WIRE.timestamptz: {
            // `2020-01-01 09:00:00.5+00 BC` → `2020-01-01T09:00:00.5+00:00 BC`; `infinity` as is.
            const zoned = wires[column] === WIRE.timestamptz;
            let spaces = 0;
            let offset = -1; // characters of the zone offset after its sign; -1 before it
            out[o++] = QUOTE;
            for (b = buf[pos++]!; b !== TAB && b !== LF; b = buf[pos++]!) {
              if (b === SPACE) {
                spaces += 1;
                if (spaces === 1) {
                  out[o++] = 0x54; // T
                  continue;
                }
                if (offset === 2) o += ZERO_MINUTES.copy(out, o);
                offset = -2;
              } else if (zoned && spaces === 1 && offset === -1 && (b === PLUS || b === MINUS)) {
                offset = 0;
              } else if (offset >= 0) {
                offset += 1;
              }
              out[o++] = b;
            }
            if (offset === 2) o += ZERO_MINUTES.copy(out, o);
            out[o++] = QUOTE;
            break;
          }
          case WIRE.bytea: {
            // Hex output, its backslash escaped by COPY: `\\x0aff…`.
            if (buf[pos] !== BACKSLASH || buf[pos + 1] !== BACKSLASH || buf[pos + 2] !== 0x78 /* x */) {
              throw this.bad(`has a bytea value not in hex form in column ${column + 1}`);
            }
            const hexStart = pos + 3;
            let hexEnd = hexStart;
            for (b = buf[hexEnd]!; b !== TAB && b !== LF; b = buf[++hexEnd]!);
            const bytes = Buffer.from(buf.toString('latin1', hexStart, hexEnd), 'hex');
            if (bytes.length * 2 !== hexEnd - hexStart) throw this.bad(`has malformed hex in column ${column + 1}`);
            out[o++] = QUOTE;
            o += out.write(bytes.toString('base64'), o, 'latin1');
            out[o++] = QUOTE;
            pos = hexEnd + 1;
            break;
          }
          default:
            throw this.bad(`column ${column + 1} has no converter`);
        }
        if (b !== terminator) throw this.bad(`does not have ${width} columns`);
      }
      out[o++] = 0x5d; // ]
      out[o++] = LF;
      this.rows += 1;
    }
    this.at = o;
  }

  /** A fresh output buffer with room for `need` bytes (what was written stays valid for take()). */
  private grow(need: number): Buffer {
    const pending = this.out.subarray(this.taken, this.at);
    const next = Buffer.allocUnsafe(Math.max(this.chunk, need + pending.length));
    this.chunk = Math.min(OUTPUT_CHUNK, this.chunk * 2);
    // Not yet taken bytes move along (rare: take() is called after every input chunk).
    pending.copy(next, 0);
    this.out = next;
    this.at = pending.length;
    this.taken = 0;
    return next;
  }

  bad(what: string): OperationError {
    return new OperationError(`Exporting table "${this.table}": row ${this.rows + 1} of COPY's output ${what}; the export was stopped.`, {
      details: { table: this.table, row: this.rows + 1 },
    });
  }
}

function writeUnicodeEscape(out: Buffer, o: number, code: number): number {
  out[o++] = BACKSLASH;
  out[o++] = 0x75; // u
  out[o++] = 0x30;
  out[o++] = 0x30;
  out[o++] = HEX_DIGITS[code >> 4]!;
  out[o++] = HEX_DIGITS[code & 15]!;
  return o;
}
