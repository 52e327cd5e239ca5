/**
 * S3 implementations for tests, on loopback. Real S3 services are out of reach here, so the S3
 * store is tested against two independent EMULATORS from npm:
 * - s3rver 3.7.1 (Koa; objects in a folder on disk). It does not implement AbortMultipartUpload:
 *   the proxy below answers that one request itself, by removing the upload's folder in s3rver's
 *   own layout (`<dir>/<bucket>/._S3rver_uploads/<uploadId>`), which is what the operation means.
 * - fauxqs 1.9.2 (Fastify; objects in memory), which implements multipart uploads and their abort.
 * Neither checks request checksums nor reports ChecksumSHA256, so uploads are confirmed by reading
 * them back (store/s3-upload.ts).
 *
 * Every request goes through an HTTP proxy that can inject failures (`failParts`): a request
 * uploading a part at or after the given number has its connection cut half-way, as a network
 * or a dying server would.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

export type EmulatorKind = 's3rver' | 'fauxqs';
export const EMULATORS: EmulatorKind[] = ['s3rver', 'fauxqs'];

/** The credentials both emulators accept (s3rver's defaults); set in the environment of tests. */
export const EMULATOR_ENV = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  // Never probe an instance-metadata address: tests send traffic to loopback only.
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
} as const;

export interface Emulator {
  kind: EmulatorKind;
  /** The proxy's URL: what configurations and clients use. */
  endpoint: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Multipart uploads still open in the bucket: 0 when every upload completed or was aborted. For fauxqs this empties the bucket. */
  openUploads(bucket: string): Promise<number>;
  /** Cut the connection of every request uploading part `from` or later (undefined: none). */
  failParts(from: number | undefined): void;
  /** Requests seen by the proxy, as `METHOD path?query`. */
  requests: string[];
  stop(): Promise<void>;
}

export function applyEmulatorEnv(): void {
  Object.assign(process.env, EMULATOR_ENV);
}

export async function startEmulator(kind: EmulatorKind): Promise<Emulator> {
  applyEmulatorEnv();
  const dir = await mkdtemp(path.join(os.tmpdir(), `tb-${kind}-`));
  let upstreamPort: number;
  let stopUpstream: () => Promise<void>;
  if (kind === 's3rver') {
    const { default: S3rver } = await import('s3rver');
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
    upstreamPort = (await server.run()).port;
    stopUpstream = () => server.close();
  } else {
    const { startFauxqs } = await import('fauxqs');
    const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
    upstreamPort = server.port;
    stopUpstream = () => server.stop();
  }
  let failFrom: number | undefined;
  const requests: string[] = [];
  const proxy = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://proxy');
    requests.push(`${request.method} ${url.pathname}${url.search}`);
    const partNumber = Number(url.searchParams.get('partNumber') ?? NaN);
    if (failFrom !== undefined && request.method === 'PUT' && partNumber >= failFrom) {
      // Take some of the body, then cut the connection: the client sees a reset mid-request.
      let seen = 0;
      request.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 64 * 1024) request.socket.destroy();
      });
      request.on('end', () => request.socket.destroy());
      return;
    }
    if (kind === 's3rver' && request.method === 'DELETE' && url.searchParams.has('uploadId')) {
      const bucket = url.pathname.split('/')[1] ?? '';
      const uploadId = url.searchParams.get('uploadId') ?? '';
      if (!/^[0-9a-f]+$/.test(uploadId)) {
        response.writeHead(404).end();
        return;
      }
      void rm(path.join(dir, bucket, '._S3rver_uploads', uploadId), { recursive: true, force: true }).then(() => response.writeHead(204).end());
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: EMULATOR_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: EMULATOR_ENV.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    kind,
    endpoint,
    client,
    requests,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async openUploads(bucket) {
      if (kind === 's3rver') return (await readdir(path.join(dir, bucket, '._S3rver_uploads')).catch(() => [])).length;
      // fauxqs keeps uploads in memory and lists none; it refuses to delete a bucket while one
      // is open (BucketNotEmpty), which is the probe: empty the bucket, then try.
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      for (const object of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
      try {
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        return 0;
      } catch (error) {
        if ((error as { name?: string }).name === 'BucketNotEmpty') return 1;
        throw error;
      }
    },
    failParts(from) {
      failFrom = from;
    },
    async stop() {
      client.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await stopUpstream();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
