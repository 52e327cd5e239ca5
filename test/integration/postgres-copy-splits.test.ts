/**
 * The PostgreSQL export reads the COPY protocol straight from the socket (CopyToNdjson). A socket
 * read can end anywhere — inside a row, inside a message header, inside the 5-byte CopyDone — and
 * the export must give the same NDJSON and hand pg exactly the bytes after the COPY, whatever the
 * cuts. Once, a CopyDone cut after 4 of its bytes (a table whose data ended at 8 KiB − 4) dropped
 * CommandComplete and ReadyForQuery, and the backup hung forever.
 *
 * 1. A COPY session is recorded from the real server (through a recording proxy), then replayed
 *    into CopyToNdjson cut at EVERY byte offset, and at random multi-cuts.
 * 2. Real exports through a proxy that cuts every CopyDone 2 + 3 bytes (the 3 with what follows),
 *    and one that cuts the whole stream at random points.
 * 3. A server that stops sending mid-COPY: the stall guard ends the export with a clear error,
 *    and so does aborting the session (Ctrl-C) — nothing waits forever.
 */
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationsSchema } from '../../src/config/schema.js';
import { CopyToNdjson } from '../../src/engines/postgres/copy-out.js';
import { NdjsonEncoder } from '../../src/engines/postgres/export-codec.js';
import { postgresEngine } from '../../src/engines/postgres/index.js';
import type { OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { BIN, runCli } from '../helpers/cli.js';
import { collector, withPlannedSession } from '../helpers/org-engine.js';
import { pgMessages, randomSplits, splitEveryCopyDone, startProxy, type Proxy } from '../helpers/tcp-proxy.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

/** The COPY response (CopyOutResponse … CopyData) ends 4 bytes short of 8 KiB: CopyDone straddles it. */
const COPY_DATA_END = 8 * 1024 - 4;
/** CopyOutResponse of a 3-column COPY: type, length, format, column count, 3 × int16. */
const COPY_OUT_RESPONSE_BYTES = 1 + 4 + 1 + 2 + 3 * 2;

let db: TestDatabase;
let proxy: Proxy;
let expected: string;

/** Rows whose COPY lines (`id \t org \t txt \n`) make the data end exactly at COPY_DATA_END. */
function rowsEndingAt(end: number): Array<{ id: number; txt: string }> {
  const rows: Array<{ id: number; txt: string }> = [];
  let total = COPY_OUT_RESPONSE_BYTES;
  // COPY doubles backslashes; lengths are in bytes.
  const line = (id: number, txt: string) => 5 + Buffer.byteLength(`${id}\t1\t${txt.replaceAll('\\', '\\\\')}\n`);
  for (let id = 1; ; id++) {
    const txt = `row ${id} ${'é'.repeat(id % 7)}\\ tab`; // escapes and multi-byte characters too
    if (total + line(id, txt) + line(id + 1, '') > end) {
      const pad = end - total - line(id, '');
      rows.push({ id, txt: 'p'.repeat(pad) });
      return rows;
    }
    rows.push({ id, txt });
    total += line(id, txt);
  }
}

function config(port: number, stallTimeoutSeconds = 600) {
  const connection = db.connection as ServerConnection;
  return organizationsSchema.parse({ client: 'pg', connection: { ...connection, port }, stallTimeoutSeconds });
}

async function withSession<T>(port: number, fn: (session: OrganizationSession, plan: TablePlan) => Promise<T>, stall?: number): Promise<T> {
  return withPlannedSession(postgresEngine, config(port, stall), (session, plans) =>
    fn(
      session,
      plans.find((p) => p.table === 'splits')!,
    ),
  );
}

async function exportThrough(port: number, stall?: number): Promise<string> {
  return withSession(
    port,
    (session, plan) =>
      session.withSnapshot(async (reader) => {
        const { stream, text } = collector();
        await reader.exportTable(plan, stream);
        return text();
      }),
    stall,
  );
}

beforeAll(async () => {
  db = await createTestDatabase('postgres', 'pg_splits');
  const knex = db.knex();
  await knex.raw(`CREATE TABLE organizations (id int PRIMARY KEY, name text, code text)`);
  await knex.raw(`CREATE TABLE splits (id int PRIMARY KEY, organization_id int NOT NULL REFERENCES organizations (id), txt text)`);
  await knex.raw(`INSERT INTO organizations VALUES (1, 'One', 'one')`);
  await knex('splits').insert(rowsEndingAt(COPY_DATA_END).map((row) => ({ ...row, organization_id: 1 })));
  const { port } = db.connection as ServerConnection;
  proxy = await startProxy({ host: '127.0.0.1', port });
  expected = await exportThrough(port);
  expect(expected.split('\n').length).toBeGreaterThan(50);
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await db?.drop();
  await removeTempDirs();
});

/** A stand-in for pg's connection: CopyToNdjson reads its `stream` and sends `query(text)`. */
function fakeConnection() {
  const stream = new PassThrough();
  const handedBack: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => handedBack.push(chunk)); // pg's own data handler
  return { connection: { stream, query: () => undefined }, handedBack };
}

