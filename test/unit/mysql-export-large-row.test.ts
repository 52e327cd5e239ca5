/**
 * The MySQL/MariaDB export's large-row path (MysqlRowEncoder.convertLarge: rows of 1 MiB or more,
 * written in bounded steps and flushed as they go) writes exactly the bytes of the usual path, for
 * every kind of value, and refuses what the usual path refuses.
 */
import { describe, expect, it } from 'vitest';
import { KIND, LARGE_ROW_BYTES, MysqlRowEncoder, type Kind } from '../../src/engines/mysql/export-codec.js';

/** A text-protocol row packet payload: length-encoded values (null → 0xFB). */
function rowPacket(values: Array<Buffer | null>): Buffer {
  const parts: Buffer[] = [];
  for (const value of values) {
    if (value === null) {
      parts.push(Buffer.from([0xfb]));
      continue;
    }
    const n = value.length;
    if (n < 0xfb) parts.push(Buffer.from([n]));
    else if (n < 0x10000) parts.push(Buffer.from([0xfc, n & 0xff, n >> 8]));
    else if (n < 0x1000000) parts.push(Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]));
    else {
      const header = Buffer.alloc(9);
      header[0] = 0xfe;
      header.writeBigUInt64LE(BigInt(n), 1);
      parts.push(header);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

function convertBoth(kinds: Kind[], values: Array<Buffer | null>): { usual: Buffer; large: Buffer; flushes: number } {
  const packet = rowPacket(values);
  const usual = new MysqlRowEncoder('t', kinds);
  usual.convert(packet, 0, packet.length);
  const large = new MysqlRowEncoder('t', kinds);
  const pieces: Buffer[] = [];
  let flushes = 0;
  large.convert(packet, 0, packet.length, () => {
    flushes += 1;
    const taken = large.take();
    if (taken) pieces.push(Buffer.from(taken));
  });
  const rest = large.take();
  if (rest) pieces.push(rest);
  expect(large.rows).toBe(1);
  return { usual: usual.take()!, large: Buffer.concat(pieces), flushes };
}

// Text with every escape, multi-byte characters placed across the 64 KiB slice boundaries.
function awkwardText(bytes: number): Buffer {
  const unit = Buffer.from('a"b\\c\n\t\r\b\f\u0001\u001f\u007f é 日本 🚀 ', 'utf8');
  const parts: Buffer[] = [];
  for (let n = 0, shift = 0; n < bytes; shift += 1) {
    const piece = unit.subarray(0, 1 + (shift % unit.length));
    parts.push(Buffer.from('x'.repeat(shift % 7)), Buffer.from('日本🚀'), piece.toString('utf8').endsWith('\ufffd') ? Buffer.from('z') : piece);
    n += 12 + piece.length;
  }
  return Buffer.from(Buffer.concat(parts).toString('utf8'), 'utf8'); // valid UTF-8 only
}

describe('MySQL/MariaDB export of large rows', () => {
  const kinds: Kind[] = [KIND.number, KIND.zerofill, KIND.ascii, KIND.text, KIND.base64, KIND.text, KIND.base64];

  it("writes the usual path's bytes in bounded, flushed steps", () => {
    const binary = Buffer.alloc(3 * 1024 * 1024 + 1);
    for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) & 0xff;
    const values = [Buffer.from('-42'), Buffer.from('000123'), Buffer.from('2024-01-02 03:04:05.123456'), awkwardText(2 * LARGE_ROW_BYTES), binary, Buffer.alloc(0), null];
    const { usual, large, flushes } = convertBoth(kinds, values);
    expect(large.equals(usual)).toBe(true);
    expect(flushes).toBeGreaterThan(3);
    // And it is JSON of the values.
    const parsed = JSON.parse(large.toString('utf8')) as unknown[];
    expect(parsed[0]).toBe(-42);
    expect(parsed[1]).toBe(123);
    expect(Buffer.from(parsed[4] as string, 'base64').equals(binary)).toBe(true);
    expect(parsed[3]).toBe(values[3]!.toString('utf8'));
  });

  it('takes the slow path whole for text that is not UTF-8, as the usual path does', () => {
    const text = Buffer.concat([Buffer.from('a'.repeat(LARGE_ROW_BYTES)), Buffer.from([0xff, 0xfe]), Buffer.from('end')]);
    const values = [Buffer.from('1'), Buffer.from('2'), Buffer.from('3'), text, Buffer.from('ab'), null, null];
    const { usual, large } = convertBoth(kinds, values);
    expect(large.equals(usual)).toBe(true);
  });

  it('refuses a row shorter or longer than its columns say', () => {
    const packet = rowPacket([Buffer.from('1'), Buffer.from('2'), Buffer.from('3'), Buffer.alloc(LARGE_ROW_BYTES, 0x61), null, null, null]);
    const encoder = new MysqlRowEncoder('t', kinds);
    expect(() => encoder.convert(packet, 0, packet.length - 1, () => undefined)).toThrow(/shorter than its column|does not have/);
    const longer = Buffer.concat([packet, Buffer.from([0xfb])]);
    expect(() => new MysqlRowEncoder('t', kinds).convert(longer, 0, longer.length, () => undefined)).toThrow(/does not have 7 columns/);
  });
});
