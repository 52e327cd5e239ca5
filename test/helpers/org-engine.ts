/**
 * Driving an organization engine in tests: collecting an export, exporting every planned table in
 * one snapshot, restoring them in one transaction, and the streams a restore is fed (chunked, or
 * failing at its end like an archive entry whose checksum is wrong).
 */
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { expect } from 'vitest';
import type { OrganizationsConfig } from '../../src/config/schema.js';
import { planOrganizationTables } from '../../src/core/plan-organization.js';
import type { OrganizationEngine, OrganizationSession, TablePlan } from '../../src/engines/types.js';

/**
 * A Writable that keeps what it is given. `slow`: each write completes on a later turn with a
 * small buffer, so back-pressure reaches the export.
 */
export function collector(options: { slow?: boolean } = {}): { stream: Writable; bytes(): Buffer; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    ...(options.slow ? { highWaterMark: 1024 } : {}),
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      if (options.slow) setImmediate(callback);
      else callback();
    },
  });
  const bytes = () => Buffer.concat(chunks);
  return { stream, bytes, text: () => bytes().toString('utf8') };
}

/** The lines of an NDJSON export, parsed. */
export function ndjsonRows(data: Buffer | string): unknown[][] {
  const text = data.toString();
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown[]);
}

/**
 * Exports every plan in one snapshot (slow consumers). Checks what every export promises: the
 * output is ended, the row count is the number of lines, the last progress report is the total.
 */
export async function exportTables(session: OrganizationSession, plans: TablePlan[]): Promise<Map<string, Buffer>> {
  return session.withSnapshot(async (reader) => {
    const out = new Map<string, Buffer>();
    for (const plan of plans) {
      const sink = collector({ slow: true });
      const progress: number[] = [];
      const result = await reader.exportTable(plan, sink.stream, (n) => progress.push(n));
      await finished(sink.stream); // ended, not destroyed
      expect(result.rows, plan.table).toBe(ndjsonRows(sink.bytes()).length);
      if (result.rows > 0) expect(progress.at(-1), plan.table).toBe(result.rows);
      out.set(plan.table, sink.bytes());
    }
    return out;
  });
}

export type RowSource = Buffer | (() => Readable);

/**
 * Restores in one transaction as restore-organization does: deletes children first, imports
 * parents first (each table's data chunked, so lines and characters are cut across chunks), moves
 * counters. Returns the rows inserted per table.
 */
export async function restoreTables(session: OrganizationSession, plans: TablePlan[], data: Map<string, RowSource>): Promise<number[]> {
  return session.withRestoreTransaction(plans, async (writer) => {
    for (const plan of [...plans].reverse()) await writer.deleteRows(plan);
    const inserted: number[] = [];
    for (const plan of plans) {
      const source = data.get(plan.table) ?? Buffer.alloc(0);
      inserted.push(await writer.importTable(plan, plan.columns, Buffer.isBuffer(source) ? chunked(source) : source()));
    }
    for (const plan of plans) await writer.resetCounters(plan);
    return inserted;
  });
}

/** Small chunks, so lines and multi-byte characters are split across chunk boundaries. */
export function chunked(data: Buffer, size = 7): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return Readable.from(chunks);
}

/** A stream that delivers all of `data`, then fails — like an archive entry whose checksum is wrong. */
export function failingAtEnd(data: Buffer, message: string): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data);
      } else {
        setImmediate(() => this.destroy(new Error(message)));
      }
    },
  });
}

/** Connects, plans organization `organizationId`, runs `fn`, closes. */
export async function withPlannedSession<T>(
  engine: OrganizationEngine,
  config: OrganizationsConfig,
  fn: (session: OrganizationSession, plans: TablePlan[]) => Promise<T>,
  organizationId = '1',
): Promise<T> {
  const session = await engine.connect(config, { stallTimeoutMs: (config.stallTimeoutSeconds ?? 0) * 1000 });
  try {
    return await fn(session, planOrganizationTables(await session.introspect(), config, session.dialect, organizationId));
  } finally {
    await session.close();
  }
}
