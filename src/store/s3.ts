/**
 * The S3-compatible store (AWS S3, Cloudflare R2, MinIO, Backblaze B2, Ceph RGW, …), through the
 * AWS SDK v3. Objects have the local store's layout under the configured prefix:
 * `<prefix>organizations/<name>`, `<prefix>tenant-databases/<name>`.
 *
 * - Staging is the local store at `storage.dir` (its ownership rules apply there): archives are
 *   written and verified there, then uploaded by `commit` (s3-upload.ts: checked against the
 *   staged bytes before it counts, aborted without leftovers on failure). The staged file is
 *   removed after a confirmed upload, or kept as the local store's archive (`keepLocalCopy`).
 * - Reading: `open` streams the object; `fetch` downloads it, streaming, into staging (a temp
 *   name the next run removes if this process dies) for readers that need random access.
 * - Credentials come only from the SDK's standard chain (environment, shared config and
 *   credentials files, container or instance role); the configuration has no place for them and
 *   nothing here prints them.
 * - The bucket is checked (HeadBucket) once, before the first archive is staged, so a wrong bucket
 *   or missing credentials fail before a long dump.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { _Object, S3Client } from '@aws-sdk/client-s3';
import type { ResolvedStorage } from '../config/load.js';
import { InvalidNameError, NotFoundError, registerSecrets } from '../errors.js';
import { assertArchiveFileName, hasArchiveExtension, type StoreArea } from '../retention/naming.js';
import type { LocalStore } from './local.js';
import { isNotFound, s3Failure, type BucketRef } from './s3-errors.js';
import type { CommitOptions, LocalCopy, Store, StoredFile } from './types.js';

export type S3Settings = Extract<ResolvedStorage, { type: 's3' }>;

type Sdk = typeof import('@aws-sdk/client-s3');
/** The SDK (~100 ms to load) is loaded on the first request, so commands that send none never pay for it. */
let sdkLoading: Promise<Sdk> | undefined;
const loadSdk = () => (sdkLoading ??= import('@aws-sdk/client-s3'));

/** Every request ends: a connection within 15 s, no byte for 120 s ends the request (the SDK retries it). */
const CONNECTION_TIMEOUT_MS = 15_000;
const SOCKET_TIMEOUT_MS = 120_000;

export class S3Store implements Store {
  readonly kind = 's3';
  private readonly ref: BucketRef;
  private checked: Promise<void> | undefined;
  private connection: Promise<{ sdk: Sdk; client: S3Client }> | undefined;

  constructor(
    readonly settings: S3Settings,
    /** The local staging folder (storage.dir), with its ownership guard. */
    readonly staging: LocalStore,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    // Keys that reach an error message by any path are redacted like configured passwords.
    registerSecrets([env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN]);
    this.ref = { bucket: settings.bucket, endpoint: settings.endpoint ?? 'AWS S3' };
  }

