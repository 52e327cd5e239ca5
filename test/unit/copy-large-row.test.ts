/**
 * The byte-level path for large PostgreSQL restore rows (copy-large-row.ts) gives exactly the
 * usual path's COPY text — escapes, every kind of character, lone surrogates, NULLs, other
 * encodings — and refuses what the usual path refuses.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { jsonStringToCopyText } from '../../src/engines/postgres/copy-large-row.js';
import { NdjsonToCopyText, escapeCopyText } from '../../src/engines/postgres/import-codec.js';
import type { ColumnInfo, ValueEncoding } from '../../src/engines/types.js';

const column = (name: string, encoding: ValueEncoding): ColumnInfo => ({ name, type: 'text', nullable: true, encoding, autoIncrement: false, generated: false });
const COLUMNS = [column('id', 'number'), column('body', 'string'), column('flag', 'boolean'), column('blob', 'base64'), column('note', 'string')];

async function convert(text: string, largeRowBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const data = Buffer.from(text);
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += 5) pieces.push(data.subarray(i, i + 5));
  await pipeline(
    Readable.from(pieces),
    new NdjsonToCopyText('t', COLUMNS, undefined, undefined, largeRowBytes),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

const fail = (what: string) => new Error(what);
const SAMPLES = [
  '',
  'plain',
  'quote " back \\ slash / solidus',
  'tab\tnew\nline\rcr',
  '\b\f\u0001\u001f\u007f',
  'é ü 日本 🚀 𝄞',
  '\ud800 lone high',
  'lone low \udc00',
  '\\n is not a newline',
  'x'.repeat(70_000),
];

describe('large rows converted at byte level', () => {
  it("turns every JSON string into the usual path's COPY text, byte for byte", () => {
    const escaped = ['\\u0041\\u00e9\\u65e5\\ud83d\\ude80', '\\/\\b\\f\\n\\r\\t\\"\\\\', '\\u005c\\u000a\\u000d\\u0009\\u0000', '\\ud83d\\u0041', '\\uDBFF\\uDFFF'];
    for (const token of [...SAMPLES.map((s) => JSON.stringify(s)), ...escaped.map((e) => `"${e}"`)]) {
      const bytes = Buffer.from(token);
      const expected = Buffer.from(escapeCopyText(JSON.parse(token) as string));
      expect(jsonStringToCopyText(bytes, 1, bytes.length - 1, fail), token.slice(0, 40)).toEqual(expected);
    }
  });

  it('gives the same COPY text as the usual path for whole rows, and the same refusals', async () => {
    const rows = SAMPLES.map((s, i) => JSON.stringify([i, s, i % 2 === 0, i % 3 === 0 ? null : Buffer.from(s).toString('base64'), i % 4 === 0 ? null : `n${s.slice(0, 9)}`]));
    const text = ` ${rows[0]}\n${rows.slice(1).join('\n')}\n[ 99 , "x" , true , null , "spaced" ] \n`;
    const usual = await convert(text, Number.MAX_SAFE_INTEGER);
    expect(await convert(text, 1)).toEqual(usual);
    expect(usual.toString()).toContain('99\tx\tt\t\\N\tspaced\n');
    for (const bad of [
      '[1,"a",true,null]',
      '[1,"a",true,null,"b",2]',
      '{"a":1}',
      '[1,2,true,null,"b"]',
      '[1,"a\u0001",true,null,"b"]',
      '[1,"\\x",true,null,"b"]',
      '[1,"a",true,null,"b"] x',
    ]) {
      const [usualError, largeError] = await Promise.all([convert(`${bad}\n`, Number.MAX_SAFE_INTEGER).catch((e: Error) => e), convert(`${bad}\n`, 1).catch((e: Error) => e)]);
      expect(usualError, bad).toBeInstanceOf(Error);
      expect(largeError, bad).toBeInstanceOf(Error);
      expect((largeError as Error).message, bad).toMatch(/^Restoring table "t": line 1 of its rows /);
    }
  });
});
