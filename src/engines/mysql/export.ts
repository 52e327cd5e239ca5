/**
 * MySQL/MariaDB export of one table inside the session's snapshot. Rows are encoded in Node,
 * straight from the text protocol's row packets (`MysqlRowEncoder`, hooked into mysql2's Query
 * command on that query only), with no Buffer, string or array per row or value — mysql2's own
 * row parser makes a Buffer per value, and those with the strings built from them dominated the
 * profile (figures: bench/PERFORMANCE.md; test/integration/mysql-export-wire.test.ts proves the
 * bytes are those of the previous encoder). Exports on one connection run one at a time, so each
 * `out` must be consumed while its export runs.
 */
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Connection, QueryOptions } from 'mysql2';
import type { ColumnInfo, ExportResult, TablePlan } from '../types.js';
import { q } from './dialect.js';
import { destroyConnection, fail, type MysqlInternals } from './driver.js';
import { kindOf, LARGE_ROW_BYTES, MysqlRowEncoder } from './export-codec.js';

function selectExpression(column: ColumnInfo): string {
  const base = /^[a-z]+/.exec(column.type.toLowerCase())?.[0];
  return base === 'float' ? `(t.${q(column.name)} + 0e0)` : `t.${q(column.name)}`;
}

function orderBy(plan: TablePlan): string {
  const keys = plan.primaryKey.length > 0 ? plan.primaryKey : plan.columns.map((c) => c.name);
  return keys.map((k) => `t.${q(k)}`).join(', ');
}

export function exportSql(plan: TablePlan): string {
  return `SELECT ${plan.columns.map(selectExpression).join(', ')} FROM ${q(plan.table)} t WHERE ${plan.where} ORDER BY ${orderBy(plan)}`;
}

/** Progress is reported at least every 1024 rows (a mask). */
const PROGRESS_ROWS = 1023;
/** Output is handed to `out` in pieces of about this size. */
const FLUSH_BYTES = 1024 * 1024;

/** mysql2's packet (lib/packets/packet.js): the payload is buffer[offset, end). */
interface RowPacket {
  buffer: Buffer;
  offset: number;
  end: number;
  isEOF(): boolean;
}
type RowState = (packet: RowPacket, connection: unknown) => unknown;