  /** The SDK and a client of this store's settings; credentials are the SDK's default chain. */
  private s3(): Promise<{ sdk: Sdk; client: S3Client }> {
    const { settings, env } = this;
    // The SDK would print a notice about future Node versions on stderr, which must stay ours (--json).
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.connection ??= loadSdk().then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        ...(settings.region !== undefined && { region: settings.region }),
        ...(settings.region === undefined && settings.endpoint !== undefined && !env.AWS_REGION && { region: 'us-east-1' }),
        ...(settings.endpoint !== undefined && { endpoint: settings.endpoint }),
        forcePathStyle: settings.forcePathStyle,
        // Checksums are asked for explicitly (SHA-256, s3-upload.ts); no other is added or required.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: SOCKET_TIMEOUT_MS },
      }),
    }));
    return this.connection;
  }

  private key(area: StoreArea, name: string): string {
    assertArchiveFileName(name);
    return `${this.settings.prefix}${area}/${name}`;
  }

  location(area: StoreArea, name: string): string {
    return `s3://${this.settings.bucket}/${this.key(area, name)}`;
  }

  ensureArea(area: StoreArea): Promise<string> {
    return this.staging.ensureArea(area);
  }

  /** The bucket exists and the credentials open it; checked once per store. */
  checkBucket(): Promise<void> {
    this.checked ??= this.s3()
      .then(({ sdk, client }) => client.send(new sdk.HeadBucketCommand({ Bucket: this.settings.bucket })))
      .then(
        () => undefined,
        (error: unknown) => {
          this.checked = undefined;
          throw s3Failure(error, `checking the bucket`, this.ref);
        },
      );
    return this.checked;
  }

  async tempPath(area: StoreArea, finalName: string): Promise<string> {
    assertArchiveFileName(finalName);
    await this.checkBucket();
    return this.staging.tempPath(area, finalName);
  }

  async commit(temp: string, area: StoreArea, finalName: string, options: CommitOptions = {}): Promise<StoredFile> {
    const key = this.key(area, finalName);
    const staged = await this.staging.statTemp(temp, area, finalName);
    try {
      const [{ client }, { uploadArchive }] = await Promise.all([this.s3(), import('./s3-upload.js')]);
      await uploadArchive({
        client,
        bucket: this.settings.bucket,
        key,
        file: temp,
        bytes: staged.bytes,
        partSize: this.settings.partSizeBytes,
        queueSize: this.settings.uploadConcurrency,
        extra: {
          ...(this.settings.serverSideEncryption !== undefined && { ServerSideEncryption: this.settings.serverSideEncryption }),
          ...(this.settings.sseKmsKeyId !== undefined && { SSEKMSKeyId: this.settings.sseKmsKeyId }),
          ...(this.settings.storageClass !== undefined && { StorageClass: this.settings.storageClass }),
        },
        signal: options.signal,
      });
    } catch (error) {
      throw s3Failure(error, `uploading ${finalName}`, this.ref);
    }
    // Confirmed: the staged file becomes the local copy, or goes.
    if (this.settings.keepLocalCopy) await this.staging.commit(temp, area, finalName);
    else await this.staging.discard(temp);
    const stored = await this.stat(area, finalName);
    if (!stored) throw new NotFoundError(`Object ${this.location(area, finalName)} vanished right after it was uploaded.`);
    return stored;
  }

  discard(temp: string): Promise<void> {
    return this.staging.discard(temp);
  }

  async stat(area: StoreArea, name: string): Promise<StoredFile | null> {
    const key = this.key(area, name);
    try {
      const { sdk, client } = await this.s3();
      const head = await client.send(new sdk.HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return { area, name, path: this.location(area, name), bytes: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) {
        // HEAD of a missing key and of a missing bucket both say 404 without a body: ask which.
        await this.checkBucket();
        return null;
      }
      throw s3Failure(error, `reading ${name}`, this.ref);
    }
  }

  async open(area: StoreArea, name: string): Promise<Readable> {
    try {
      const { sdk, client } = await this.s3();
      const object = await client.send(new sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(area, name) }));
      return object.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw NotFoundError.backup(name);
      throw s3Failure(error, `downloading ${name}`, this.ref);
    }
  }

  async fetch(area: StoreArea, name: string, options: { signal?: AbortSignal } = {}): Promise<LocalCopy> {
    const temp = await this.staging.tempPath(area, name);
    try {
      const { sdk, client } = await this.s3();
      const object = await client
        .send(new sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(area, name) }), { abortSignal: options.signal })
        .catch((error: unknown) => {
          if (isNotFound(error)) throw NotFoundError.backup(name);
          throw error;
        });
      await pipeline(object.Body as Readable, createWriteStream(temp, { flags: 'wx', mode: 0o600 }), { signal: options.signal });
      const staged = await this.staging.statTemp(temp, area, name);
      if (object.ContentLength !== undefined && staged.bytes !== object.ContentLength) {
        throw new NotFoundError(`The download of ${name} stopped at ${staged.bytes} of ${object.ContentLength} bytes.`);
      }
      return { path: temp, bytes: staged.bytes, release: () => rm(temp, { force: true }).catch(() => undefined) };
    } catch (error) {
      await this.staging.discard(temp);
      throw s3Failure(error, `downloading ${name}`, this.ref);
    }
  }

  /** Archives of an area, newest first (S3 times have whole seconds: equal times, newer name first). */
  async list(area: StoreArea): Promise<StoredFile[]> {
    const prefix = `${this.settings.prefix}${area}/`;
    const files: StoredFile[] = [];
    let token: string | undefined;
    try {
      const { sdk, client } = await this.s3();
      do {
        const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          const file = this.fileOf(area, prefix, object);
          if (file) files.push(file);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw s3Failure(error, `listing ${area}`, this.ref);
    }
    return files.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  }

  private fileOf(area: StoreArea, prefix: string, object: _Object): StoredFile | null {
    const name = object.Key?.slice(prefix.length) ?? '';
    if (name.includes('/') || name.startsWith('.') || !hasArchiveExtension(name)) return null;
    try {
      assertArchiveFileName(name);
    } catch {
      return null;
    }
    return { area, name, path: this.location(area, name), bytes: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
  }

  async remove(area: StoreArea, name: string): Promise<void> {
    try {
      const { sdk, client } = await this.s3();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(area, name) }));
    } catch (error) {
      if (!isNotFound(error)) throw s3Failure(error, `deleting ${name}`, this.ref);
    }
  }

  /** A bare name, or `s3://<bucket>/<prefix><area>/<name>` of this store; nothing else. */
  async resolveReference(area: StoreArea, reference: string): Promise<string> {
    if (reference.includes('\0')) throw new InvalidNameError('Invalid backup reference: it contains a NUL byte.');
    if (!/[/\\]/.test(reference)) {
      assertArchiveFileName(reference);
      return reference;
    }
    const base = `s3://${this.settings.bucket}/${this.settings.prefix}${area}/`;
    const name = reference.startsWith(base) ? reference.slice(base.length) : null;
    if (name === null || /[/\\]/.test(name)) {
      throw new InvalidNameError(`Backup reference ${reference} is not an object of ${base}; refusing it.`);
    }
    assertArchiveFileName(name);
    return name;
  }
}
