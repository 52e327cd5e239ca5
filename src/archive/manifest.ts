/**
 * The archive manifest, format version 1 (see DESIGN.md, "The archive (format version 1)").
 *
 * Contract for readers: unknown extra keys are kept (loose objects), so a later minor addition to the
 * format does not break this reader; but `format` must be "tenant-backup" and `format_version` must
 * be exactly 1 — a newer major version may change meaning, so it is refused rather than guessed at.
 */
import { createRequire } from 'node:module';
import type { z as Zod } from 'zod';
import { ArchiveError } from '../errors.js';

export const ARCHIVE_FORMAT = 'tenant-backup';
export const ARCHIVE_FORMAT_VERSION = 1;
/** Always the last entry of an archive; never listed in `entries`. */
export const MANIFEST_PATH = 'manifest.json';
/** Longest entry path accepted (characters). */
export const MAX_ENTRY_PATH_LENGTH = 1024;

export type ArchiveKind = 'organization' | 'database';
export type ArchiveEngine = 'postgres' | 'mysql' | 'sqlite';
export type DayOfWeek = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday';
export type BackupType = 'manual' | 'auto_daily' | 'pre_restore';

export interface ManifestColumn {
  name: string;
  /** Database type as the server reports it. */
  type: string;
  /** How the codec encoded values of this column (see src/archive/codec.ts). */
  encoding: string;
}

export interface ManifestEntry {
  /** Entry path inside the zip; always `isSafeEntryPath`. */
  path: string;
  /** Uncompressed size in bytes. */
  bytes: number;
  /** Lower-case hex sha256 of the uncompressed data. */
  sha256: string;
  table?: string;
  rows?: number;
  columns?: ManifestColumn[];
}

export interface ManifestOrganization {
  id: string;
  name: string | null;
  code: string | null;
}

export interface ManifestCompression {
  method?: 'deflate' | 'store';
  level?: number;
}

export interface Manifest {
  format: typeof ARCHIVE_FORMAT;
  format_version: typeof ARCHIVE_FORMAT_VERSION;
  kind: ArchiveKind;
  engine: ArchiveEngine;
  server_version: string;
  tool_version: string;
  /** UTC ISO-8601, e.g. 2025-01-31T23:59:59.000Z. */
  created_at: string;
  day_of_week: DayOfWeek;
  backup_type: BackupType;
  /** Present for kind "organization". */
  organization?: ManifestOrganization;
  /** Present for kind "database". */
  tenant?: string;
  compression?: ManifestCompression;
  entries: ManifestEntry[];
}

// Control characters: C0, DEL and C1. Never legitimate in a file name; some terminals and tools
// interpret them.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * True only for a relative, forward-slash path that cannot escape the directory it is extracted
 * into: no leading "/", no drive letter, no backslash, no empty, "." or ".." segment, no control
 * characters, at most MAX_ENTRY_PATH_LENGTH characters. Applied by the writer before adding an
 * entry and by the reader to every name in a zip (zip-slip defence).
 */
export function isSafeEntryPath(path: string): boolean {
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_ENTRY_PATH_LENGTH) return false;
  if (path.includes('\\') || CONTROL_CHARACTERS.test(path)) return false;
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * The manifest's schema (zod), as a function of `z`: `parseManifest` first runs a zod-free check
 * (`fastCheckManifest`) that accepts only what this schema certainly accepts, and loads zod only
 * when that check declines, to name the offending fields. KEEP THE TWO IN STEP.
 * @internal Exported for test/unit/startup-fast-paths.test.ts.
 */
