/**
 * The S3 store against two S3 emulators (test/helpers/s3.ts: s3rver and fauxqs, on loopback —
 * emulators, not AWS): the Store contract, then what is S3's own — an archive of several
 * multipart parts, an upload cut in the middle (last week's object intact, no multipart upload
 * left open), the bucket layout under the prefix, a missing bucket and missing credentials.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ResolvedStorage } from '../../src/config/load.js';
import { ConfigError, ConnectionError } from '../../src/errors.js';
import { LocalStore } from '../../src/store/local.js';
import { S3Store } from '../../src/store/s3.js';
import { describeStoreContract } from '../contract/store.contract.js';
import { EMULATORS, startEmulator, type Emulator } from '../helpers/s3.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterAll(removeTempDirs);

const MiB = 1024 * 1024;
let bucketCounter = 0;

async function s3Settings(emulator: Emulator, overrides: Record<string, unknown> = {}) {
  const dir = await makeTempDir('tb-s3-staging-');
  const bucket = `tb-test-${process.pid}-${++bucketCounter}`;
  await emulator.createBucket(bucket);
  const config = resolveConfig(
    {
      storage: { type: 's3', dir: './staging', bucket, prefix: 'backups/', endpoint: emulator.endpoint, forcePathStyle: true, partSizeMiB: 5, uploadConcurrency: 2, ...overrides },
    },
    { baseDir: dir },
  );
  return { settings: config.storage as Extract<ResolvedStorage, { type: 's3' }>, bucket, dir };
}

async function s3Store(emulator: Emulator, overrides: Record<string, unknown> = {}) {
  const { settings, bucket, dir } = await s3Settings(emulator, overrides);
  return { store: new S3Store(settings, new LocalStore(settings.dir)), bucket, dir };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const kind of EMULATORS) {
  describe(`S3 store on ${kind} (an emulator)`, () => {
    let emulator: Emulator;
    beforeAll(async () => {
      emulator = await startEmulator(kind);
    });
    afterAll(async () => {
      await emulator?.stop();
    });

    describeStoreContract(`S3 on ${kind}`, {
      create: async () => ({ store: (await s3Store(emulator)).store, cleanup: async () => undefined }),
    });

    it('keeps the local layout under the prefix, and removes the staged file after a confirmed upload', async () => {
      const { store, bucket, dir } = await s3Store(emulator);
      const temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      expect(path.dirname(temp)).toBe(path.join(dir, 'staging', 'organizations'));
      await writeFile(temp, 'zip bytes');
      const stored = await store.commit(temp, 'organizations', 'org_acme_monday_backup.zip');
      expect(stored.path).toBe(`s3://${bucket}/backups/organizations/org_acme_monday_backup.zip`);
      const listed = await emulator.client.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents?.map((object) => object.Key)).toEqual(['backups/organizations/org_acme_monday_backup.zip']);
      await expect(readFile(temp)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('keepLocalCopy keeps the staged archive as a local copy', async () => {
      const { store, dir } = await s3Store(emulator, { keepLocalCopy: true });
      const temp = await store.tempPath('tenant-databases', 'acme_2026-11-23_08-00-00.zip');
      await writeFile(temp, 'zip bytes');
      await store.commit(temp, 'tenant-databases', 'acme_2026-11-23_08-00-00.zip');
      expect((await readFile(path.join(dir, 'staging/tenant-databases/acme_2026-11-23_08-00-00.zip'))).toString()).toBe('zip bytes');
    });

    it('uploads an archive of several multipart parts, and confirms it by reading it back', async () => {
      const { store, bucket } = await s3Store(emulator);
      const data = randomBytes(17 * MiB + 333); // 4 parts of 5 MiB
      const temp = await store.tempPath('tenant-databases', 'acme_2026-11-23_08-00-00.zip');
      await writeFile(temp, data);
      emulator.requests.length = 0;
      const stored = await store.commit(temp, 'tenant-databases', 'acme_2026-11-23_08-00-00.zip');
      expect(stored.bytes).toBe(data.length);
      const parts = emulator.requests.filter((request) => request.startsWith('PUT') && request.includes('partNumber='));
      expect(parts).toHaveLength(4);
      // The read-back: one GET of the whole object after the upload completed.
      expect(emulator.requests.filter((request) => request.startsWith('GET /') && request.includes('acme_2026'))).toHaveLength(1);
      const object = await emulator.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/tenant-databases/acme_2026-11-23_08-00-00.zip' }));
      expect(sha256(Buffer.from(await object.Body!.transformToByteArray()))).toBe(sha256(data));
      expect(await emulator.openUploads(bucket)).toBe(0);
    });

    it("an upload cut in the middle leaves last week's object intact and no multipart upload open", async () => {
      const { store, bucket } = await s3Store(emulator);
      const lastWeek = randomBytes(6 * MiB);
      let temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      await writeFile(temp, lastWeek);
      await store.commit(temp, 'organizations', 'org_acme_monday_backup.zip');

      temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      await writeFile(temp, randomBytes(16 * MiB));
      emulator.failParts(3);
      try {
        await expect(store.commit(temp, 'organizations', 'org_acme_monday_backup.zip')).rejects.toBeInstanceOf(ConnectionError);
      } finally {
        emulator.failParts(undefined);
      }
      await store.discard(temp);
      expect(emulator.requests.some((request) => request.startsWith('DELETE') && request.includes('uploadId='))).toBe(true);
      const object = await emulator.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/organizations/org_acme_monday_backup.zip' }));
      expect(sha256(Buffer.from(await object.Body!.transformToByteArray()))).toBe(sha256(lastWeek));
      expect(await emulator.openUploads(bucket)).toBe(0);
    });

    it("Ctrl-C in the middle of an upload (the signal) aborts it: last week's object stays, no upload is left open", async () => {
      const { store, bucket } = await s3Store(emulator);
      const lastWeek = randomBytes(1000);
      let temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      await writeFile(temp, lastWeek);
      await store.commit(temp, 'organizations', 'org_acme_monday_backup.zip');
      temp = await store.tempPath('organizations', 'org_acme_monday_backup.zip');
      await writeFile(temp, randomBytes(21 * MiB));
      emulator.requests.length = 0;
      const controller = new AbortController();
      const watch = setInterval(() => {
        if (emulator.requests.some((request) => request.includes('partNumber=2'))) controller.abort();
      }, 5);
      try {
        const failure = await store.commit(temp, 'organizations', 'org_acme_monday_backup.zip', { signal: controller.signal }).catch((error: unknown) => error);
        expect(failure).toMatchObject({ code: 'CANCELLED' });
      } finally {
        clearInterval(watch);
      }
      expect(controller.signal.aborted).toBe(true);
      await store.discard(temp);
      const object = await emulator.client.send(new GetObjectCommand({ Bucket: bucket, Key: 'backups/organizations/org_acme_monday_backup.zip' }));
      expect(sha256(Buffer.from(await object.Body!.transformToByteArray()))).toBe(sha256(lastWeek));
      expect(await emulator.openUploads(bucket)).toBe(0);
    });

    it('a bucket that does not exist is a configuration error naming it, before anything is staged', async () => {
      const { settings } = await s3Settings(emulator);
      const store = new S3Store({ ...settings, bucket: 'tb-no-such-bucket' }, new LocalStore(settings.dir));
      const refused = await store.tempPath('organizations', 'org_acme_monday_backup.zip').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as Error).message).toMatch(/bucket "tb-no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/);
      await expect(store.stat('organizations', 'org_acme_monday_backup.zip')).rejects.toBeInstanceOf(ConfigError);
    });
  });
}
