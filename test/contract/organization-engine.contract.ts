/**
 * The contract every organization engine keeps (restic's backend suite, for engines): an engine's
 * test file calls `describeOrganizationEngineContract` with a small factory and keeps only the cases
 * special to that engine.
 *
 * The factory builds a fresh database per test holding the engine's own edge-value schema: an
 * organizations table, at least two organizations with rows in a parent and a child table, and
 * rows that must never be touched. The suite knows the schema only through the factory's
 * `tables` and `organizations`.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OrganizationsConfig } from '../../src/config/schema.js';
import type { OrganizationEngine, OrganizationRow, OrganizationSession, TablePlan } from '../../src/engines/types.js';
import { ConnectionError, OperationError, UsageError } from '../../src/errors.js';
import { collector, exportTables, failingAtEnd, ndjsonRows, restoreTables, withPlannedSession, type RowSource } from '../helpers/org-engine.js';

export interface OrganizationEngineBed {
  config: OrganizationsConfig;
  /** Runs SQL on the bed's database from another connection (as the application would). */
  exec(sql: string): Promise<void>;
  /** Every row of every table, in the database's own exact forms, sorted: what must come back. */
  rows(): Promise<Record<string, string[]>>;
  drop(): Promise<void>;
}

export interface OrganizationEngineFactory {
  engine: OrganizationEngine;
  /** A fresh database with the engine's schema and rows, in WAL mode where that applies. */
  create(): Promise<OrganizationEngineBed>;
  /** Planned tables of organization 1: a parent with the tenant column and a child reached through a foreign key with a primary key. */
  tables: { parent: string; child: string };
  /** What findOrganization gives for organizations '1' and '2' (the second one has automatic backups disabled). */
  organizations: [OrganizationRow, OrganizationRow];
  /** Statements changing organization 1 in every way (update, delete, insert), and nothing of organization 2. */
  mutation: string[];
  /** Statements creating table `bulk` (id key, organization_id, ~200 bytes of text) with `rows` rows of organization 1. */
  bulk(rows: number): string[];
  /** Rows of `bulk` for the back-pressure case: several times `outputPieceBytes` of NDJSON. */
  bulkRows: number;
  /** The largest piece the engine writes to its output at once (bytes): the bound of what an export holds. */
  outputPieceBytes: number;
  /**
   * For server engines (the bed's connection is an object with host, port, user, database,
   * password): the URL scheme, a wrong password, and what the error must say about the target.
   */
  wrongPassword?: { scheme: string; password: string; message(target: ServerTarget): RegExp };
}

/**
 * Bound of the two cases that abandon an export: well under the servers' own write timeouts
 * (60 s), so a query left running on the server after its export was abandoned fails them.
 */
const LINGER_TIMEOUT_MS = 30_000;