export function defineManifestSchema(z: typeof Zod) {
  const columnSchema = z.looseObject({ name: z.string(), type: z.string(), encoding: z.string() });

  const entrySchema = z.looseObject({
    path: z
      .string()
      .refine(isSafeEntryPath, 'is not a safe relative entry path')
      .refine((path) => path !== MANIFEST_PATH, `must not be ${MANIFEST_PATH}`),
    bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
    table: z.string().optional(),
    rows: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    columns: z.array(columnSchema).optional(),
  });

  const schema = z
    .looseObject({
      format: z.literal(ARCHIVE_FORMAT),
      format_version: z.literal(ARCHIVE_FORMAT_VERSION),
      kind: z.enum(['organization', 'database']),
      engine: z.enum(['postgres', 'mysql', 'sqlite']),
      server_version: z.string(),
      tool_version: z.string(),
      created_at: z.iso.datetime(), // UTC only: an offset is refused
      day_of_week: z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']),
      backup_type: z.enum(['manual', 'auto_daily', 'pre_restore']),
      organization: z.looseObject({ id: z.string(), name: z.string().nullable(), code: z.string().nullable() }).optional(),
      tenant: z.string().optional(),
      compression: z.looseObject({ method: z.enum(['deflate', 'store']).optional(), level: z.number().int().min(0).max(9).optional() }).optional(),
      entries: z.array(entrySchema),
    })
    .superRefine((manifest, ctx) => {
      // A restore must know whom the data belongs to.
      if (manifest.kind === 'organization' && manifest.organization === undefined) {
        ctx.addIssue({ code: 'custom', path: ['organization'], message: 'is required for kind "organization"' });
      }
      if (manifest.kind === 'database' && manifest.tenant === undefined) {
        ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'is required for kind "database"' });
      }
      // Two entries for one path or one table would let the last silently win on restore.
      const seen = new Set<string>();
      const tables = new Set<string>();
      manifest.entries.forEach((entry, index) => {
        if (seen.has(entry.path)) {
          ctx.addIssue({ code: 'custom', path: ['entries', index, 'path'], message: `duplicates "${entry.path}"` });
        }
        seen.add(entry.path);
        if (entry.table !== undefined) {
          if (tables.has(entry.table)) {
            ctx.addIssue({ code: 'custom', path: ['entries', index, 'table'], message: `table ${JSON.stringify(entry.table)} has another entry already` });
          }
          tables.add(entry.table);
        }
        const columns = new Set<string>();
        entry.columns?.forEach((column, columnIndex) => {
          if (columns.has(column.name)) {
            ctx.addIssue({ code: 'custom', path: ['entries', index, 'columns', columnIndex, 'name'], message: `column ${JSON.stringify(column.name)} is listed twice` });
          }
          columns.add(column.name);
        });
      });
    });

  return schema;
}

// Compile-time proof that what the schema accepts is a Manifest.
const schemaOutputIsManifest = (value: Zod.output<ReturnType<typeof defineManifestSchema>>): Manifest => value;
void schemaOutputIsManifest;

let zodManifestSchema: ReturnType<typeof defineManifestSchema> | undefined;
function manifestSchema(): ReturnType<typeof defineManifestSchema> {
  zodManifestSchema ??= defineManifestSchema((createRequire(import.meta.url)('zod') as typeof import('zod')).z);
  return zodManifestSchema;
}

