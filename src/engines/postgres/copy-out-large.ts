/**
 * One large COPY row → its NDJSON line, converted piece by piece as its bytes arrive (the
 * PostgreSQL export's path for CopyData messages of LARGE_MESSAGE_BYTES or more). The usual path
 * (NdjsonEncoder.convert) needs the whole row in one buffer and room for six times its size, and
 * turns a bytea's hex into one string: a 300 MiB bytea (600 MiB of hex) could not be exported at
 * all. Here nothing of the row is held: each piece is converted into a small output buffer that is
 * handed on as it fills, so the socket is read only as fast as the archive takes the output
 * (back-pressure reaches the server in the middle of a value) and memory stays flat whatever the
 * value's size — up to what the server itself can send (a row's COPY text is at most 1 GB).
 *
 * The bytes are those of the usual path: strings escaped the same way (a state machine carries a
 * backslash escape across pieces), bytea hex decoded and base64-encoded in runs of 3 bytes (so the
 * pieces join up), and the short types (numbers, booleans, timestamps) gathered whole and
 * converted by an NdjsonEncoder of that one column. test/unit/copy-out-large.test.ts cuts rows at
 * every offset and compares.
 */
import type { OperationError } from '../../errors.js';
import { LF, NdjsonEncoder, WIRE, type Wire } from './export-codec.js';

/** CopyData messages (one row) of at least this many bytes are converted piece by piece. */
export const LARGE_MESSAGE_BYTES = 1024 * 1024;
/** Output is handed on in pieces of this size. */
const OUTPUT_BYTES = 256 * 1024;
/** Decoded bytea bytes base64-encoded at a time (a multiple of 3). */
const BASE64_RUN = 48 * 1024;
/** The longest short-type value accepted (numeric's text can be ~150 KB). */
const MAX_SHORT_FIELD = 1024 * 1024;

const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const hexValue = (b: number): number => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1);

type Phase = 'field-start' | 'string' | 'short' | 'bytea-prefix' | 'bytea' | 'after-row';

export class LargeCopyRow {
  private readonly out = Buffer.allocUnsafe(OUTPUT_BYTES + 16);
  private at = 0;
  private column = 0;
  private phase: Phase = 'field-start';
  /** The first bytes of a field (NULL is `\N` then its terminator). */
  private head: number[] = [];
  private escaping = false;
  private short: number[] = [];
  private prefix = 0;
  private nibble = -1;
  private readonly decoded = Buffer.allocUnsafe(BASE64_RUN);
  private decodedBytes = 0;

  constructor(
    private readonly wires: readonly Wire[],
    private readonly emit: (chunk: Buffer) => void,
    private readonly bad: (what: string) => OperationError,
  ) {
    this.put(0x5b); // [
  }

  /** Converts the row's bytes buf[from, to) (a piece of the CopyData payload). */
  feed(buf: Buffer, from: number, to: number): void {
    let pos = from;
    while (pos < to) {
      // The bulk of a large value: plain string bytes copied, hex digits decoded, in tight loops.
      if (this.phase === 'string' && !this.escaping) pos = this.plainRun(buf, pos, to);
      else if (this.phase === 'bytea') pos = this.hexRun(buf, pos, to);
      if (pos < to) this.byte(buf[pos++]!);
    }
  }

  /** Copies the string bytes from `pos` that need no escape; returns where the first other one is. */
  private plainRun(buf: Buffer, pos: number, to: number): number {
    let end = pos;
    for (let b = buf[end]!; end < to && b > QUOTE && b !== BACKSLASH; b = buf[++end]!);
    this.write(buf, pos, end);
    return end;
  }

  /**
   * Decodes the hex digit pairs from `pos` up to the value's end or the piece's (natively, a run
   * at a time); a cut pair, the value's end and anything that is not hex are left to byteaByte.
   */
  private hexRun(buf: Buffer, pos: number, to: number): number {
    if (this.nibble !== -1) return pos;
    let end = to;
    const tab = buf.indexOf(TAB, pos);
    if (tab !== -1 && tab < end) end = tab;
    const lf = buf.indexOf(LF, pos);
    if (lf !== -1 && lf < end) end = lf;
    end -= (end - pos) % 2;
    while (pos < end) {
      const run = Math.min(end - pos, 2 * (BASE64_RUN - this.decodedBytes));
      const decoded = this.decoded.write(buf.toString('latin1', pos, pos + run), this.decodedBytes, 'hex');
      this.decodedBytes += decoded;
      if (decoded * 2 !== run) return pos + 2 * decoded; // not hex: byteaByte refuses it
      pos += run;
      if (this.decodedBytes === BASE64_RUN) this.encodeDecoded(false);
    }
    return pos;
  }

  /** The row's last byte was fed: checks it ended where a row ends, hands the rest on. */
  end(): void {
    if (this.phase !== 'after-row') throw this.bad('is not one line');
    this.flush();
  }

  private byte(b: number): void {
    switch (this.phase) {
      case 'string':
        return this.stringByte(b);
      case 'bytea':
        return this.byteaByte(b);
      case 'short':
        if (b === TAB || b === LF) return this.endShort(b);
        if (this.short.length >= MAX_SHORT_FIELD) throw this.bad(`has a value over ${MAX_SHORT_FIELD} bytes in column ${this.column + 1}`);
        this.short.push(b);
        return;
      case 'bytea-prefix':
        // `\\x`: the hex output's backslash, escaped by COPY.
        if (b !== (this.prefix < 2 ? BACKSLASH : 0x78)) throw this.bad(`has a bytea value not in hex form in column ${this.column + 1}`);
        if (++this.prefix === 3) {
          this.phase = 'bytea';
          this.put(QUOTE);
        }
        return;
      case 'field-start':
        return this.fieldStart(b);
      case 'after-row':
        throw this.bad('is not one line');
    }
  }