interface ServerTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function describeOrganizationEngineContract(name: string, factory: OrganizationEngineFactory): void {
  describe(`${name}: organization engine contract`, () => {
    let bed: OrganizationEngineBed;
    const { parent, child } = factory.tables;

    beforeEach(async () => {
      bed = await factory.create();
    });
    afterEach(async () => {
      await bed?.drop();
    });

    const session = <T>(fn: (session: OrganizationSession, plans: TablePlan[]) => Promise<T>) => withPlannedSession(factory.engine, bed.config, fn);
    const planOf = (plans: TablePlan[], table: string) => plans.find((p) => p.table === table)!;

    it('plans the parent and the child table, and finds organizations by id', async () => {
      await session(async (s, plans) => {
        expect(plans.map((p) => p.table)).toEqual(expect.arrayContaining([bed.config.table, parent, child]));
        const found = await s.withSnapshot(async (reader) => Promise.all(['1', '2', '99'].map((id) => reader.findOrganization(bed.config, id))));
        expect(found).toEqual([...factory.organizations, null]);
        expect(await s.serverVersion()).toMatch(/\d+\.\d+/);
      });
    });

    it("compares ids with the id column's type: a value it cannot hold is a usage error, or only a code; counts rows in the snapshot", async () => {
      await session(async (s, plans) => {
        // Exact id lookups (a backup's): an id the integer column cannot hold is the caller's mistake, not "not found".
        const invalid = await s.withSnapshot((reader) => reader.findOrganization(bed.config, 'not-a-number')).catch((e: unknown) => e);
        expect(invalid).toBeInstanceOf(UsageError);
        expect((invalid as Error).message).toMatch(/"not-a-number" is not a valid organization id: column "organizations"\."id" is of type /);
        // --org <id|code>: such a value can still be a code (none has it here); without a code column it cannot.
        expect(await s.findOrganizations(bed.config, 'not-a-number')).toEqual([]);
        await expect(s.findOrganizations({ ...bed.config, codeColumn: 'no_such_column' }, 'not-a-number')).rejects.toBeInstanceOf(UsageError);
        expect((await s.findOrganizations(bed.config, '1')).map((row) => row.id)).toEqual(['1']);
        const exported = await exportTables(s, plans);
        const counted = await s.withSnapshot(async (reader) => Promise.all(plans.map((plan) => reader.countRows(plan))));
        expect(counted).toEqual(plans.map((plan) => ndjsonRows(exported.get(plan.table)!).length));
        await expect(s.withSnapshot((reader) => reader.countRows({ table: parent, where: 't.no_such_column = 1' }))).rejects.toBeInstanceOf(OperationError);
      });
    });

    it('round-trips every value of organization 1 exactly and leaves every other row untouched', async () => {
      const before = await bed.rows();
      await session(async (s, plans) => {
        const exported = await exportTables(s, plans);
        for (const statement of factory.mutation) await bed.exec(statement);
        expect(await bed.rows()).not.toEqual(before);
        const inserted = await restoreTables(s, plans, exported);
        expect(inserted).toEqual(plans.map((plan) => ndjsonRows(exported.get(plan.table)!).length));
        expect(await bed.rows()).toEqual(before);
        // A second backup of the restored organization is byte-identical to the first.
        const again = await exportTables(s, plans);
        for (const plan of plans) expect(again.get(plan.table)!.equals(exported.get(plan.table)!), plan.table).toBe(true);
      });
    });

    it('imports columns by name, in the order the manifest gives them', async () => {
      const before = await bed.rows();
      await session(async (s, plans) => {
        const reordered = plans.map((plan) => ({ ...plan, columns: [...plan.columns].reverse() }));
        const exported = await exportTables(s, reordered);
        for (const statement of factory.mutation) await bed.exec(statement);
        await restoreTables(s, reordered, exported);
      });
      expect(await bed.rows()).toEqual(before);
    });

    it('reads every table from one consistent snapshot while the application writes', async () => {
      await session(async (s, plans) => {
        const first = await exportTables(s, plans);
        const during = await s.withSnapshot(async (reader) => {
          const out = new Map<string, Buffer>();
          for (const [i, plan] of plans.entries()) {
            const sink = collector();
            await reader.exportTable(plan, sink.stream);
            out.set(plan.table, sink.bytes());
            // After the first table, the application changes organization 1 everywhere.
            if (i === 0) for (const statement of factory.mutation) await bed.exec(statement);
          }
          return out;
        });
        for (const plan of plans) expect(during.get(plan.table)!.equals(first.get(plan.table)!), plan.table).toBe(true);
      });
    });

    describe('a failing restore rolls everything back', () => {
      async function expectRollback(change: (exported: Map<string, Buffer>, plans: TablePlan[]) => Map<string, RowSource>, check: (error: unknown) => void) {
        await session(async (s, plans) => {
          const exported = await exportTables(s, plans);
          for (const statement of factory.mutation) await bed.exec(statement);
          const before = await bed.rows();
          const error = await restoreTables(s, plans, change(exported, plans)).catch((e: unknown) => e);
          check(error);
          expect(await bed.rows()).toEqual(before);
          // The session is fine afterwards: the unchanged backup restores.
          await restoreTables(s, plans, exported);
        });
      }

      it('on a constraint violation (a duplicate key)', async () => {
        await expectRollback(
          (exported) => {
            const lines = exported.get(child)!.toString('utf8');
            return new Map<string, RowSource>([...exported, [child, Buffer.from(lines + lines.trimEnd().split('\n').at(-1)! + '\n')]]);
          },
          (error) => {
            expect(error).toBeInstanceOf(OperationError);
            expect((error as Error).message).toContain(child);
          },
        );
      });

      for (const which of ['parent', 'child'] as const) {
        it(`when the ${which} table's rows stream fails at its end (checksum mismatch)`, async () => {
          const table = factory.tables[which];
          await expectRollback(
            (exported) => new Map<string, RowSource>([...exported, [table, () => failingAtEnd(exported.get(table)!, `checksum mismatch in ${table}`)]]),
            (error) => expect((error as Error).message).toContain(`checksum mismatch in ${table}`),
          );
        });
      }

      it('when the archive has a column the table no longer has', async () => {
        const before = await bed.rows();
        await session(async (s, plans) => {
          const plan = planOf(plans, child);
          const vanished = { ...plan.columns.at(-1)!, name: 'vanished' };
          const error = await s
            .withRestoreTransaction(plans, async (writer) => {
              await writer.deleteRows(plan);
              await writer.importTable(plan, [...plan.columns, vanished], Readable.from([]));
            })
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(OperationError);
          expect((error as Error).message).toContain('"vanished"');
        });
        expect(await bed.rows()).toEqual(before);
      });
    });

    it('fails an export whose query fails, destroying the output with an error naming the table', async () => {
      await session(async (s, plans) => {
        const broken = { ...planOf(plans, child), where: 't.no_such_column = 1' };
        const sink = collector();
        const destroyedWith = new Promise((resolve) => sink.stream.on('error', resolve));
        const error = await s.withSnapshot((reader) => reader.exportTable(broken, sink.stream)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OperationError);
        expect((error as Error).message).toContain(`"${child}"`);
        expect((error as Error).message).toMatch(/no_such_column|no such column/);
        expect(sink.stream.destroyed).toBe(true);
        expect(await destroyedWith).toBeInstanceOf(Error);
      });
    });

    describe('a large table', () => {
      beforeEach(async () => {
        for (const statement of factory.bulk(factory.bulkRows)) await bed.exec(statement);
      });

      it('streams with back-pressure: a consumer that stops reading stops the export', async () => {
        await session(async (s, plans) => {
          const plan = planOf(plans, 'bulk');
          const out = new PassThrough({ highWaterMark: 16 * 1024 });
          const progress: number[] = [];
          let settled = false;
          await s.withSnapshot(async (reader) => {
            const exporting = reader.exportTable(plan, out, (n) => progress.push(n)).finally(() => (settled = true));
            // Nobody reads yet: wait until the export stands still.
            let held = -1;
            for (let calm = 0, polls = 0; calm < 5 && polls < 400; polls++) {
              await new Promise((resolve) => setTimeout(resolve, 50));
              const now = out.readableLength + out.writableLength;
              calm = now === held ? calm + 1 : 0;
              held = now;
            }
            expect(settled).toBe(false);
            expect(held).toBeLessThan(out.writableHighWaterMark + 2 * factory.outputPieceBytes);
            // Now read everything: all rows arrive.
            const sink = collector();
            out.pipe(sink.stream);
            const result = await exporting;
            await finished(sink.stream);
            expect(result.rows).toBe(factory.bulkRows);
            expect(ndjsonRows(sink.bytes())).toHaveLength(factory.bulkRows);
            expect(sink.bytes().length).toBeGreaterThan(4 * factory.outputPieceBytes);
            expect(progress.at(-1)).toBe(factory.bulkRows);
          });
        });
      });

      it(
        'ends an abandoned export (the consumer went away) with its error, without hanging',
        async () => {
          await session(async (s, plans) => {
            const plan = planOf(plans, 'bulk');
            const error = await s
              .withSnapshot(async (reader) => {
                const out = new PassThrough({ highWaterMark: 16 });
                const exporting = reader.exportTable(plan, out);
                out.once('data', () => out.destroy(new Error('consumer gone')));
                await exporting;
              })
              .catch((e: unknown) => e);
            expect((error as Error).message).toMatch(/consumer gone/);
          });
          // A new session exports the whole table; then the table can be dropped at once: no query
          // of the abandoned export is left running (and holding locks) on the server.
          await session(async (s, plans) => {
            const exported = await exportTables(s, [planOf(plans, 'bulk')]);
            expect(ndjsonRows(exported.get('bulk')!)).toHaveLength(factory.bulkRows);
          });
          await bed.exec('DROP TABLE bulk');
        },
        LINGER_TIMEOUT_MS,
      );

      it(
        "fails an export whose output fails mid-stream, destroying the output, with the output's error",
        async () => {
          await session(async (s, plans) => {
            let written = 0;
            const out = new Writable({
              write(chunk: Buffer, _encoding, callback) {
                written += chunk.length;
                callback(written > 200_000 ? new Error('disk full') : null);
              },
            });
            const error = await s.withSnapshot((reader) => reader.exportTable(planOf(plans, 'bulk'), out)).catch((e: unknown) => e);
            expect((error as Error).message).toMatch(/disk full/);
            expect(out.destroyed).toBe(true);
          });
          await bed.exec('DROP TABLE bulk');
        },
        LINGER_TIMEOUT_MS,
      );
    });

    if (factory.wrongPassword) {
      const wrongPassword = factory.wrongPassword;
      it('reports a wrong password or an unreachable server as a ConnectionError that never quotes the password', async () => {
        const { scheme, password } = wrongPassword;
        const c = bed.config.connection as unknown as ServerTarget;
        const connections = [{ ...c, password }, `${scheme}://${c.user}:${encodeURIComponent(password)}@${c.host}:${c.port}/${c.database}`];
        for (const connection of connections) {
          const error = await factory.engine.connect({ ...bed.config, connection }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(ConnectionError);
          const text = (error as Error).message;
          expect(text).toMatch(wrongPassword.message(c));
          for (const form of [password, encodeURIComponent(password)]) {
            expect(text).not.toContain(form);
            expect(JSON.stringify(error)).not.toContain(form);
          }
        }
        // Nothing listens on port 1.
        const refused = await factory.engine.connect({ ...bed.config, connection: { ...c, port: 1 } }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(ConnectionError);
        expect((refused as Error).message).not.toContain(c.password);
      });
    }
  });
}