const KINDS: readonly unknown[] = ['organization', 'database'];
const ENGINES: readonly unknown[] = ['postgres', 'mysql', 'sqlite'];
const DAYS: readonly unknown[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const BACKUP_TYPES: readonly unknown[] = ['manual', 'auto_daily', 'pre_restore'];
const SHA256 = /^[0-9a-f]{64}$/;
/** The form Date.toISOString() writes (a subset of what zod's iso.datetime() accepts). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * True only for a manifest the zod schema certainly accepts (format and version checked by the
 * caller). Anything it is not sure about — e.g. another datetime form — goes to zod.
 * @internal Exported for test/unit/startup-fast-paths.test.ts.
 */
export function fastCheckManifest(m: Record<string, unknown>): boolean {
  type Plain = Record<string, unknown>;
  const isObject = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  if (!KINDS.includes(m.kind) || !ENGINES.includes(m.engine) || !DAYS.includes(m.day_of_week) || !BACKUP_TYPES.includes(m.backup_type)) return false;
  if (typeof m.server_version !== 'string' || typeof m.tool_version !== 'string') return false;
  if (typeof m.created_at !== 'string' || !ISO_UTC.test(m.created_at) || Number.isNaN(Date.parse(m.created_at)) || new Date(m.created_at).toISOString() !== m.created_at)
    return false;
  const org = m.organization;
  if (org !== undefined && !(isObject(org) && typeof org.id === 'string' && strOrNull(org.name) && strOrNull(org.code))) return false;
  if (m.tenant !== undefined && typeof m.tenant !== 'string') return false;
  const compression = m.compression;
  if (compression !== undefined) {
    if (!isObject(compression)) return false;
    if (compression.method !== undefined && compression.method !== 'deflate' && compression.method !== 'store') return false;
    if (compression.level !== undefined && !(count(compression.level) && (compression.level as number) <= 9)) return false;
  }
  if (m.kind === 'organization' && org === undefined) return false;
  if (m.kind === 'database' && m.tenant === undefined) return false;
  if (!Array.isArray(m.entries)) return false;
  const seen = new Set<string>();
  const tables = new Set<string>();
  for (const entry of m.entries as unknown[]) {
    if (!isObject(entry) || typeof entry.path !== 'string' || !isSafeEntryPath(entry.path) || entry.path === MANIFEST_PATH || seen.has(entry.path)) return false;
    seen.add(entry.path);
    if (!count(entry.bytes) || typeof entry.sha256 !== 'string' || !SHA256.test(entry.sha256)) return false;
    if (entry.table !== undefined && (typeof entry.table !== 'string' || tables.has(entry.table))) return false;
    if (entry.table !== undefined) tables.add(entry.table);
    if (entry.rows !== undefined && !count(entry.rows)) return false;
    if (entry.columns !== undefined) {
      if (!Array.isArray(entry.columns)) return false;
      const columns = new Set<string>();
      for (const column of entry.columns as unknown[]) {
        if (!isObject(column) || typeof column.name !== 'string' || typeof column.type !== 'string' || typeof column.encoding !== 'string' || columns.has(column.name))
          return false;
        columns.add(column.name);
      }
    }
  }
  return true;
}

/**
 * Validates a parsed manifest.json. `source` names where it came from (archive path) and starts
 * every error message. Throws ArchiveError naming the first offending fields, e.g.
 * `entries[2].sha256`; a newer format_version gets its own message saying which version this
 * tool reads.
 */
export function parseManifest(value: unknown, source: string): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArchiveError(`${source}: manifest is not a JSON object.`);
  }
  const header = value as Record<string, unknown>;
  if (header['format'] !== ARCHIVE_FORMAT) {
    throw new ArchiveError(`${source}: not a tenant-backup manifest (format is ${JSON.stringify(header['format'])}, expected "${ARCHIVE_FORMAT}").`);
  }
  const version = header['format_version'];
  if (version !== ARCHIVE_FORMAT_VERSION) {
    const newer = typeof version === 'number' && version > ARCHIVE_FORMAT_VERSION;
    throw new ArchiveError(
      `${source}: archive format version ${JSON.stringify(version)} is ${newer ? 'newer than this tool supports' : 'not valid'}; ` +
        `this version of tenant-backup reads format version ${ARCHIVE_FORMAT_VERSION}${newer ? ' (upgrade tenant-backup to read it)' : ''}.`,
      { details: { format_version: version, supported_format_version: ARCHIVE_FORMAT_VERSION } },
    );
  }
  // What the zod-free check accepts, zod accepts as it is (loose objects keep every key).
  if (fastCheckManifest(header)) return value as Manifest;
  const result = manifestSchema().safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 5).map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`);
  const more = result.error.issues.length > problems.length ? ` (and ${result.error.issues.length - problems.length} more)` : '';
  throw new ArchiveError(`${source}: invalid manifest: ${problems.join('; ')}${more}.`, {
    details: { fields: result.error.issues.map((issue) => formatIssuePath(issue.path)) },
  });
}

/** ['entries', 2, 'sha256'] → "entries[2].sha256". */
function formatIssuePath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(manifest)';
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
}

/**
 * A manifest must list exactly the entries written, with their sizes and sha256 (ArchiveWriter.finish):
 * catches a caller bug when writing instead of at verification time.
 */
export function assertManifestMatchesEntries(filePath: string, manifest: Manifest, written: ReadonlyMap<string, { bytes: number; sha256: string }>): void {
  const listed = new Set(manifest.entries.map((entry) => entry.path));
  const unlisted = [...written.keys()].filter((path) => !listed.has(path));
  const unwritten = [...listed].filter((path) => !written.has(path));
  if (unlisted.length > 0 || unwritten.length > 0) {
    throw new ArchiveError(`Manifest for ${filePath} does not match the written entries: not in manifest: [${unlisted.join(', ')}]; never written: [${unwritten.join(', ')}].`);
  }
  for (const entry of manifest.entries) {
    const actual = written.get(entry.path);
    if (actual !== undefined && (actual.bytes !== entry.bytes || actual.sha256 !== entry.sha256)) {
      throw new ArchiveError(
        `Manifest for ${filePath} lists "${entry.path}" as ${entry.bytes} bytes / ${entry.sha256}, but ${actual.bytes} bytes / ${actual.sha256} were written.`,
      );
    }
  }
}
