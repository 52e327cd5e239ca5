/**
 * Schema drift between an archive and today's tables: which changes a restore accepts.
 *
 * A restore puts each archived value into today's column. It accepts every change that keeps each
 * value exact, and refuses (naming the column and both types) only what could change or lose one:
 * - integer → a wider integer (signed → signed, unsigned → unsigned, unsigned → a signed type of
 *   more bits); display widths (`int(10)`) are ignored;
 * - integer → numeric/decimal with at least as many integer digits (`numeric` without a precision
 *   takes any);
 * - varchar(n) → varchar(m ≥ n), text (MySQL/MariaDB: a text type whose byte limit holds n
 *   four-byte characters);
 * - decimal(p,s) → decimal(p',s') with p'−s' ≥ p−s and s' ≥ s (unsigned → signed too);
 * - PostgreSQL timestamp → timestamptz (the archived local times are read in the database's default
 *   time zone, as `ALTER TABLE … TYPE timestamptz` would have read them), and a higher fractional
 *   precision of either;
 * - SQLite: any declared type of the same storage class (values keep their class anyway);
 * - a column added since the backup that is nullable, has a default, or is filled by the database.
 * Values are still sent in the archive's encoding; the database converts them on insert.
 */
import type { ManifestColumn } from '../archive/manifest.js';
import type { ColumnInfo, EngineName } from '../engines/types.js';

export type ColumnVerdict = { kind: 'same' } | { kind: 'accepted'; note: string } | { kind: 'refused'; reason: string };

interface IntegerType {
  kind: 'integer';
  bits: number;
  unsigned: boolean;
}
interface DecimalType {
  kind: 'decimal';
  /** Undefined: unconstrained (PG `numeric`). */
  precision?: number;
  scale: number;
  unsigned: boolean;
}
interface TextType {
  kind: 'text';
  /** Characters; undefined: unlimited. */
  chars?: number;
  /** MySQL text types: bytes. */
  bytes?: number;
}
interface TimestampType {
  kind: 'timestamp';
  zone: boolean;
  precision: number;
}
type ParsedType = IntegerType | DecimalType | TextType | TimestampType | { kind: 'other'; text: string };

const INTEGER_BITS: Record<string, number> = {
  tinyint: 8,
  smallint: 16,
  int2: 16,
  mediumint: 24,
  int: 32,
  integer: 32,
  int4: 32,
  bigint: 64,
  int8: 64,
};
const MYSQL_TEXT_BYTES: Record<string, number> = { tinytext: 255, text: 65_535, mediumtext: 16_777_215, longtext: 4_294_967_295 };

export function parseColumnType(type: string): ParsedType {
  const text = type.trim().toLowerCase().replace(/\s+/g, ' ');
  const unsigned = /\bunsigned\b/.test(text);
  const base = text.replace(/\b(unsigned|zerofill|signed)\b/g, '').trim();
  let match = /^(tinyint|smallint|int2|mediumint|int|integer|int4|bigint|int8)(\(\d+\))?$/.exec(base);
  if (match) return { kind: 'integer', bits: INTEGER_BITS[match[1]!]!, unsigned };
  match = /^(numeric|decimal|dec)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(base);
  if (match) {
    // MySQL: DECIMAL = DECIMAL(10,0); PostgreSQL: numeric = unconstrained.
    if (match[2] === undefined) return match[1] === 'numeric' ? { kind: 'decimal', scale: 0, unsigned } : { kind: 'decimal', precision: 10, scale: 0, unsigned };
    return { kind: 'decimal', precision: Number(match[2]), scale: Number(match[3] ?? 0), unsigned };
  }
  match = /^(?:character varying|varchar)(?:\((\d+)\))?$/.exec(base);
  if (match) return { kind: 'text', chars: match[1] === undefined ? undefined : Number(match[1]) };
  if (base === 'text') return { kind: 'text', bytes: undefined };
  if (MYSQL_TEXT_BYTES[base] !== undefined) return { kind: 'text', bytes: MYSQL_TEXT_BYTES[base] };
  match = /^timestamp(?:\((\d)\))?( with time zone| without time zone)?$/.exec(base);
  if (match) return { kind: 'timestamp', zone: match[2] === ' with time zone', precision: match[1] === undefined ? 6 : Number(match[1]) };
  if (base === 'timestamptz') return { kind: 'timestamp', zone: true, precision: 6 };
  return { kind: 'other', text: base };
}

