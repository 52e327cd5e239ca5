/** Cutting a restore's NDJSON stream into lines: exact across chunks, and bounded (issue 18, point 7). */
import { describe, expect, it } from 'vitest';
import { MAX_NDJSON_LINE_BYTES, NdjsonLines } from '../../src/engines/ndjson-lines.js';
import { ArchiveError } from '../../src/errors.js';

const cut = (chunks: Buffer[], max?: number) => {
  const lines = new NdjsonLines('t', max);
  const out = chunks.flatMap((chunk) => lines.push(chunk));
  const last = lines.end();
  return last === null ? out : [...out, last];
};

describe('NdjsonLines', () => {
  it('cuts at every chunk boundary, multi-byte characters included', () => {
    const text = '["é🚀",1]\n["x",2]\n\n["ü",3]';
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size += 1) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(cut(chunks), `chunks of ${size}`).toEqual(text.split('\n'));
    }
  });

  it('refuses a line past the bound as soon as its bytes pass it, newline or not', () => {
    const lines = new NdjsonLines('customers', 10);
    expect(lines.push(Buffer.from('["ok"]\n["12'))).toHaveLength(1);
    expect(lines.push(Buffer.from('345678'))).toEqual([]);
    expect(() => lines.push(Buffer.from('9'))).toThrow(ArchiveError);
    expect(() => new NdjsonLines('customers', 10).push(Buffer.from('["12345678901"]\n'))).toThrow(/Table "customers": line 1 of the archive is longer than 10 bytes/);
    expect(cut([Buffer.from('1234567890\n')], 10)).toEqual(['1234567890']);
  });

  it('bounds lines above the largest row a backup writes (a 1 GB value, base64) and below what a Buffer can hold', () => {
    // Lines of 1 MiB or more are read at byte level (never one string), so the bound is no longer
    // V8's string length but the largest value the databases hold.
    expect(MAX_NDJSON_LINE_BYTES).toBeGreaterThan(Math.ceil((1024 ** 3 * 4) / 3));
    expect(MAX_NDJSON_LINE_BYTES).toBeLessThan(2 ** 31);
  });
});
