/**
 * One staged archive → one S3 object, counted only once the server holds exactly the staged bytes.
 *
 * 1. The staged file streams through a hash (sha256 of the whole, and of each part) into
 *    lib-storage's `Upload`: one PutObject for a file up to one part, else a multipart upload of
 *    `partSize` parts, `queueSize` at a time. Memory is queueSize × partSize, whatever the size.
 *    Every request carries the part's SHA-256 (`x-amz-checksum-sha256`): a server that supports
 *    checksums refuses a part whose bytes differ, so the object is replaced only by a complete,
 *    checked upload (CompleteMultipartUpload and PutObject are atomic: old or new, never half).
 * 2. Failure or abort: in-flight parts settle, then the multipart upload is aborted, so no parts
 *    are left behind (and none are billed); the old object was never touched.
 * 3. Confirmation: HeadObject must report the staged size, and the SHA-256 the server computed —
 *    of the whole object, or for a multipart upload the composite `sha256(part digests)-N` — must
 *    be ours. A server that reports no SHA-256 (many S3-compatible ones, the emulators) is read
 *    back instead: the object is downloaded, streaming, and hashed.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { AbortMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describeCause, OperationError } from '../errors.js';

/** S3 allows at most this many parts; the part size grows for larger archives. */
const MAX_PARTS = 10_000;
const READ_CHUNK = 1024 * 1024;

export interface UploadRequest {
  client: S3Client;
  bucket: string;
  key: string;
  file: string;
  bytes: number;
  partSize: number;
  queueSize: number;
  /** ServerSideEncryption, SSEKMSKeyId, StorageClass. */
  extra: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass'>;
  signal?: AbortSignal;
}

export interface UploadResult {
  sha256: string;
  /** How the object was confirmed: the server's checksum, or a read-back. */
  confirmedBy: 'checksum' | 'read-back';
}

/** The part size used for `bytes`: the configured one, raised so that no more than 10,000 parts are needed. */
export function effectivePartSize(bytes: number, partSize: number): number {
  return Math.max(partSize, Math.ceil(bytes / MAX_PARTS));
}

/** Hashes what passes: the whole stream, and each `partSize` slice (as lib-storage cuts parts). */
export class PartHasher extends Transform {
  private readonly whole = createHash('sha256');
  private part: Hash = createHash('sha256');
  private inPart = 0;
  private total = 0;
  readonly partDigests: Buffer[] = [];

  constructor(private readonly partSize: number) {
    super({ highWaterMark: READ_CHUNK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.whole.update(chunk);
    this.total += chunk.length;
    for (let at = 0; at < chunk.length;) {
      const take = Math.min(chunk.length - at, this.partSize - this.inPart);
      this.part.update(chunk.subarray(at, at + take));
      this.inPart += take;
      at += take;
      if (this.inPart === this.partSize) {
        this.partDigests.push(this.part.digest());
        this.part = createHash('sha256');
        this.inPart = 0;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.inPart > 0) this.partDigests.push(this.part.digest());
    callback();
  }

  get bytes(): number {
    return this.total;
  }

  digest(): Buffer {
    return this.whole.digest();
  }
}

/**
 * The ChecksumSHA256 S3 reports for an object uploaded from these bytes: base64 of the sha256 for
 * a single PUT; for a multipart upload, base64 of the sha256 of the parts' raw digests, then `-N`.
 */
export function expectedChecksums(whole: Buffer, partDigests: Buffer[], bytes: number, partSize: number): string {
  if (bytes <= partSize) return whole.toString('base64');
  return `${createHash('sha256').update(Buffer.concat(partDigests)).digest('base64')}-${partDigests.length}`;
}

export async function uploadArchive(request: UploadRequest): Promise<UploadResult> {
  const { client, bucket, key, signal } = request;
  signal?.throwIfAborted();
  const partSize = effectivePartSize(request.bytes, request.partSize);
  const source = createReadStream(request.file, { highWaterMark: READ_CHUNK });
  const hasher = new PartHasher(partSize);
  source.on('error', (error) => hasher.destroy(error));
  source.pipe(hasher);
  // Ctrl-C: the source ends with an AbortError, lib-storage lets in-flight parts settle and fails.
  const onAbort = () => hasher.destroy(Object.assign(new Error('Upload aborted.'), { name: 'AbortError' }));
  signal?.addEventListener('abort', onAbort, { once: true });
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: hasher, ContentLength: request.bytes, ContentType: 'application/zip', ChecksumAlgorithm: 'SHA256', ...request.extra },
    partSize,
    queueSize: request.queueSize,
    // Aborting is ours (below): lib-storage's own would replace the upload's error by the abort's.
    leavePartsOnError: true,
  });
  try {
    await upload.done();
  } catch (error) {
    source.destroy();
    throw await abortParts(client, bucket, key, upload.uploadId, error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  signal?.throwIfAborted();
  if (hasher.bytes !== request.bytes) {
    throw new OperationError(`The staged archive changed during the upload of ${key}: ${hasher.bytes} bytes were read, ${request.bytes} expected.`);
  }
  const whole = hasher.digest();
  const sha256 = whole.toString('hex');
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }), { abortSignal: signal });
  if (head.ContentLength !== request.bytes) {
    throw new OperationError(`The uploaded object ${key} has ${head.ContentLength} bytes; ${request.bytes} were uploaded.`);
  }
  if (head.ChecksumSHA256) {
    const expected = expectedChecksums(whole, hasher.partDigests, request.bytes, partSize);
    // Some servers report the composite without its part count; compare the digest part.
    if (head.ChecksumSHA256 !== expected && head.ChecksumSHA256 !== expected.replace(/-\d+$/, '')) {
      throw new OperationError(`The server's SHA-256 of ${key} (${head.ChecksumSHA256}) is not that of the uploaded archive (${expected}).`);
    }
    return { sha256, confirmedBy: 'checksum' };
  }
  await readBack(client, bucket, key, { bytes: request.bytes, sha256 }, signal);
  return { sha256, confirmedBy: 'read-back' };
}

/** Downloads the object, streaming, and checks its size and sha256. */
export async function readBack(client: S3Client, bucket: string, key: string, expected: { bytes: number; sha256: string }, signal?: AbortSignal): Promise<void> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of object.Body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  const sha256 = hash.digest('hex');
  if (bytes !== expected.bytes || sha256 !== expected.sha256) {
    throw new OperationError(
      `The uploaded object ${key} reads back as ${bytes} bytes with sha256 ${sha256}; ${expected.bytes} bytes with sha256 ${expected.sha256} were uploaded.`,
    );
  }
}

/**
 * After a failed multipart upload: aborts it, so its parts are removed. Returns the error to
 * throw; when the abort itself fails, it says so and names the upload (a bucket lifecycle rule
 * `AbortIncompleteMultipartUpload` then removes the parts).
 */
async function abortParts(client: S3Client, bucket: string, key: string, uploadId: string | undefined, error: unknown): Promise<unknown> {
  if (uploadId === undefined) return error;
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    return error;
  } catch (abortError) {
    if (error instanceof Error) {
      error.message += ` (and aborting multipart upload ${uploadId} of ${key} failed: ${describeCause(abortError)}; its parts stay until removed, e.g. by a lifecycle rule AbortIncompleteMultipartUpload)`;
    }
    return error;
  }
}