/** Decimal digits of the largest magnitude an integer type holds. */
function integerDigits(type: IntegerType): number {
  const max = type.unsigned ? 2n ** BigInt(type.bits) - 1n : 2n ** BigInt(type.bits - 1) - 1n;
  return max.toString().length;
}

function holds(from: ParsedType, to: ParsedType, engine: EngineName): boolean {
  if (from.kind === 'integer' && to.kind === 'integer') {
    if (from.unsigned === to.unsigned) return to.bits >= from.bits;
    return from.unsigned && !to.unsigned && to.bits > from.bits;
  }
  if (from.kind === 'integer' && to.kind === 'decimal') {
    if (from.unsigned === false && to.unsigned) return false;
    return to.precision === undefined || to.precision - to.scale >= integerDigits(from);
  }
  if (from.kind === 'decimal' && to.kind === 'decimal') {
    if (!from.unsigned && to.unsigned) return false;
    if (to.precision === undefined) return true;
    if (from.precision === undefined) return false;
    return to.precision - to.scale >= from.precision - from.scale && to.scale >= from.scale;
  }
  if (from.kind === 'text' && to.kind === 'text') {
    if (from.chars === undefined && from.bytes === undefined) return to.chars === undefined && to.bytes === undefined;
    if (to.bytes !== undefined) return engine === 'mysql' && from.chars !== undefined && from.chars * 4 <= to.bytes && from.bytes === undefined;
    if (to.chars === undefined) return true;
    return from.chars !== undefined && to.chars >= from.chars;
  }
  if (from.kind === 'timestamp' && to.kind === 'timestamp') {
    return engine === 'postgres' && to.precision >= from.precision && (to.zone || !from.zone);
  }
  return false;
}

/** SQLite: the storage class a declared type gives its values (codec.ts's rule, by name only). */
function sqliteClass(type: string): string {
  const upper = type.toUpperCase();
  if (upper.includes('INT')) return 'integer';
  if (upper.includes('CHAR') || upper.includes('CLOB') || upper.includes('TEXT')) return 'text';
  if (upper.includes('BLOB') || upper.trim() === '') return 'blob';
  if (upper.includes('REAL') || upper.includes('FLOA') || upper.includes('DOUB')) return 'real';
  return /DATE|TIME|JSON|UUID/.test(upper) ? 'text' : 'integer';
}

/** How an archived column's values fit today's column of the same name. */
export function compareColumn(engine: EngineName, archived: ManifestColumn, live: ColumnInfo): ColumnVerdict {
  if (archived.type === live.type && archived.encoding === live.encoding) return { kind: 'same' };
  const change = `${archived.type} → ${live.type}`;
  if (engine === 'sqlite') {
    return sqliteClass(archived.type) === sqliteClass(live.type) && archived.encoding === live.encoding
      ? { kind: 'accepted', note: change }
      : { kind: 'refused', reason: `${change} changes the SQLite storage class of its values` };
  }
  const from = parseColumnType(archived.type);
  const to = parseColumnType(live.type);
  if (from.kind === 'other' && to.kind === 'other' && from.text === to.text && archived.encoding === live.encoding) return { kind: 'same' };
  if (holds(from, to, engine)) {
    const zoned = from.kind === 'timestamp' && to.kind === 'timestamp' && !from.zone && to.zone;
    return { kind: 'accepted', note: zoned ? `${change}, local times read in the database's time zone` : change };
  }
  return { kind: 'refused', reason: `${change} could change or lose a value` };
}

/** A column added since the backup: fine when the database fills it. */
export function compareNewColumn(live: ColumnInfo): ColumnVerdict {
  if (live.nullable) return { kind: 'accepted', note: `new column (${live.type}, NULL for restored rows)` };
  if (live.autoIncrement || live.hasDefault) return { kind: 'accepted', note: `new column (${live.type}, filled by its default)` };
  return { kind: 'refused', reason: `new column ${live.type} NOT NULL without a default: the archive has no values for it` };
}

/** True when a zone-less timestamp becomes a timestamptz (the PostgreSQL writer reads it in the database's zone). */
export function becomesZoned(archived: ManifestColumn, live: ColumnInfo): boolean {
  const from = parseColumnType(archived.type);
  const to = parseColumnType(live.type);
  return from.kind === 'timestamp' && to.kind === 'timestamp' && !from.zone && to.zone;
}
