/**
 * The `.backuprc` schema (zod), for library users and tests. The definitions live in `define.ts`
 * (a function of zod's `z`, so that the CLI's start-up path can validate without importing zod;
 * see there). Every object is strict: a misspelt key is an error with its exact path, never
 * silently ignored. Kinds (database clients) are a closed set: an unknown one is a config error.
 */
import { z } from 'zod';
import { DATABASE_CLIENTS, defineConfigSchemas } from './define.js';

export { DATABASE_CLIENTS };
export type DatabaseClient = (typeof DATABASE_CLIENTS)[number];

const schemas = defineConfigSchemas(z);

/** Retention of timestamped tenant backups (restic/spatie semantics; the newest is always kept). */
export const retentionSchema = schemas.retentionSchema;
export const encryptionSchema = schemas.encryptionSchema;
export const tenantSchema = schemas.tenantSchema;
export const organizationsSchema = schemas.organizationsSchema;
export const autoSchema = schemas.autoSchema;
export const notificationsSchema = schemas.notificationsSchema;
export const monitorSchema = schemas.monitorSchema;
export const ledgerSchema = schemas.ledgerSchema;
export const configSchema = schemas.configSchema;

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type TenantConfig = z.output<typeof tenantSchema>;
export type OrganizationsConfig = z.output<typeof organizationsSchema>;
export type RetentionConfig = z.output<typeof retentionSchema>;
export type EncryptionConfig = z.output<typeof encryptionSchema>;
export type NotificationsConfig = z.output<typeof notificationsSchema>;
export type MonitorConfig = z.output<typeof monitorSchema>;
export type LedgerConfig = z.output<typeof ledgerSchema>;
