/**
 * The PostgreSQL export's path for large COPY rows (copy-out-large.ts: converted piece by piece as
 * the bytes arrive) writes exactly the NDJSON of the usual converter (NdjsonEncoder), however the
 * row is cut into pieces, and refuses what the usual converter refuses.
 */
import { describe, expect, it } from 'vitest';
import { LargeCopyRow } from '../../src/engines/postgres/copy-out-large.js';
import { NdjsonEncoder, WIRE, type Wire } from '../../src/engines/postgres/export-codec.js';

const WIRES: Wire[] = [WIRE.number, WIRE.boolean, WIRE.string, WIRE.timestamptz, WIRE.bytea, WIRE.string, WIRE.timestamp, WIRE.bytea];

/** A string's COPY text form, as PostgreSQL writes it. */
function copyText(value: string): string {
  return value.replace(/[\\\n\r\t\b\f\v]/g, (ch) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v' })[ch]!);
}

function sampleRow(big: number): Buffer {
  const text = Array.from({ length: big }, (_, i) => ['a', '"', '\\', '\n', '\t', '\u0001', 'é', '日', '🚀', '\v', ' ', '!', '\r'][i % 13]).join('');
  const binary = Buffer.alloc(big + 1, 0);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 131) & 0xff;
  const fields = ['-12345', 't', copyText(text), '2020-01-01 09:00:00.5+00', `\\\\x${binary.toString('hex')}`, '\\N', '1999-12-31 23:59:59', '\\\\x'];
  return Buffer.from(`${fields.join('\t')}\n`, 'utf8');
}

function usual(line: Buffer, wires = WIRES): Buffer {
  const encoder = new NdjsonEncoder('t', wires);
  encoder.convert(line, 0, line.length);
  return Buffer.from(encoder.take()!);
}

function large(line: Buffer, piece: number, wires = WIRES): Buffer {
  const out: Buffer[] = [];
  const encoder = new NdjsonEncoder('t', wires);
  const row = new LargeCopyRow(
    wires,
    (chunk) => out.push(chunk),
    (what) => encoder.bad(what),
  );
  for (let at = 0; at < line.length; at += piece) row.feed(line, at, Math.min(line.length, at + piece));
  row.end();
  return Buffer.concat(out);
}

describe('large COPY rows converted piece by piece', () => {
  it("gives the usual converter's bytes, cut at any size", () => {
    for (const size of [0, 1, 50, 3000]) {
      const line = sampleRow(size);
      const expected = usual(line);
      for (const piece of [1, 2, 3, 5, 7, 64, 4096, line.length]) expect(large(line, piece).equals(expected), `size ${size}, pieces of ${piece}`).toBe(true);
    }
    const line = sampleRow(400_000);
    expect(large(line, 65_536).equals(usual(line))).toBe(true);
    expect(large(line, 1_000_003).equals(usual(line))).toBe(true);
  });

  it('refuses what the usual converter refuses', () => {
    const wires: Wire[] = [WIRE.number, WIRE.string, WIRE.bytea];
    for (const bad of [
      '1\tx\t\\\\xab\n\n',
      '1\tx\n',
      '1\tx\t\\\\xab\tq\n',
      '\\Nx\tx\t\\\\x\n',
      '1\t\\q\t\\\\x\n',
      '1\tx\t\\\\xabc\n',
      '1\tx\t\\\\xzz\n',
      '1\tx\tab\n',
      '\tx\t\\\\x\n',
    ]) {
      const line = Buffer.from(bad);
      expect(() => usual(line, wires), bad).toThrow();
      expect(() => large(line, 1, wires), bad).toThrow();
    }
    // A row that does not end (the usual path's caller checks the newline first).
    expect(() => large(Buffer.from('1\tx\t\\\\x'), 1, wires)).toThrow(/not one line/);
  });
});
