/**
 * NDJSON → COPY text format, the PostgreSQL restore's converter: each value is written as its
 * type's text input (the form the export read), escaped for COPY, so it goes through its column's
 * input function exactly as in a pg_dump restore. Strict: a line that is not a JSON array of one
 * value per column, each of its column's encoding, fails the import (and the restore rolls back).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { OperationError, describeCause } from '../../errors.js';
import type { ColumnInfo } from '../types.js';

const COPY_TEXT_SPECIAL = /[\\\n\r\t]/;
const COPY_TEXT_SPECIAL_G = /[\\\n\r\t]/g;
const COPY_TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeCopyText = (value: string): string =>
  COPY_TEXT_SPECIAL.test(value) ? value.replace(COPY_TEXT_SPECIAL_G, (ch) => COPY_TEXT_ESCAPES[ch]!) : value;

/**
 * NDJSON rows (as written by exportTable) → COPY text format, line by line. Strict: every line
 * must be a JSON array with one value per column, each of its column's encoding, or the import
 * fails (and the restore rolls back).
 */
export class NdjsonToCopyText extends Transform {
  private pending: Buffer[] = [];
  private line = 0;
  rows = 0;

  constructor(
    private readonly table: string,
    private readonly columns: ColumnInfo[],
    private readonly onRows?: (rows: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const end = buffer.lastIndexOf(10);
      if (end === -1) {
        this.pending.push(buffer);
        callback();
        return;
      }
      const head = this.pending.length > 0 ? Buffer.concat([...this.pending, buffer.subarray(0, end)]) : buffer.subarray(0, end);
      this.pending = end + 1 < buffer.length ? [buffer.subarray(end + 1)] : [];
      callback(null, this.convert(head.toString('utf8')));
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      const rest = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      callback(null, rest.trim() === '' ? undefined : this.convert(rest));
    } catch (error) {
      callback(error as Error);
    }
  }

  private convert(text: string): string {
    const lines = text.split('\n');
    const columns = this.columns;
    const width = columns.length;
    let out = '';
    for (const line of lines) {
      this.line += 1;
      let values: unknown;
      try {
        values = JSON.parse(line);
      } catch (error) {
        throw this.bad(`is not valid JSON (${describeCause(error)})`);
      }
      if (!Array.isArray(values) || values.length !== width) {
        throw this.bad(`is not a JSON array of ${width} values`);
      }
      for (let i = 0; i < width; i += 1) {
        const value: unknown = values[i];
        if (i > 0) out += '\t';
        if (value === null) {
          out += '\\N';
          continue;
        }
        const column = columns[i]!;
        switch (column.encoding) {
          case 'string':
            if (typeof value !== 'string') throw this.badValue(column, value);
            out += escapeCopyText(value);
            break;
          case 'number':
            if (typeof value !== 'number') throw this.badValue(column, value);
            out += String(value);
            break;
          case 'boolean':
            if (typeof value !== 'boolean') throw this.badValue(column, value);
            out += value ? 't' : 'f';
            break;
          case 'base64':
            if (typeof value !== 'string') throw this.badValue(column, value);
            // bytea hex input `\x…`, its backslash escaped for COPY text.
            out += '\\\\x' + Buffer.from(value, 'base64').toString('hex');
            break;
          case 'json':
            throw this.badValue(column, value);
        }
      }
      out += '\n';
    }
    this.rows += lines.length;
    this.onRows?.(this.rows);
    return out;
  }

  private bad(what: string): OperationError {
    return new OperationError(`Restoring table "${this.table}": line ${this.line} of its rows ${what}.`, { details: { table: this.table, line: this.line } });
  }

  private badValue(column: ColumnInfo, value: unknown): OperationError {
    return this.bad(`has ${value === null ? 'null' : typeof value} for column "${column.name}", which is encoded as ${column.encoding}`);
  }
}
