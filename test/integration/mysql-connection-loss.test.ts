/**
 * The MariaDB export reads rows straight out of mysql2's protocol state. A connection that is lost
 * in the middle of a result — the server gone, the session killed — reaches a query without a
 * callback only as an 'error' on the connection (or not at all when the socket merely closes);
 * once, that left the export's promise pending forever and the process exited 0 with nothing
 * done. These tests cut the connection mid-export (also while the export is paused for
 * back-pressure), stall it, and abort it: each must end the export with a clear error.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { organizationsSchema } from '../../src/config/schema.js';
import { mysqlEngine } from '../../src/engines/mysql/index.js';
import type { OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { createTestDatabase, type ServerConnection, type TestDatabase } from '../helpers/databases.js';
import { withPlannedSession } from '../helpers/org-engine.js';
import { startProxy, type Proxy } from '../helpers/tcp-proxy.js';

let db: TestDatabase;
let proxy: Proxy;

beforeAll(async () => {
  db = await createTestDatabase('mysql', 'my_loss');
  const knex = db.knex();
  await knex.raw('CREATE TABLE organizations (id INT PRIMARY KEY, name VARCHAR(50), code VARCHAR(50))');
  await knex.raw('CREATE TABLE big (id INT PRIMARY KEY, organization_id INT NOT NULL, payload TEXT)');
  await knex.raw(`INSERT INTO organizations VALUES (1, 'one', 'one')`);
  // ~20 MB of rows: far more than the socket buffers, so the export pauses for back-pressure.
  await knex.raw(`INSERT INTO big SELECT seq, 1, REPEAT(MD5(seq), 16) FROM seq_1_to_40000`); // MariaDB's Sequence engine
  const { port } = db.connection as ServerConnection;
  proxy = await startProxy({ host: '127.0.0.1', port });
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await db?.drop();
});

async function withSession<T>(stallSeconds: number, fn: (session: OrganizationSession, plan: TablePlan) => Promise<T>): Promise<T> {
  const connection = db.connection as ServerConnection;
  const config = organizationsSchema.parse({ client: 'mysql2', connection: { ...connection, port: proxy.port }, stallTimeoutSeconds: stallSeconds });
  return withPlannedSession(mysqlEngine, config, (session, plans) =>
    fn(
      session,
      plans.find((p) => p.table === 'big')!,
    ),
  );
}

/** A consumer slow enough to pause the export; calls `onBytes` with the running total. */
function slowSink(onBytes: (total: number) => void): Writable {
  let total = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      setTimeout(callback, 5);
    },
  });
  // A failed export destroys its output with the error (the contract); the rejection is asserted.
  sink.on('error', () => undefined);
  return sink;
}

async function failureOf(promise: Promise<unknown>): Promise<Error | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  );
}

describe('MariaDB export when the connection goes away', () => {
  it('fails with a clear error when the server connection is cut mid-result (export paused for back-pressure)', async () => {
    proxy.setShaper(undefined);
    const failure = await failureOf(
      withSession(600, (session, plan) =>
        session.withSnapshot(async (reader) => {
          let cut = false;
          await reader.exportTable(
            plan,
            slowSink((total) => {
              // Cut every connection once the export is well under way.
              if (!cut && total > 1024 * 1024) {
                cut = true;
                void proxy.close().then(async () => {
                  proxy = await startProxy({ host: '127.0.0.1', port: (db.connection as ServerConnection).port });
                });
              }
            }),
          );
        }),
      ),
    );
    expect(failure?.message).toMatch(/exporting table "big"/i);
  }, 60_000);

  it('is given up by the stall guard when the server stops sending', async () => {
    let holding = false;
    const stalled = await failureOf(
      withSession(1, (session, plan) =>
        session.withSnapshot(async (reader) => {
          proxy.setShaper(() => {
            holding = true;
            return 'hold';
          });
          await reader.exportTable(
            plan,
            slowSink(() => undefined),
          );
        }),
      ),
    );
    proxy.setShaper(undefined);
    expect(holding).toBe(true);
    expect(stalled?.message).toMatch(/No data from the MySQL\/MariaDB server for 1 s/);
  }, 60_000);

  it('ends at once when the session is aborted (Ctrl-C)', async () => {
    const failure = await failureOf(
      withSession(0, (session, plan) =>
        session.withSnapshot(async (reader) => {
          proxy.setShaper(() => 'hold');
          setTimeout(() => session.abort(new Error('Backup cancelled.')), 300);
          await reader.exportTable(
            plan,
            slowSink(() => undefined),
          );
        }),
      ),
    );
    proxy.setShaper(undefined);
    expect(failure?.message).toMatch(/Backup cancelled/);
  }, 30_000);
});
