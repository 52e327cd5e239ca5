/**
 * NDJSON → COPY text format, the PostgreSQL restore's converter: each value is written as its
 * type's text input (the form the export read), escaped for COPY, so it goes through its column's
 * input function exactly as in a pg_dump restore. Strict: a line that is not a JSON array of one
 * value per column, each of its column's encoding, fails the import (and the restore rolls back).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { OperationError, describeCause } from '../../errors.js';
import { NdjsonLines } from '../ndjson-lines.js';
import { LARGE_ROW_BYTES, largeRowToCopy } from './copy-large-row.js';
import type { ColumnInfo } from '../types.js';

/** A text value at least this long goes out as its own chunk. */
const LARGE_VALUE_CHARS = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const COPY_TEXT_SPECIAL = /[\\\n\r\t]/;
const COPY_TEXT_SPECIAL_G = /[\\\n\r\t]/g;
const COPY_TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
export const escapeCopyText = (value: string): string => (COPY_TEXT_SPECIAL.test(value) ? value.replace(COPY_TEXT_SPECIAL_G, (ch) => COPY_TEXT_ESCAPES[ch]!) : value);

/**
 * NDJSON rows (as written by exportTable) → COPY text format, line by line. Strict: every line
 * must be a JSON array with one value per column, each of its column's encoding, or the import
 * fails (and the restore rolls back).
 */
export class NdjsonToCopyText extends Transform {
  private readonly lines: NdjsonLines;
  rows = 0;

  constructor(
    private readonly table: string,
    private readonly columns: ColumnInfo[],
    private readonly onRows?: (rows: number) => void,
    maxLineBytes?: number,
    /** Rows at least this long are converted at byte level (tests lower it). */
    private readonly largeRowBytes = LARGE_ROW_BYTES,
  ) {
    super();
    this.lines = new NdjsonLines(table, maxLineBytes);
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    let lines: Buffer[];
    try {
      lines = this.lines.cut(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.convert(lines, callback);
  }

  override _flush(callback: TransformCallback): void {
    let last: Buffer | null;
    try {
      last = this.lines.finish();
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.convert(last !== null && !isBlank(last) ? [last] : [], callback);
  }

  /** The reader wants more: a large row waiting to hand on its next piece goes on. */
  override _read(size: number): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    super._read(size);
  }

  /** Set while a large row waits for the reader (see _read). */
  private wake: (() => void) | undefined;

  /**
   * Pushes the COPY text of `lines`, then calls `done`. Memory: `lines` are emptied as they are
   * read, and a large row is converted at byte level (copy-large-row.ts), its pieces handed on one
   * at a time as the reader takes them — so a large value is never held twice, whatever its size.
   */
  private convert(lines: Buffer[], done: TransformCallback): void {
    const columns = this.columns;
    const width = columns.length;
    let out = '';
    try {
      for (let index = 0; index < lines.length; index += 1) {
        const lineNumber = this.lines.line - lines.length + index + 1;
        const bytes = lines[index]!;
        lines[index] = EMPTY;
        if (bytes.length >= this.largeRowBytes) {
          this.push(Buffer.from(out));
          const pieces = largeRowToCopy(bytes, {
            columns,
            encodeValue: (column, value) => this.encodeValue(column, value, lineNumber),
            fail: (what) => this.bad(what, lineNumber),
          });
          const rest = lines.slice(index + 1);
          this.rows += index;
          this.pushPieces(pieces).then(
            () => {
              this.rows += 1;
              this.convert(rest, done);
            },
            (error: Error) => done(error),
          );
          return;
        }
        let values: unknown;
        try {
          values = JSON.parse(bytes.toString('utf8'));
        } catch (error) {
          throw this.bad(`is not valid JSON (${describeCause(error)})`, lineNumber);
        }
        if (!Array.isArray(values) || values.length !== width) {
          throw this.bad(`is not a JSON array of ${width} values`, lineNumber);
        }
        for (let i = 0; i < width; i += 1) {
          if (i > 0) out += '\t';
          const value: unknown = values[i];
          if (typeof value === 'string' && value.length >= LARGE_VALUE_CHARS && columns[i]!.encoding === 'string') {
            this.push(Buffer.from(out));
            out = '';
            this.push(Buffer.from(escapeCopyText(value)));
          } else {
            out += this.encodeValue(columns[i]!, value, lineNumber);
          }
        }
        out += '\n';
      }
    } catch (error) {
      done(error as Error);
      return;
    }
    this.push(Buffer.from(out));
    this.rows += lines.length;
    this.onRows?.(this.rows);
    done();
  }

  /** Hands on a large row's pieces, waiting for the reader whenever it has enough. */
  private async pushPieces(pieces: Generator<Buffer>): Promise<void> {
    for (const piece of pieces) {
      if (!this.push(piece)) await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** One value's COPY text (`\N` for NULL), checked against its column's encoding. */
  private encodeValue(column: ColumnInfo, value: unknown, lineNumber: number): string {
    if (value === null) return '\\N';
    switch (column.encoding) {
      case 'string':
        if (typeof value !== 'string') throw this.badValue(column, value, lineNumber);
        return escapeCopyText(value);
      case 'number':
        if (typeof value !== 'number') throw this.badValue(column, value, lineNumber);
        return String(value);
      case 'boolean':
        if (typeof value !== 'boolean') throw this.badValue(column, value, lineNumber);
        return value ? 't' : 'f';
      case 'base64':
        if (typeof value !== 'string') throw this.badValue(column, value, lineNumber);
        // bytea hex input `\x…`, its backslash escaped for COPY text.
        return '\\\\x' + Buffer.from(value, 'base64').toString('hex');
      case 'json':
        throw this.badValue(column, value, lineNumber);
    }
  }

  private bad(what: string, line: number): OperationError {
    return new OperationError(`Restoring table "${this.table}": line ${line} of its rows ${what}.`, { details: { table: this.table, line } });
  }

  private badValue(column: ColumnInfo, value: unknown, line: number): OperationError {
    return this.bad(`has ${value === null ? 'null' : typeof value} for column "${column.name}", which is encoded as ${column.encoding}`, line);
  }
}

/** True when the bytes are only JSON white space (a last line that is no row). */
function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  return true;
}
