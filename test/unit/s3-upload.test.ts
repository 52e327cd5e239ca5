/**
 * The checksums an upload is confirmed with (store/s3-upload.ts): the parts are hashed as
 * lib-storage cuts them, and the expected ChecksumSHA256 is S3's — the object's sha256 for one
 * PUT, `sha256(part digests)-N` for a multipart upload (AWS "composite" checksums).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { effectivePartSize, expectedChecksums, PartHasher } from '../../src/store/s3-upload.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest();

async function hashed(data: Buffer, partSize: number, chunk: number) {
  const hasher = new PartHasher(partSize);
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunk) pieces.push(data.subarray(at, at + chunk));
  const passed: Buffer[] = [];
  for await (const piece of Readable.from(pieces).pipe(hasher)) passed.push(piece as Buffer);
  return { hasher, passed: Buffer.concat(passed) };
}

describe('upload checksums', () => {
  it('hashes every part of partSize bytes, whatever the chunking, and passes the bytes through unchanged', async () => {
    const data = randomBytes(10_000);
    for (const chunk of [1, 333, 1000, 4096, 20_000]) {
      const { hasher, passed } = await hashed(data, 1000, chunk);
      expect(passed.equals(data)).toBe(true);
      expect(hasher.bytes).toBe(10_000);
      expect(hasher.partDigests).toEqual(Array.from({ length: 10 }, (_, i) => sha(data.subarray(i * 1000, (i + 1) * 1000))));
      expect(hasher.digest()).toEqual(sha(data));
    }
    const { hasher } = await hashed(data.subarray(0, 2500), 1000, 700);
    expect(hasher.partDigests.map((digest) => digest.toString('hex'))).toEqual([0, 1, 2].map((i) => sha(data.subarray(i * 1000, Math.min((i + 1) * 1000, 2500))).toString('hex')));
  });

  it('expects the whole sha256 for one PUT and the composite with its part count for a multipart upload', () => {
    const data = randomBytes(2500);
    const parts = [0, 1, 2].map((i) => sha(data.subarray(i * 1000, (i + 1) * 1000)));
    expect(expectedChecksums(sha(data), [sha(data)], 2500, 4000)).toBe(sha(data).toString('base64'));
    expect(expectedChecksums(sha(data), parts, 2500, 1000)).toBe(`${sha(Buffer.concat(parts)).toString('base64')}-3`);
  });

  it('raises the part size so that no more than 10,000 parts are needed', () => {
    expect(effectivePartSize(1000, 8 * 1024 * 1024)).toBe(8 * 1024 * 1024);
    expect(effectivePartSize(200 * 1024 ** 3, 8 * 1024 * 1024)).toBe(Math.ceil((200 * 1024 ** 3) / 10_000));
  });
});
