/**
 * Helpers of the MySQL/MariaDB export's large-row path (MysqlRowEncoder.convertLarge): a row
 * packet's values located, and short values and text written exactly as the usual path writes them;
 * the JSON escapes both paths use.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** JSON.stringify's short escapes for control characters (0 = use \u00xx). */
const SHORT_ESCAPES = new Uint8Array(32);
SHORT_ESCAPES[0x08] = 0x62; // \b
SHORT_ESCAPES[0x09] = 0x74; // \t
SHORT_ESCAPES[0x0a] = 0x6e; // \n
SHORT_ESCAPES[0x0c] = 0x66; // \f
SHORT_ESCAPES[0x0d] = 0x72; // \r

/** Each value's [start, end) in a row packet, or null for NULL; checks the row holds `width` values. */
export function readValues(buf: Buffer, pos: number, end: number, width: number, bad: (what: string) => Error): Array<[number, number] | null> {
  const values: Array<[number, number] | null> = [];
  for (let column = 0; column < width; column++) {
    let length = buf[pos++]!;
    if (length === 0xfb) {
      values.push(null);
      continue;
    }
    if (length === 0xfc) {
      length = buf.readUInt16LE(pos);
      pos += 2;
    } else if (length === 0xfd) {
      length = buf.readUIntLE(pos, 3);
      pos += 3;
    } else if (length === 0xfe) {
      length = Number(buf.readBigUInt64LE(pos));
      pos += 8;
    }
    if (pos + length > end) throw bad(`is shorter than its column ${column + 1} says`);
    values.push([pos, pos + length]);
    pos += length;
  }
  if (pos !== end) throw bad(`does not have ${width} columns`);
  return values;
}

/** A number, zerofill number or server text (decimal, date, time) value, as `convert` writes it. */
export function writeShortValue(out: Buffer, o: number, form: 'number' | 'zerofill' | 'ascii', buf: Buffer, from: number, to: number, empty: () => Error): number {
  if (form === 'ascii') {
    out[o++] = QUOTE;
    o += buf.copy(out, o, from, to);
    out[o++] = QUOTE;
    return o;
  }
  if (from === to) throw empty();
  if (form === 'zerofill') while (from < to - 1 && buf[from] === 0x30) from++;
  return o + buf.copy(out, o, from, to);
}

/** Valid UTF-8 buf[from, to) as the inside of a JSON string, escaped as `convert` escapes it. */
export function escapeText(out: Buffer, o: number, buf: Buffer, from: number, to: number): number {
  for (let pos = from; pos < to; pos++) {
    const b = buf[pos]!;
    if (b > QUOTE && b !== BACKSLASH) {
      out[o++] = b;
    } else if (b === QUOTE || b === BACKSLASH) {
      out[o++] = BACKSLASH;
      out[o++] = b;
    } else if (b >= 0x20) {
      out[o++] = b;
    } else {
      o = escapeControl(out, o, b);
    }
  }
  return o;
}

/** A control character (< 0x20) as JSON.stringify escapes it: `\n`-style, else `\u00xx`. Returns the new offset. */
export function escapeControl(out: Buffer, o: number, b: number): number {
  if (SHORT_ESCAPES[b] !== 0) {
    out[o++] = BACKSLASH;
    out[o++] = SHORT_ESCAPES[b]!;
    return o;
  }
  out[o++] = BACKSLASH;
  out[o++] = 0x75; // u
  out[o++] = 0x30;
  out[o++] = 0x30;
  out[o++] = HEX_DIGITS[b >> 4]!;
  out[o++] = HEX_DIGITS[b & 15]!;
  return o;
}