/** Replays the recorded COPY response in the given pieces; resolves with what came out. */
async function replay(response: Buffer, cuts: number[]): Promise<{ ndjson: string; handedBack: Buffer; ended: boolean }> {
  const { connection, handedBack } = fakeConnection();
  const copy = new CopyToNdjson('COPY …', new NdjsonEncoder('splits', [0, 0, 2]));
  const { stream: sink, text } = collector();
  let ended = false;
  copy.on('end', () => (ended = true));
  copy.pipe(sink);
  copy.submit(connection as never);
  let from = 0;
  for (const cut of [...cuts, response.length]) {
    connection.stream.write(response.subarray(from, cut));
    from = cut;
    // Each piece is read on its own (a socket read), before the next arrives.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setImmediate(resolve));
  return { ndjson: text(), handedBack: Buffer.concat(handedBack), ended };
}

describe('PostgreSQL COPY parser: every split point', () => {
  let response: Buffer;
  let tail: Buffer;

  beforeAll(async () => {
    proxy.setShaper(undefined);
    const before = proxy.recorded.length;
    expect(await exportThrough(proxy.port)).toBe(expected);
    // The connection that ran the COPY: the one whose stream holds a CopyOutResponse.
    const streams = proxy.recorded.slice(before).map((chunks) => Buffer.concat(chunks));
    const stream = streams.find((s) => pgMessages(s).some((m) => m.type === 'H'))!;
    const messages = pgMessages(stream);
    const start = messages.findIndex((m) => m.type === 'H');
    const done = messages.findIndex((m, i) => i > start && m.type === 'c');
    const ready = messages.findIndex((m, i) => i > done && m.type === 'Z');
    response = stream.subarray(messages[start]!.start, messages[ready]!.end);
    tail = stream.subarray(messages[done]!.end, messages[ready]!.end);
    // The fixture is shaped as intended: CopyDone starts 4 bytes before 8 KiB.
    expect(messages[done]!.start - messages[start]!.start).toBe(COPY_DATA_END);
  });

  it('gives the same NDJSON and hands pg exactly the bytes after CopyDone, cut at any one offset', async () => {
    for (let cut = 1; cut < response.length; cut++) {
      const result = await replay(response, [cut]);
      if (result.ndjson !== expected || !result.handedBack.equals(tail) || !result.ended) {
        expect({ cut, ndjson: result.ndjson === expected, tail: result.handedBack.equals(tail), ended: result.ended }).toEqual({
          cut,
          ndjson: true,
          tail: true,
          ended: true,
        });
      }
    }
  }, 120_000);

  it('does the same for every cut inside and around CopyDone combined with random cuts elsewhere', async () => {
    let state = 12345;
    const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let round = 0; round < 300; round++) {
      const cuts = new Set<number>();
      const count = 1 + Math.floor(random() * 40);
      for (let i = 0; i < count; i++) cuts.add(1 + Math.floor(random() * (response.length - 1)));
      // Always cut somewhere inside or right around the CopyDone message.
      cuts.add(COPY_DATA_END + Math.floor(random() * 6));
      const sorted = [...cuts].filter((c) => c > 0 && c < response.length).sort((a, b) => a - b);
      const result = await replay(response, sorted);
      expect({ round, ndjson: result.ndjson === expected, tail: result.handedBack.equals(tail), ended: result.ended }).toEqual({
        round,
        ndjson: true,
        tail: true,
        ended: true,
      });
    }
  }, 120_000);
});

