/**
 * Who a command is about: one tenant (database per tenant) or one organization (shared database).
 * Shared by list, delete, backup and restore so ownership rules live in one place.
 */
import { ConfigError, UsageError } from '../errors.js';
import type { LedgerRecord } from '../ledger/types.js';
import { assertTenantName, ORGANIZATIONS_AREA, TENANT_DATABASES_AREA, type StoreArea } from '../retention/naming.js';
import { assertConnectionReady, type ResolvedConfig } from '../config/load.js';
import type { TenantConfig } from '../config/schema.js';

export type Target = { kind: 'database'; tenant: string } | { kind: 'organization'; organizationId: string };

export function areaOf(target: Target): StoreArea {
  return target.kind === 'database' ? TENANT_DATABASES_AREA : ORGANIZATIONS_AREA;
}

export function describeTarget(target: Target): string {
  return target.kind === 'database' ? `tenant "${target.tenant}"` : `organization ${target.organizationId}`;
}

/** Organization ids as typed on the command line: digits, or an opaque key of safe characters (UUIDs). */
export function parseOrganizationId(value: string): string {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(trimmed)) {
    throw new UsageError(`Invalid organization id "${value}": expected digits or a key of letters, digits, "-" and "_".`);
  }
  return trimmed;
}

export function targetFrom(options: { tenant?: string | undefined; org?: string | undefined }): Target {
  if (options.tenant !== undefined && options.org !== undefined) {
    throw new UsageError('Give either a tenant or --org <id>, not both.');
  }
  if (options.org !== undefined) return { kind: 'organization', organizationId: parseOrganizationId(options.org) };
  if (options.tenant !== undefined) {
    assertTenantName(options.tenant);
    return { kind: 'database', tenant: options.tenant };
  }
  throw new UsageError('Say whose backups: a tenant name or --org <id>.');
}

/** Tenants must be configured before anything is done for them. */
export function assertKnownTenant(config: ResolvedConfig, tenant: string): void {
  if (!Object.hasOwn(config.tenants, tenant)) throw ConfigError.unknownTenant(tenant, Object.keys(config.tenants));
}

/** A configured tenant's settings, ready to connect (every `${VAR}` of its connection set). */
export function tenantConnectionConfig(config: ResolvedConfig, tenant: string): TenantConfig {
  assertKnownTenant(config, tenant);
  assertConnectionReady(config, `tenants.${tenant}`);
  return config.tenants[tenant]!;
}

export function recordBelongsTo(record: LedgerRecord, target: Target): boolean {
  return target.kind === 'database'
    ? record.kind === 'database' && record.tenant === target.tenant
    : record.kind === 'organization' && record.organization_id === target.organizationId;
}

export function ownerOfRecord(record: LedgerRecord): string {
  return record.kind === 'database' ? `tenant "${record.tenant}"` : `organization ${record.organization_id}`;
}

/** The operation lock of an organization: one backup or restore of it at a time. */
export function organizationLockKey(organizationId: string): string {
  return `org-${organizationId}`;
}

/** The operation lock of a tenant database. */
export function tenantLockKey(tenant: string): string {
  return `tenant-${tenant}`;
}
