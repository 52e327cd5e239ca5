/**
 * Pure archive naming. Names are the only link between a file and its owner when the ledger is
 * missing, so they are built and parsed by the same functions, and parsing is exact (a tenant
 * named `acme` never matches `acme_eu_…`).
 */
import { InvalidNameError } from '../errors.js';
import { WEEKDAYS, type Weekday, localStamp, localWeekday } from './clock.js';

export type StoreArea = 'organizations' | 'tenant-databases';
export const ORGANIZATIONS_AREA: StoreArea = 'organizations';
export const TENANT_DATABASES_AREA: StoreArea = 'tenant-databases';

/**
 * An archive is `….zip`, or `….zip.age` when it is stored encrypted (the cipher's suffix, see
 * cipher/types.ts). Both are the same backup to every rule here: ownership, rotation, retention.
 */
export type CipherSuffix = '' | '.age';
const ARCHIVE_EXTENSION = String.raw`\.zip(?:\.age)?`;

/** True for a name with an archive's extension (`.zip`, `.zip.age`). */
export function hasArchiveExtension(name: string): boolean {
  return name.endsWith('.zip') || name.endsWith('.zip.age');
}

/** Tenant names become file-name prefixes, so they are restricted to a portable, unambiguous set. */
const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/;

export function assertTenantName(name: string): void {
  if (!TENANT_NAME.test(name)) {
    throw new InvalidNameError(`Invalid tenant name "${printable(name)}": use letters, digits, "." and "-" (no "_", no path separators), starting with a letter or digit.`);
  }
}

/**
 * The file-name token of an organization: its code when present and non-empty, else its id.
 * Anything outside [A-Za-z0-9-] is percent-encoded (so "_" — the field separator — and any path
 * characters can never appear raw), which keeps distinct codes distinct.
 */
export function organizationToken(org: { id: string; code?: string | null }): string {
  const source = org.code != null && String(org.code).trim() !== '' ? String(org.code) : org.id;
  let out = '';
  for (const byte of Buffer.from(source, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function organizationArchiveName(org: { id: string; code?: string | null }, weekday: Weekday, suffix: CipherSuffix = ''): string {
  return `org_${organizationToken(org)}_${weekday}_backup.zip${suffix}`;
}

export function parseOrganizationArchiveName(name: string): { token: string; weekday: Weekday } | null {
  const match = new RegExp(`^org_([A-Za-z0-9%-]+)_([a-z]+)_backup${ARCHIVE_EXTENSION}$`).exec(name);
  if (!match || !(WEEKDAYS as readonly string[]).includes(match[2]!)) return null;
  return { token: match[1]!, weekday: match[2] as Weekday };
}

export function tenantTimestampedName(tenant: string, instant: Date, timeZone: string, suffix: CipherSuffix = ''): string {
  assertTenantName(tenant);
  return `${tenant}_${localStamp(instant, timeZone)}.zip${suffix}`;
}

export function tenantWeekdayName(tenant: string, weekday: Weekday, suffix: CipherSuffix = ''): string {
  assertTenantName(tenant);
  return `${tenant}_${weekday}_backup.zip${suffix}`;
}

/** A tenant backup's name: weekday-rotated (`--rotate weekday`) or timestamped, with the cipher's suffix. */
export function tenantArchiveName(tenant: string, rotate: 'weekday' | undefined, instant: Date, timeZone: string, suffix: CipherSuffix = ''): string {
  return rotate === 'weekday' ? tenantWeekdayName(tenant, localWeekday(instant, timeZone), suffix) : tenantTimestampedName(tenant, instant, timeZone, suffix);
}

export function parseTenantArchiveName(name: string): { tenant: string; stamp: string; weekday?: undefined } | { tenant: string; weekday: Weekday; stamp?: undefined } | null {
  const stamped = new RegExp(String.raw`^([A-Za-z0-9][A-Za-z0-9.-]*)_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})${ARCHIVE_EXTENSION}$`).exec(name);
  if (stamped) return { tenant: stamped[1]!, stamp: stamped[2]! };
  const rotated = new RegExp(`^([A-Za-z0-9][A-Za-z0-9.-]*)_([a-z]+)_backup${ARCHIVE_EXTENSION}$`).exec(name);
  if (rotated && (WEEKDAYS as readonly string[]).includes(rotated[2]!)) {
    return { tenant: rotated[1]!, weekday: rotated[2] as Weekday };
  }
  return null;
}

/**
 * The other file of a weekday-rotation slot: `org_acme_friday_backup.zip` ↔ `….zip.age` (tenant
 * weekday names alike). A new backup of the slot replaces both, so switching encryption on or off
 * leaves one archive per weekday. Null for timestamped names, which never repeat.
 */
export function rotationSibling(name: string): string | null {
  const rotated = parseOrganizationArchiveName(name) ?? parseTenantArchiveName(name);
  if (!rotated?.weekday) return null;
  return name.endsWith('.age') ? name.slice(0, -'.age'.length) : `${name}.age`;
}

/**
 * A bare archive file name as accepted from users: no separators, no `..`, no NUL, no control
 * characters, no leading dot (temp files start with one), and a `.zip` or `.zip.age` suffix.
 */
export function assertArchiveFileName(name: string): void {
  const problem =
    name.length === 0
      ? 'it is empty'
      : name.includes('\0')
        ? 'it contains a NUL byte'
        : /[/\\]/.test(name)
          ? 'it contains a path separator'
          : name === '.' || name === '..' || name.includes('..')
            ? 'it contains ".."'
            : /[\x00-\x1f\x7f]/.test(name)
              ? 'it contains control characters'
              : name.startsWith('.')
                ? 'it starts with "."'
                : !hasArchiveExtension(name)
                  ? 'it does not end in .zip (or .zip.age)'
                  : name.length > 255
                    ? 'it is longer than 255 characters'
                    : null;
  if (problem) throw new InvalidNameError(`Invalid backup name "${printable(name)}": ${problem}.`);
}

function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
