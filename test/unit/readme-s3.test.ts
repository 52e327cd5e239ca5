/** The README's worked S3 configurations (AWS, MinIO) are valid configurations, as printed. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');

/** The first ```json block after a heading. */
function configAfter(heading: string): unknown {
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThan(0);
  const block = /```json\n([\s\S]*?)\n```/.exec(readme.slice(at));
  return JSON.parse(block![1]!);
}

describe('README: Storing archives in S3', () => {
  it('the AWS configuration resolves to an S3 store with its settings', () => {
    const config = resolveConfig(configAfter('### AWS S3'), { baseDir: '/srv' }, { APP_DB_PASSWORD: 'x' });
    expect(config.storage).toMatchObject({
      type: 's3',
      bucket: 'acme-tenant-backups',
      prefix: 'prod/',
      region: 'eu-central-1',
      serverSideEncryption: 'aws:kms',
      storageClass: 'STANDARD_IA',
      partSizeBytes: 8 * 1024 * 1024,
      uploadConcurrency: 4,
      keepLocalCopy: false,
    });
  });

  it('the MinIO configuration resolves with its endpoint and path-style URLs', () => {
    const config = resolveConfig(configAfter('### MinIO (and other S3-compatible services)'), { baseDir: '/srv' }, { ACME_DB_PASSWORD: 'x' });
    expect(config.storage).toMatchObject({
      type: 's3',
      dir: '/srv/staging',
      bucket: 'tenant-backups',
      prefix: 'backups/',
      endpoint: 'https://minio.internal:9000',
      forcePathStyle: true,
    });
  });
});
