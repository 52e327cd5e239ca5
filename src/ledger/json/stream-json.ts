/**
 * Reads one large JSON object from a file piece by piece: each value of the top-level object is
 * handed over as its own text — and, for the keys named in `streamed`, each element of that array
 * (or each entry of that object) instead of the whole. Memory stays at one element plus the read
 * buffer, whatever the file's size: a format-1 ledger of a million records is ~700 MB, more than
 * one JavaScript string may hold.
 *
 * It checks structure only (brackets, strings, commas and colons in place); the values themselves
 * are parsed by the caller with JSON.parse. A structural error names the byte offset, never text.
 */
import { createReadStream } from 'node:fs';

export interface StreamedValue {
  /** The top-level key. */
  key: string;
  /** For a streamed key: the element's index (array) or the entry's key (object); else undefined. */
  child?: number | string;
  /** The value's JSON text. */
  text: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

interface Frame {
  type: 'object' | 'array';
  expect: 'key' | 'colon' | 'value' | 'comma';
  key: string;
  index: number;
  /** Values seen so far (an empty container may close at once). */
  items: number;
  /** The top-level key this (level-2) container is the value of. */
  parent: string | null;
}

export class JsonStructureError extends Error {}

/** Calls `onValue` for every value as described above, in file order; awaits it after each read. */
export async function streamJsonObject(
  file: string,
  streamed: ReadonlySet<string>,
  onValue: (values: StreamedValue[]) => Promise<void>,
  options: { chunkBytes?: number } = {},
): Promise<void> {
  const frames: Frame[] = [];
  let done = false;
  let offset = 0;
  // A string being read outside a captured value (an object key).
  let keyBytes: Buffer[] | null = null;
  let keyStart = 0;
  // The value being captured: its pieces so far, its nesting (0 for a scalar) and its frame.
  let capture: { pieces: Buffer[]; nesting: number; frame: Frame } | null = null;
  let inString = false;
  let escaped = false;
  const fail = (at: number, what: string): never => {
    throw new JsonStructureError(`${what} at byte ${at}`);
  };

  for await (const chunk of createReadStream(file, { highWaterMark: options.chunkBytes ?? 1 << 20 }) as AsyncIterable<Buffer>) {
    const out: StreamedValue[] = [];
    let captureFrom = 0;
    const emit = (frame: Frame, end: number) => {
      capture!.pieces.push(chunk.subarray(captureFrom, end));
      const text = Buffer.concat(capture!.pieces).toString('utf8');
      capture = null;
      if (frame.parent === null) out.push({ key: frame.key, text });
      else out.push({ key: frame.parent, child: frame.type === 'array' ? frame.index : frame.key, text });
      frame.items += 1;
      frame.expect = 'comma';
    };
    for (let i = 0; i < chunk.length; i += 1) {
      const c = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) {
          inString = false;
          if (keyBytes) {
            keyBytes.push(chunk.subarray(keyStart, i + 1));
            const frame = frames[frames.length - 1]!;
            frame.key = JSON.parse(Buffer.concat(keyBytes).toString('utf8')) as string;
            frame.expect = 'colon';
            keyBytes = null;
          }
        }
        continue;
      }
      if (capture) {
        const open = capture as { nesting: number; frame: Frame };
        if (open.nesting === 0) {
          // A scalar ends at the first delimiter, which then belongs to its frame (no continue).
          if (!(isSpace(c) || c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY)) continue;
          emit(open.frame, i);
        } else {
          if (c === QUOTE) inString = true;
          else if (c === OPEN_OBJECT || c === OPEN_ARRAY) open.nesting += 1;
          else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
            open.nesting -= 1;
            if (open.nesting === 0) emit(open.frame, i + 1);
          }
          continue;
        }
      }
      if (isSpace(c)) continue;
      const at = offset + i;
      if (done) fail(at, 'Text after the end of the JSON value');
      const frame = frames[frames.length - 1];
      if (!frame) {
        if (c !== OPEN_OBJECT) fail(at, 'Not a JSON object');
        frames.push({ type: 'object', expect: 'key', key: '', index: 0, items: 0, parent: null });
        continue;
      }
      const closes = frame.type === 'object' ? CLOSE_OBJECT : CLOSE_ARRAY;
      if (c === closes && (frame.expect === 'comma' || (frame.items === 0 && frame.expect === (frame.type === 'object' ? 'key' : 'value')))) {
        frames.pop();
        if (frames.length === 0) done = true;
        continue;
      }
      if (frame.expect === 'comma') {
        if (c !== COMMA) fail(at, 'Expected a comma');
        if (frame.type === 'object') frame.expect = 'key';
        else {
          frame.index += 1;
          frame.expect = 'value';
        }
        continue;
      }
      if (frame.expect === 'key') {
        if (c !== QUOTE) fail(at, 'Expected a key');
        keyBytes = [];
        keyStart = i;
        inString = true;
        continue;
      }
      if (frame.expect === 'colon') {
        if (c !== COLON) fail(at, 'Expected a colon');
        frame.expect = 'value';
        continue;
      }
      // A value starts.
      if (c === COMMA || c === COLON || c === CLOSE_OBJECT || c === CLOSE_ARRAY) fail(at, 'Expected a value');
      const container = c === OPEN_OBJECT || c === OPEN_ARRAY;
      if (frame.parent === null && streamed.has(frame.key) && container) {
        frame.items += 1;
        frame.expect = 'comma';
        frames.push({ type: c === OPEN_ARRAY ? 'array' : 'object', expect: c === OPEN_ARRAY ? 'value' : 'key', key: '', index: 0, items: 0, parent: frame.key });
        continue;
      }
      capture = { pieces: [], nesting: container ? 1 : 0, frame };
      captureFrom = i;
      if (c === QUOTE) inString = true;
    }
    if (capture) (capture as { pieces: Buffer[] }).pieces.push(chunk.subarray(captureFrom));
    if (keyBytes) {
      keyBytes.push(chunk.subarray(keyStart));
      keyStart = 0;
    }
    offset += chunk.length;
    if (out.length > 0) await onValue(out);
  }
  if (!done) fail(offset, 'The JSON value ends too early');
}
