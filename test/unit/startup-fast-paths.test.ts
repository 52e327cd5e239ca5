/**
 * The zod-free checks on the start-up path (configuration, archive manifest) must agree with the
 * zod schemas they stand in for: for what they accept, the very same result (key order included);
 * for anything else, they decline, so that zod decides and words the error. (The ledger's files
 * are checked without zod at all: test/unit/ledger.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineManifestSchema, fastCheckManifest, parseManifest } from '../../src/archive/manifest.js';
import { fastParseConfig } from '../../src/config/fast-check.js';
import { configSchema } from '../../src/config/schema.js';

const same = (a: unknown, b: unknown) => {
  expect(a).toEqual(b);
  expect(JSON.stringify(a)).toBe(JSON.stringify(b));
};

describe('configuration fast path', () => {
  const valid: unknown[] = [
    { storage: { dir: 'b' } },
    { $schema: '', storage: { dir: './x' }, timezone: 'Europe/Berlin', compressionLevel: 0 },
    {
      auto: { allowedRoles: ['owner'] },
      organizations: { connection: { host: 'h', port: 5432, nested: { a: [1] } }, client: 'pg', exclude: ['a', 'b'], tables: ['t'], schema: 's', codeColumn: 'c' },
      retention: { keepMonthly: 3, keepLast: 2 },
      tenants: { zeta: { client: 'mysql2', connection: 'mysql://u@h/db', retention: { keepDaily: 7 } }, acme: { connection: { filename: 'a.sqlite' }, client: 'better-sqlite3' } },
      compressionLevel: 9,
      storage: { dir: '/srv' },
    },
    { storage: { dir: 'b' }, organizations: { client: 'better-sqlite3', connection: 'app.sqlite', tables: 'auto' }, auto: {} },
    { storage: { dir: 'b' }, organizations: { include: { versions: "item_type = 'Invoice' AND item_id = :org", 'we ird': 'x = :org' }, client: 'pg', connection: 'x' } },
    { storage: { dir: 'b' }, tenants: {}, auto: { superAdminRoles: [], allowedRoles: ['a'] } },
    { storage: { dir: 'b' }, notifications: {}, monitor: {} },
    {
      monitor: { organizations: { '42': { maxAgeHours: 170 } }, maxAgeHours: 30.5, tenants: { acme: { maxAgeHours: 0.5 } } },
      notifications: {
        email: { to: ['a@x', 'b@y'], from: 'f@x', on: ['stale', 'failure'], host: 'smtp', password: 'p', user: 'u', caFile: 'ca.pem', starttls: 'off', secure: true, port: 465 },
        ping: { organizations: { '7': 'https://hc-ping.com/uuid' }, autoAll: 'http://h/x?rid=1', backupAll: 'https://h/y' },
        webhook: { on: ['success'], url: 'https://hooks.slack.com/services/T/B/x' },
        retryDelaySeconds: 0,
        retries: 0,
        timeoutSeconds: 0.25,
      },
      storage: { dir: 'b' },
    },
    { storage: { dir: 'b' }, notifications: { webhook: { url: 'http://127.0.0.1:9/h' }, ping: {}, email: { host: 'h', from: 'f', to: ['t'] } } },
    { storage: { type: 'local', dir: 'b' } },
    { storage: { type: 's3', dir: './staging', bucket: 'my-backups' } },
    {
      storage: {
        keepLocalCopy: true,
        uploadConcurrency: 2,
        partSizeMiB: 64,
        storageClass: 'STANDARD_IA',
        sseKmsKeyId: 'arn:aws:kms:eu-west-1:1:key/x',
        serverSideEncryption: 'aws:kms',
        forcePathStyle: true,
        endpoint: 'https://minio.example.com:9000',
        region: 'eu-west-1',
        prefix: 'prod/backups/',
        bucket: 'my.backups-1',
        dir: '/srv/staging',
        type: 's3',
      },
    },
    {
      tenants: { acme: { client: 'pg', connection: 'x', encryption: { passphrase: 'p', recipients: [] } } },
      encryption: { identityFile: '~/k.txt', recipients: ['age1x', 'ssh-ed25519 AAAA c'] },
      storage: { dir: 'b' },
    },
    { storage: { dir: 'b' }, encryption: {} },
    { storage: { dir: 'b' }, ledger: {} },
    { storage: { dir: 'b' }, ledger: { keep: { missingArchives: true } } },
    {
      ledger: { keep: { failedDays: 0, missingArchives: false }, settingsTable: 's', table: 't', connection: 'postgres://u@h/db', client: 'pg', type: 'database' },
      storage: { dir: 'b' },
    },
    { storage: { dir: 'b' }, ledger: { type: 'json', keep: {} } },
    { encryption: { recipients: ['age1x'] }, ledger: { type: 'database', keep: { failedDays: 7 } }, storage: { type: 's3', dir: './staging', bucket: 'my-backups' } },
  ];
  it.each(valid.map((v) => [JSON.stringify(v).slice(0, 60), v]))("gives zod's result for %s", (_name, config) => {
    const fast = fastParseConfig(config);
    expect(fast).toBeDefined();
    same(fast, configSchema.parse(config));
  });

  const declined: unknown[] = [
    null,
    [],
    {},
    { storage: { dir: '' } },
    { storage: { dir: 'b', dri: 'x' } },
    { storage: { dir: 'b' }, timezone: 'Mars/Olympus' },
    { storage: { dir: 'b' }, compressionLevel: 10 },
    { storage: { dir: 'b' }, compressionLevel: 1.5 },
    { storage: { dir: 'b' }, tenants: { acme: { client: 'oracle', connection: 'x' } } },
    { storage: { dir: 'b' }, tenants: { '': { client: 'pg', connection: 'x' } } },
    { storage: { dir: 'b' }, tenants: { acme: { client: 'pg', connection: '' } } },
    { storage: { dir: 'b' }, tenants: { acme: { client: 'pg', connection: [] } } },
    { storage: { dir: 'b' }, organizations: { client: 'pg', connection: 'x', tables: [] } },
    { storage: { dir: 'b' }, organizations: { client: 'pg', connection: 'x', exclude: [''] } },
    { storage: { dir: 'b' }, organizations: { client: 'pg', connection: 'x', include: { versions: '' } } },
    { storage: { dir: 'b' }, organizations: { client: 'pg', connection: 'x', include: { '': 'a = :org' } } },
    { storage: { dir: 'b' }, organizations: { client: 'pg', connection: 'x', include: ['versions'] } },
    { storage: { dir: 'b' }, retention: { keepLast: 0 } },
    { storage: { dir: 'b' }, auto: { allowedRoles: [''] } },
    { storage: { dir: 'b' }, organisations: {} },
    { storage: { dir: 'b' }, ledger: { type: 'sqlite' } },
    { storage: { dir: 'b' }, ledger: { keep: { failedDays: -1 } } },
    { storage: { dir: 'b' }, ledger: { keep: { failedDays: 90, forever: true } } },
    { storage: { dir: 'b' }, ledger: { table: '' } },
    { storage: { dir: 'b' }, ledger: { client: 'oracle' } },
    { storage: { dir: 'b' }, timezone: undefined },
    { storage: { dir: 'b' }, notifications: { webhook: { url: 'ftp://h/x' } } },
    { storage: { dir: 'b' }, notifications: { webhook: { url: 'not a url' } } },
    { storage: { dir: 'b' }, notifications: { webhook: { url: 'https://h/x', on: [] } } },
    { storage: { dir: 'b' }, notifications: { webhook: { url: 'https://h/x', on: ['start'] } } },
    { storage: { dir: 'b' }, notifications: { timeoutSeconds: 0 } },
    { storage: { dir: 'b' }, notifications: { retries: 11 } },
    { storage: { dir: 'b' }, notifications: { retries: 1.5 } },
    { storage: { dir: 'b' }, notifications: { retryDelaySeconds: -1 } },
    { storage: { dir: 'b' }, notifications: { ping: { tenants: { acme: 'x' } } } },
    { storage: { dir: 'b' }, notifications: { ping: { tenants: { '': 'https://h/x' } } } },
    { storage: { dir: 'b' }, notifications: { ping: { all: 'https://h/x' } } },
    { storage: { dir: 'b' }, notifications: { email: { host: 'h', from: 'f', to: [] } } },
    { storage: { dir: 'b' }, notifications: { email: { host: 'h', from: 'f', to: ['t'], user: 'u' } } },
    { storage: { dir: 'b' }, notifications: { email: { host: 'h', from: 'f', to: ['t'], password: 'p' } } },
    { storage: { dir: 'b' }, notifications: { email: { host: 'h', from: 'f', to: ['t'], starttls: 'maybe' } } },
    { storage: { dir: 'b' }, notifications: { email: { host: 'h', from: 'f', to: ['t'], port: 70000 } } },
    { storage: { dir: 'b' }, monitor: { maxAgeHours: 0 } },
    { storage: { type: 'ftp', dir: 'b' } },
    { storage: { type: 's3', dir: 'b' } },
    { storage: { dir: 'b', bucket: 'my-backups' } },
    { storage: { type: 'local', dir: 'b', prefix: 'x/' } },
    { storage: { type: 's3', dir: 'b', bucket: 'My_Bucket' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', prefix: '/abs' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', prefix: 'a/../b' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', prefix: 'a//b' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', endpoint: 'ftp://h' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', endpoint: 'https://key:secret@minio.example.com' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', partSizeMiB: 4 } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', uploadConcurrency: 0 } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', storageClass: 'DEEP_ARCHIVE' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', sseKmsKeyId: 'k' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', serverSideEncryption: 'AES256', sseKmsKeyId: 'k' } },
    { storage: { type: 's3', dir: 'b', bucket: 'ok-bucket', accessKeyId: 'AKIA' } },
    { storage: { dir: 'b' }, encryption: { recipients: [''] } },
    { storage: { dir: 'b' }, encryption: { recipient: ['age1x'] } },
    { storage: { dir: 'b' }, encryption: { identityFile: '' } },
    { storage: { dir: 'b' }, tenants: { acme: { client: 'pg', connection: 'x', encryption: { passphrase: 1 } } } },
    { storage: { dir: 'b' }, monitor: { tenants: { acme: {} } } },
    { storage: { dir: 'b' }, monitor: { organizations: { '1': { maxAgeHours: 1, extra: 1 } } } },
  ];
  it.each(declined.map((v) => [JSON.stringify(v) ?? String(v), v]))('declines %s (zod decides)', (_name, config) => {
    expect(fastParseConfig(config)).toBeUndefined();
  });
});

describe('manifest fast path', () => {
  const schema = defineManifestSchema(z);
  const base = {
    format: 'tenant-backup',
    format_version: 1,
    kind: 'organization',
    engine: 'postgres',
    server_version: '15.4',
    tool_version: '0.1.0',
    created_at: '2026-11-23T08:00:00.000Z',
    day_of_week: 'monday',
    backup_type: 'manual',
    organization: { id: '42', name: null, code: 'acme', extra: 1 },
    compression: { method: 'deflate', level: 1 },
    entries: [
      { path: 'tables/a.ndjson', bytes: 0, sha256: 'a'.repeat(64), table: 'a', rows: 0, columns: [{ name: 'id', type: 'bigint', encoding: 'string', x: 1 }] },
      { path: 'dump.sql', bytes: 5, sha256: 'b'.repeat(64) },
    ],
    future_key: { anything: true },
  };
  it('accepts what zod accepts, with the same value', () => {
    expect(fastCheckManifest(base)).toBe(true);
    same(parseManifest(structuredClone(base), 'test'), schema.parse(structuredClone(base)));
    const database = { ...base, kind: 'database', tenant: 'acme', organization: undefined };
    expect(fastCheckManifest(database)).toBe(true);
    expect(parseManifest(database, 'test')).toEqual(schema.parse(database));
  });

  it.each([
    ['a created_at with an offset', { created_at: '2026-11-23T08:00:00.000+01:00' }],
    ['a created_at without milliseconds', { created_at: '2026-11-23T08:00:00Z' }],
    ['an impossible date', { created_at: '2026-02-30T08:00:00.000Z' }],
    ['an organization kind without organization', { organization: undefined }],
    ['a database kind without tenant', { kind: 'database', tenant: undefined }],
    ['an unsafe entry path', { entries: [{ path: '../x', bytes: 1, sha256: 'a'.repeat(64) }] }],
    ['the manifest as an entry', { entries: [{ path: 'manifest.json', bytes: 1, sha256: 'a'.repeat(64) }] }],
    [
      'duplicate entries',
      {
        entries: [
          { path: 'a', bytes: 1, sha256: 'a'.repeat(64) },
          { path: 'a', bytes: 1, sha256: 'a'.repeat(64) },
        ],
      },
    ],
    [
      'two entries for one table',
      {
        entries: [
          { path: 'a', bytes: 1, sha256: 'a'.repeat(64), table: 't' },
          { path: 'b', bytes: 1, sha256: 'a'.repeat(64), table: 't' },
        ],
      },
    ],
    [
      'a column listed twice',
      {
        entries: [
          {
            path: 'a',
            bytes: 1,
            sha256: 'a'.repeat(64),
            table: 't',
            rows: 0,
            columns: [
              { name: 'id', type: 'int', encoding: 'number' },
              { name: 'id', type: 'text', encoding: 'string' },
            ],
          },
        ],
      },
    ],
    ['an upper-case sha256', { entries: [{ path: 'a', bytes: 1, sha256: 'A'.repeat(64) }] }],
    ['negative bytes', { entries: [{ path: 'a', bytes: -1, sha256: 'a'.repeat(64) }] }],
    ['a bad compression level', { compression: { level: 10 } }],
    ['an unknown engine', { engine: 'oracle' }],
  ])('declines %s, and zod words the error', (_what, change) => {
    const manifest = { ...base, ...change };
    expect(fastCheckManifest(manifest)).toBe(false);
    const zodResult = schema.safeParse(manifest);
    if (zodResult.success) {
      // Declined but valid (a form the fast check does not know): parseManifest gives zod's value.
      expect(parseManifest(manifest, 'test')).toEqual(zodResult.data);
    } else {
      expect(() => parseManifest(manifest, 'test')).toThrow(/invalid manifest/);
    }
  });
});