export function exportRows(connection: Connection, plan: TablePlan, out: Writable, onRows: ((rows: number) => void) | undefined, onBroken: () => void): Promise<ExportResult> {
  const encoder = new MysqlRowEncoder(plan.table, plan.columns.map(kindOf));
  return new Promise<ExportResult>((resolve, reject) => {
    let settled = false;
    let paused = false;

    const settleError = (error: unknown) => {
      if (settled) return;
      settled = true;
      unwatch();
      out.off('error', onOutError);
      out.off('close', onOutClose);
      const failure = fail(`exporting table "${plan.table}"`, error);
      if (!out.destroyed) out.destroy(failure);
      reject(failure);
    };
    // The consumer went away mid-query: MySQL cannot cancel a running result on the same
    // connection, so the connection is dropped (the snapshot ends with it). Its socket is closed
    // at once: mysql2's destroy() only half-closes it, and the server, blocked writing rows nobody
    // reads, would keep the query (and its metadata locks) for net_write_timeout.
    const abandon = (error: unknown) => {
      if (settled) return;
      onBroken();
      destroyConnection(connection, error instanceof Error ? error : new Error('the export was abandoned'));
      settleError(error);
    };
    const onOutError = (error: unknown) => abandon(error);
    const onOutClose = () => abandon(new Error('the output stream was closed before the export finished'));
    out.on('error', onOutError);
    out.on('close', onOutClose);
    // A connection lost mid-result (server gone, killed session, stall guard, abort) reaches a
    // query without a callback only as the connection's 'error' — or, when the socket merely
    // closes, not at all: both must fail the export, or its promise would never settle.
    const socket = (connection as unknown as MysqlInternals).stream;
    const onLost = (error?: unknown) => {
      onBroken();
      settleError(error instanceof Error ? error : new Error('the connection to the server was lost'));
    };
    const onSocketClose = () => onLost();
    connection.on('error', onLost);
    socket.on('close', onSocketClose);
    const unwatch = () => {
      connection.off('error', onLost);
      socket.off('close', onSocketClose);
    };

    // The connection is paused while the output is full (`paused`) or a large row is converted
    // (`largeRows`), and resumed once neither holds it.
    let holds = 0;
    const hold = () => {
      if (holds++ === 0) connection.pause();
    };
    const release = () => {
      if (--holds === 0 && !settled) connection.resume();
    };
    const onDrain = () => {
      paused = false;
      release();
    };
    const flush = (last = false) => {
      const bytes = encoder.take();
      if (!bytes) return;
      // After the last row nothing is paused any more: the connection has other work to do.
      if (!out.write(bytes) && !paused && !last) {
        paused = true;
        hold();
        out.once('drain', onDrain);
      }
      onRows?.(encoder.rows);
    };

    // Large rows (LARGE_ROW_BYTES or more) are converted in steps, waiting for the reader between
    // them, with the connection paused; rows that arrive meanwhile wait behind them, in order.
    const waiting: Buffer[] = [];
    let largeRows: Promise<void> | undefined;
    const drained = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('close', done);
          resolve();
        };
        out.on('drain', done);
        out.on('close', done);
      });
    const convertWaiting = async () => {
      hold();
      try {
        for (let row = waiting.shift(); row !== undefined && !settled; row = waiting.shift()) {
          if (row.length < LARGE_ROW_BYTES) {
            encoder.convert(row, 0, row.length);
            continue;
          }
          for (const _step of encoder.convertLarge(row, 0, row.length)) {
            const bytes = encoder.take();
            if (bytes && !out.write(bytes) && !settled) await drained();
            onRows?.(encoder.rows);
          }
        }
      } catch (error) {
        abandon(error);
      } finally {
        largeRows = undefined;
        release();
      }
    };

    const query = connection.query({ sql: exportSql(plan), rowsAsArray: true, typeCast: false } as QueryOptions) as unknown as Record<string, unknown> & NodeJS.EventEmitter;
    // Rows are taken from mysql2's Query command before its row parser builds an array of
    // Buffers per row: its `row` state is replaced (on this query only) by one that converts the
    // packet's bytes; the end-of-rows packet goes back to mysql2's own `row` state.
    const ownRow = query.row as RowState;
    const rawRow: RowState = function (this: unknown, packet, conn) {
      if (packet.isEOF()) return ownRow.call(this, packet, conn);
      if (settled) return rawRow;
      if (largeRows || packet.end - packet.offset >= LARGE_ROW_BYTES) {
        // A view is kept: mysql2 reuses the packet object, never its bytes (a fresh buffer per read).
        waiting.push(packet.buffer.subarray(packet.offset, packet.end));
        largeRows ??= convertWaiting();
        return rawRow;
      }
      try {
        encoder.convert(packet.buffer, packet.offset, packet.end, flush);
      } catch (error) {
        abandon(error);
        return rawRow;
      }
      if (encoder.pending() >= FLUSH_BYTES) flush();
      else if ((encoder.rows & PROGRESS_ROWS) === 0) onRows?.(encoder.rows);
      return rawRow;
    };
    query.row = rawRow;
    query.on('error', (error: unknown) => settleError(error));
    query.on(
      'end',
      () =>
        void (largeRows ?? Promise.resolve()).then(() => {
          if (settled) return;
          out.off('error', onOutError);
          out.off('close', onOutClose);
          flush(true);
          onRows?.(encoder.rows);
          out.end();
          unwatch();
          finished(out, { readable: false }).then(
            () => {
              settled = true;
              resolve({ rows: encoder.rows });
            },
            (error: unknown) => settleError(error),
          );
        }),
    );
  });
}
