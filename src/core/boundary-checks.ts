/**
 * The checks of the library's boundary (boundary.ts): each takes the use case's name (for the
 * message), the value a caller gave and answers with the normalised value or a UsageError naming
 * the option. Ids given as safe integers or bigints become the strings the ledger keeps.
 */
import { UsageError } from '../errors.js';
import { assertTenantName } from '../retention/naming.js';
import type { Deps } from './context.js';
import { parseOrganizationId, type Target } from './targets.js';

export type Options = Record<string, unknown>;

export function fail(fn: string, message: string): never {
  throw new UsageError(`${fn}: ${message}`);
}

export function checkDeps(fn: string, deps: unknown): void {
  const d = deps as Partial<Deps> | null;
  if (typeof d !== 'object' || d === null || !d.config || !d.ledger || !d.store || !d.clock || !d.progress) {
    fail(fn, 'the first argument must be the object that createDeps() returns.');
  }
}

export function checkOptions(fn: string, options: unknown, allowed: readonly string[]): Options {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail(fn, 'the second argument must be an options object.');
  const unknown = Object.keys(options).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) fail(fn, `unknown option(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; it takes ${allowed.join(', ')}.`);
  return options as Options;
}

/** An id given as a string, a safe integer or a bigint, as the string the ledger keeps. */
export function id(fn: string, name: string, value: unknown, required: true): string;
export function id(fn: string, name: string, value: unknown, required: false): string | null | undefined;
export function id(fn: string, name: string, value: unknown, required: boolean): string | null | undefined {
  if (value === undefined || value === null) {
    if (required) fail(fn, `${name} is required.`);
    return value as null | undefined;
  }
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) fail(fn, `${name} ${value} is not a whole number that JavaScript holds exactly; pass it as a string.`);
    text = String(value);
  } else if (typeof value === 'bigint') text = value.toString();
  else if (typeof value === 'string') text = value;
  else fail(fn, `${name} must be a string or a number, not ${describe(value)}.`);
  try {
    return parseOrganizationId(text);
  } catch (error) {
    fail(fn, `${name}: ${(error as Error).message}`);
  }
}

/** A user id as the ledger keeps it: a string (numbers accepted), printable, at most 256 characters. */
export function userId(fn: string, value: unknown): string | null | undefined {
  if (value === undefined || value === null) return value as null | undefined;
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : typeof value === 'bigint' ? value.toString() : value;
  if (typeof text !== 'string' || text.trim() === '' || text.length > 256 || /[\u0000-\u001f\u007f]/.test(text)) {
    fail(fn, `userId must be a non-empty printable string or a whole number, not ${describe(value)}.`);
  }
  return text;
}

export function string(fn: string, name: string, value: unknown, required = false): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(fn, `${name} must be a non-empty string, not ${describe(value)}.`);
  return value;
}

export function tenant(fn: string, value: unknown, required = true): string | undefined {
  const name = string(fn, 'tenant', value, required);
  if (name !== undefined) assertTenantName(name);
  return name;
}

export function flag(fn: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(fn, `${name} must be true or false, not ${describe(value)}.`);
  return value;
}

export function positive(fn: string, name: string, value: unknown, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) {
    fail(fn, `${name} must be a positive ${integer ? 'integer' : 'number'}, not ${describe(value)}.`);
  }
  return value;
}

export function signal(fn: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) fail(fn, 'signal must be an AbortSignal.');
  return value;
}

export function callback<T extends (...args: never[]) => unknown>(fn: string, name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(fn, `${name} must be a function.`);
  return value as T;
}

export function target(fn: string, value: unknown, required: boolean): Target | undefined {
  if (value === undefined && !required) return undefined;
  const t = value as { kind?: unknown; tenant?: unknown; organizationId?: unknown } | null;
  if (typeof t !== 'object' || t === null) fail(fn, 'target must be { kind: "database", tenant } or { kind: "organization", organizationId }.');
  if (t.kind === 'database') return { kind: 'database', tenant: tenant(fn, t.tenant)! };
  if (t.kind === 'organization') return { kind: 'organization', organizationId: id(fn, 'target.organizationId', t.organizationId, true) };
  fail(fn, `target.kind must be "database" or "organization", not ${describe(t.kind)}.`);
}

export function oneOf<T extends string>(fn: string, name: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) fail(fn, `${name} must be one of ${allowed.join(', ')}, not ${describe(value)}.`);
  return value as T;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Options without their undefined members (so defaults of the use case apply). */
export function defined<T extends Options>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