  /** Up to 3 bytes are looked at before a field's kind of value is known (`\N` + terminator is NULL). */
  private fieldStart(b: number): void {
    this.head.push(b);
    const head = this.head;
    if (head[0] === BACKSLASH && (head.length < 2 || head[1] === 0x4e) /* N */) {
      if (head.length < 3) return;
      if (b !== this.terminator()) throw this.bad(`has a malformed NULL in column ${this.column + 1}`);
      this.head = [];
      this.write('null');
      return this.nextColumn(b);
    }
    this.head = [];
    const wire = this.wires[this.column];
    if (wire === WIRE.string) {
      this.put(QUOTE);
      this.phase = 'string';
    } else if (wire === WIRE.bytea) {
      this.phase = 'bytea-prefix';
      this.prefix = 0;
      this.nibble = -1;
      this.decodedBytes = 0;
    } else {
      this.phase = 'short';
      this.short = [];
    }
    for (const pending of head) this.byte(pending);
  }

  private stringByte(b: number): void {
    if (this.escaping) {
      this.escaping = false;
      // COPY's \\ \n \r \t \b \f are JSON's; \v is not.
      if (b === 0x76 /* v */) return this.unicodeEscape(0x0b);
      if (b === BACKSLASH || b === 0x6e || b === 0x72 || b === 0x74 || b === 0x62 || b === 0x66) {
        this.put(BACKSLASH);
        return this.put(b);
      }
      throw this.bad(`has an unexpected escape in column ${this.column + 1}`);
    }
    if (b > QUOTE && b !== BACKSLASH) return this.put(b);
    if (b === BACKSLASH) {
      this.escaping = true;
      return;
    }
    if (b === TAB || b === LF) {
      this.put(QUOTE);
      return this.nextColumn(b);
    }
    if (b === QUOTE) {
      this.put(BACKSLASH);
      return this.put(QUOTE);
    }
    if (b < 0x20) return this.unicodeEscape(b);
    this.put(b); // space, !
  }

  private byteaByte(b: number): void {
    if (b === TAB || b === LF) {
      if (this.nibble !== -1) throw this.bad(`has malformed hex in column ${this.column + 1}`);
      this.encodeDecoded(true);
      this.put(QUOTE);
      return this.nextColumn(b);
    }
    const value = hexValue(b);
    if (value < 0) throw this.bad(`has malformed hex in column ${this.column + 1}`);
    if (this.nibble === -1) {
      this.nibble = value;
      return;
    }
    this.decoded[this.decodedBytes++] = (this.nibble << 4) | value;
    this.nibble = -1;
    if (this.decodedBytes === BASE64_RUN) this.encodeDecoded(false);
  }

  /** Base64 of the decoded bytes so far: all of them at the value's end, else whole runs of 3. */
  private encodeDecoded(last: boolean): void {
    const whole = last ? this.decodedBytes : this.decodedBytes - (this.decodedBytes % 3);
    if (whole > 0) this.write(Buffer.from(this.decoded.toString('base64', 0, whole), 'latin1'));
    this.decoded.copy(this.decoded, 0, whole, this.decodedBytes);
    this.decodedBytes -= whole;
  }

  private endShort(terminator: number): void {
    const wire = this.wires[this.column]!;
    const single = new NdjsonEncoder('', [wire]);
    const line = Buffer.from([...this.short, LF]);
    try {
      single.convert(line, 0, line.length);
    } catch (error) {
      // The same failure the usual path reports, for this column of this row.
      const reason = /: row \d+ of COPY's output (.*); the export was stopped\.$/.exec((error as Error).message)?.[1] ?? 'has a value that cannot be converted';
      throw this.bad(reason.replace('column 1', `column ${this.column + 1}`).replace('does not have 1 columns', `does not have ${this.wires.length} columns`));
    }
    const json = single.take()!;
    this.write(json, 1, json.length - 2); // without `[` and `]\n`
    this.short = [];
    this.nextColumn(terminator);
  }

  private nextColumn(terminator: number): void {
    if (terminator !== this.terminator()) throw this.bad(`does not have ${this.wires.length} columns`);
    this.column += 1;
    if (this.column === this.wires.length) {
      this.put(0x5d); // ]
      this.put(LF);
      this.phase = 'after-row';
      return;
    }
    this.put(0x2c); // ,
    this.phase = 'field-start';
  }

  private terminator(): number {
    return this.column === this.wires.length - 1 ? LF : TAB;
  }

  private unicodeEscape(code: number): void {
    this.write(`\\u00${HEX.toString('latin1', code >> 4, (code >> 4) + 1)}${HEX.toString('latin1', code & 15, (code & 15) + 1)}`);
  }

  private write(text: string | Buffer, from = 0, to?: number): void {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    const end = to ?? bytes.length;
    while (from < end) {
      const n = Math.min(end - from, OUTPUT_BYTES - this.at);
      bytes.copy(this.out, this.at, from, from + n);
      this.at += n;
      from += n;
      if (this.at >= OUTPUT_BYTES) this.flush();
    }
  }

  private put(b: number): void {
    this.out[this.at++] = b;
    if (this.at >= OUTPUT_BYTES) this.flush();
  }

  private flush(): void {
    if (this.at === 0) return;
    this.emit(Buffer.from(this.out.subarray(0, this.at)));
    this.at = 0;
  }
}
