/**
 * SQLite values ⇄ NDJSON: storage classes, not column types.
 *
 * SQLite typing is dynamic: a declared type only gives the column an affinity, and one column can
 * hold INTEGER, REAL, TEXT, BLOB and NULL values side by side. An exact round trip therefore keeps
 * each VALUE's storage class. better-sqlite3 maps the classes one to one onto JS types (bigint,
 * number, string, Buffer, null) both when reading and when binding, so a value re-inserted with the
 * JS type it was read as is stored exactly as before (column affinity then converts it exactly as
 * it did on the original insert, which by construction left it in this class).
 *
 * Each column has a NATURAL class derived from its declared type (see `naturalStorageClass`), and
 * values of that class are written plainly in the column's manifest `encoding`:
 *
 * | declared type (affinity rule)                   | natural | encoding | plain NDJSON form        |
 * |-------------------------------------------------|---------|----------|--------------------------|
 * | contains INT (INTEGER affinity)                 | INTEGER | string   | `"9223372036854775807"`  |
 * | CHAR / CLOB / TEXT (TEXT affinity)              | TEXT    | string   | `"any text"`             |
 * | BLOB or no type (BLOB affinity)                 | BLOB    | base64   | `"AAEC/w=="`             |
 * | REAL / FLOA / DOUB (REAL affinity)              | REAL    | number   | `1.5` (shortest round trip) |
 * | other NUMERIC affinity naming DATE/TIME/JSON/UUID | TEXT  | string   | `"2024-02-29 12:00:00"`  |
 * | other NUMERIC affinity (NUMERIC, DECIMAL, BOOLEAN, ANY…) | INTEGER | string | `"1"`          |
 *
 * A value whose class differs from the column's natural class, and the REAL values JSON cannot
 * write as a number, are written as a one-key TAGGED object instead:
 * `{"i":"<decimal int64>"}`, `{"r":"<String(x)>"}` (also `"Infinity"`, `"-Infinity"`, `"-0"`),
 * `{"t":"<text>"}`, `{"b":"<base64>"}`. NULL is `null`. NaN cannot be stored in SQLite (it binds as
 * NULL). TEXT is any Unicode, including NUL characters (kept: better-sqlite3 passes lengths).
 * Readers other than this engine must therefore accept tagged objects in SQLite archives.
 */
import { OperationError } from '../../errors.js';
import type { ValueEncoding } from '../types.js';

export const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export type StorageClass = 'integer' | 'real' | 'text' | 'blob';

/** The storage class a column's values are expected to have, from its declared type (SQLite §3.1). */
export function naturalStorageClass(declaredType: string): StorageClass {
  const type = declaredType.toUpperCase();
  if (type.includes('INT')) return 'integer';
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT')) return 'text';
  if (type.includes('BLOB') || type.trim() === '') return 'blob';
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 'real';
  // NUMERIC affinity: applications keep dates, times, JSON and UUIDs there as text.
  if (/DATE|TIME|JSON|UUID/.test(type)) return 'text';
  return 'integer';
}

const ENCODING_OF_CLASS: Record<StorageClass, ValueEncoding> = { integer: 'string', text: 'string', blob: 'base64', real: 'number' };

export function sqliteEncoding(declaredType: string): ValueEncoding {
  return ENCODING_OF_CLASS[naturalStorageClass(declaredType)];
}

export function realText(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** One value as a JSON fragment (see the module comment for the scheme). */
export function encodeSqliteValue(value: unknown, natural: StorageClass): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return natural === 'integer' ? `"${value}"` : `{"i":"${value}"}`;
    case 'number':
      return natural === 'real' && Number.isFinite(value) && !Object.is(value, -0) ? String(value) : `{"r":"${realText(value)}"}`;
    case 'string':
      return natural === 'text' ? JSON.stringify(value) : `{"t":${JSON.stringify(value)}}`;
    default:
      if (value instanceof Uint8Array) {
        const base64 = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
        return natural === 'blob' ? `"${base64}"` : `{"b":"${base64}"}`;
      }
      throw new OperationError(`Unexpected value of type ${typeof value} read from SQLite.`);
  }
}

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
const BASE64_TEXT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const REAL_TEXT = /^-?(?:Infinity|(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$/;

function decodeInteger(text: unknown): bigint {
  if (typeof text !== 'string' || !INTEGER_TEXT.test(text)) throw new Error(`not an integer: ${preview(text)}`);
  const value = BigInt(text);
  if (value > INT64_MAX || value < INT64_MIN) throw new Error(`integer out of 64-bit range: ${text}`);
  return value;
}

function decodeReal(text: unknown): number {
  if (typeof text !== 'string' || !REAL_TEXT.test(text)) throw new Error(`not a REAL: ${preview(text)}`);
  return Number(text);
}

function decodeBlob(text: unknown): Buffer {
  if (typeof text !== 'string' || !BASE64_TEXT.test(text)) throw new Error(`not base64: ${preview(text)}`);
  return Buffer.from(text, 'base64');
}

/** The inverse of `encodeSqliteValue`, from parsed JSON to the JS value to bind. */
export function decodeSqliteValue(json: unknown, natural: StorageClass): bigint | number | string | Buffer | null {
  if (json === null) return null;
  if (typeof json === 'string') {
    if (natural === 'integer') return decodeInteger(json);
    if (natural === 'text') return json;
    if (natural === 'blob') return decodeBlob(json);
    throw new Error(`a string where a REAL column expects a number or tag: ${preview(json)}`);
  }
  if (typeof json === 'number') {
    if (natural === 'real') return json;
    throw new Error(`a plain number in a column whose values are written as strings: ${json}`);
  }
  if (typeof json === 'object' && !Array.isArray(json)) {
    const keys = Object.keys(json);
    const tag = keys[0];
    if (keys.length === 1 && tag !== undefined) {
      const payload = (json as Record<string, unknown>)[tag];
      if (tag === 'i') return decodeInteger(payload);
      if (tag === 'r') return decodeReal(payload);
      if (tag === 'b') return decodeBlob(payload);
      if (tag === 't' && typeof payload === 'string') return payload;
    }
  }
  throw new Error(`not a SQLite value: ${preview(json)}`);
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