describe('PostgreSQL export through a real network path', () => {
  it('completes when every CopyDone arrives in two pieces (2 bytes, then 3 with what follows)', async () => {
    for (const at of [1, 2, 3, 4]) {
      proxy.setShaper(splitEveryCopyDone(at, 30));
      expect(await exportThrough(proxy.port, 5)).toBe(expected);
    }
  }, 60_000);

  it('completes with the whole server stream cut at random points', async () => {
    for (const seed of [1, 2, 3]) {
      proxy.setShaper(randomSplits(seed));
      expect(await exportThrough(proxy.port, 5)).toBe(expected);
    }
  }, 60_000);
});

/** Passes the session's set-up, then withholds everything from the COPY's response on. Tells whether the COPY began. */
function stallAtCopy(): () => boolean {
  let copying = false;
  proxy.setShaper((chunk) => {
    if (copying || pgMessages(chunk).some((m) => m.type === 'H')) {
      copying = true;
      return 'hold';
    }
    return [{ bytes: chunk, delayMs: -1 }];
  });
  return () => copying;
}

describe('a server that stops sending', () => {
  it('is given up by the stall guard with a clear error, instead of waiting forever', async () => {
    stallAtCopy();
    const failure = await exportThrough(proxy.port, 1).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toMatch(/No data from the PostgreSQL server for 1 s .*stallTimeoutSeconds/);
  }, 30_000);

  it('is given up at once when the session is aborted (Ctrl-C)', async () => {
    stallAtCopy();
    const failure = await withSession(
      proxy.port,
      (session, plan) =>
        session.withSnapshot(async (reader) => {
          setTimeout(() => session.abort(new Error('Backup cancelled.')), 300);
          await reader.exportTable(plan, collector().stream);
        }),
      0,
    ).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(failure?.message).toMatch(/Backup cancelled/);
  }, 30_000);
});

describe('SIGTERM while the server has stopped sending (the CLI)', () => {
  it('ends within seconds: exit 130, the record failed, no temp file, the lock free for the next backup', async () => {
    const dir = await makeTempDir('tb-pg-stall-');
    const connection = db.connection as ServerConnection;
    const write = (port: number) =>
      writeFile(
        path.join(dir, '.backuprc'),
        JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'pg', connection: { ...connection, port } } }),
      );
    await write(proxy.port);
    const copying = stallAtCopy();
    const child = spawn(process.execPath, [BIN, 'backup', '--org', '1', '--json'], {
      cwd: dir,
      env: { ...process.env, TENANT_BACKUP_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Wait until the export is under way (its temp archive exists), then stop it.
    const folder = path.join(dir, 'backups/organizations');
    const deadline = Date.now() + 20_000;
    while (!copying() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(copying(), 'the COPY never started').toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(killer);
    expect(code, stderr).toBe(130);
    expect((await readdir(folder)).filter((name) => !name.startsWith('.') || name.endsWith('.tmp'))).toEqual([]);
    expect((await readdir(folder)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    const listed = JSON.parse((await runCli(['list', '--org', '1', '--json'], { cwd: dir })).stdout) as Array<{ status: string }>;
    expect(listed.map((r) => r.status)).toEqual(['failed']);
    // The lock was released: a backup straight to the server runs at once and succeeds.
    proxy.setShaper(undefined);
    await write(connection.port);
    const again = await runCli(['backup', '--org', '1', '--json'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
  }, 60_000);
});
