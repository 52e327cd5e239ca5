/**
 * `COPY … TO STDOUT` read straight from pg's socket: the CopyData messages are converted in place
 * by an NdjsonEncoder while the server produces the next rows (the two run on different cores),
 * and NDJSON leaves in 1 MiB pieces. No Buffer per row, no intermediate stream.
 *
 * This takes pg's connection over for the duration of the COPY (as pg-copy-streams does): it
 * relies on pg's internals (exactly one 'data' listener on the socket, `connection.query`), so
 * test/integration/postgres-copy-splits.test.ts and postgres-export-wire.test.ts gate a pg upgrade.
 */
import { Readable } from 'node:stream';
import { LARGE_MESSAGE_BYTES, LargeCopyRow } from './copy-out-large.js';
import { LF, PUSH_BYTES, type NdjsonEncoder } from './export-codec.js';

/** The pg connection internals a COPY stream takes over (as pg-copy-streams does). */
interface PgConnection {
  stream: import('node:net').Socket;
  query(text: string): void;
}

// Backend message types seen during COPY OUT (protocol 3).
const MSG_COPY_DATA = 0x64; // d
const MSG_COPY_DONE = 0x63; // c
const MSG_ERROR = 0x45; // E

/**
 * `COPY … TO STDOUT` as a Readable of NDJSON: a pg "submittable" that, like pg-copy-streams'
 * copy-to, takes the connection's socket over for the duration of the COPY (pulling it only as
 * fast as its reader consumes: back-pressure reaches the server), but parses the protocol itself
 * and converts each CopyData message (one row in text format) in place, straight from the
 * socket's bytes: no Buffer per row, no intermediate stream. At CopyDone or an ErrorResponse the
 * socket goes back to pg, which reports the command's completion or the error.
 */
export class CopyToNdjson extends Readable {
  rowCount = 0;
  private connection: PgConnection | undefined;
  private pgDataHandler: ((chunk: Buffer) => void) | undefined;
  private readonly onReadable = () => this.forward();
  private wanted = false;
  private forwarding = false;
  private finished = false;
  /** An incomplete message (header or payload) carried over to the next socket chunk(s). */
  private partial: Buffer[] = [];
  private partialLength = 0;
  /** A large CopyData message being converted as its bytes arrive (copy-out-large.ts), and its bytes still to come. */
  private large: { row: LargeCopyRow; remaining: number } | undefined;
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Resolves once pg saw the COPY complete (ReadyForQuery), with `rowCount` set. */
  readonly completed = new Promise<void>((resolve, reject) => {
    this.settle = { resolve, reject };
  });

  constructor(
    private readonly text: string,
    readonly encoder: NdjsonEncoder,
    private readonly onRows?: (rows: number) => void,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.completed.catch(() => undefined); // also reported through the stream
  }

  /** Called by pg when this query's turn comes. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const socket = connection.stream;
    const listeners = socket.listeners('data') as Array<(chunk: Buffer) => void>;
    if (listeners.length !== 1) throw new Error('unexpected pg connection state: not exactly one data listener');
    this.pgDataHandler = listeners[0]!;
    socket.removeListener('data', this.pgDataHandler);
    socket.pause();
    socket.on('readable', this.onReadable);
    connection.query(this.text);
    this.forward();
  }

  override _read(): void {
    this.wanted = true;
    this.forward();
  }

  private forward(): void {
    if (this.forwarding || !this.wanted || !this.connection || this.finished) return;
    this.forwarding = true;
    try {
      const socket = this.connection.stream;
      let chunk: Buffer | null;
      while (this.wanted && !this.finished && (chunk = socket.read() as Buffer | null) !== null) this.parse(chunk);
    } catch (error) {
      this.finished = true;
      this.destroy(error as Error);
    } finally {
      this.forwarding = false;
    }
  }

  /** Walks the messages of one socket chunk; converts CopyData rows in place. */
  private parse(chunk: Buffer): void {
    let pos = 0;
    if (this.large) {
      pos = this.feedLarge(chunk, 0);
      if (this.large) return;
    }
    if (this.partialLength > 0) {
      // Complete the message cut by the previous chunk(s) with the head of this one — a small copy
      // (a message is one row); a large row's pieces are gathered and joined once.
      this.partial.push(pos > 0 ? chunk.subarray(pos) : chunk);
      this.partialLength += chunk.length - pos;
      if (this.partialLength < 5) return;
      const head = this.partial[0]!.length >= 5 ? this.partial[0]! : Buffer.concat(this.partial, this.partialLength);
      const total = 1 + head.readUInt32BE(1);
      if (head[0] === MSG_COPY_DATA && total >= LARGE_MESSAGE_BYTES) {
        // A large row: converted from what came so far, the rest as it comes.
        const gathered = Buffer.concat(this.partial, this.partialLength);
        this.partial = [];
        this.partialLength = 0;
        this.walk(gathered, 0);
        return;
      }
      if (head[0] !== MSG_ERROR && total > this.partialLength) return;
      const before = this.partialLength - (chunk.length - pos);
      const pieces = this.partial;
      const length = this.partialLength;
      this.partial = [];
      this.partialLength = 0;
      if (head[0] === MSG_ERROR || head[0] === MSG_COPY_DONE) {
        // The COPY ends with this message: everything after it (CommandComplete, ReadyForQuery, …)
        // is pg's to read, so the whole of this chunk goes back with it, never only the message.
        this.walk(Buffer.concat(pieces, length), 0);
        return;
      }
      // Buffer.concat stops at `total`: only the message's own bytes are copied.
      if (this.walk(Buffer.concat(pieces, total), 0)) return;
      pos += total - before;
    }
    this.walk(chunk, pos);
  }

  /** Feeds the large row its bytes from chunk[pos…]; returns where the rest of the chunk starts. */
  private feedLarge(chunk: Buffer, pos: number): number {
    const large = this.large!;
    const end = Math.min(chunk.length, pos + large.remaining);
    large.row.feed(chunk, pos, end);
    large.remaining -= end - pos;
    if (large.remaining === 0) {
      this.large = undefined;
      large.row.end();
      this.encoder.rows += 1;
      this.onRows?.(this.encoder.rows);
    }
    return end;
  }

  /**
   * Handles the messages of buf from pos: converts CopyData rows in place, keeps an incomplete
   * last message for the next chunk. True once the COPY is over (the rest belongs to pg).
   */
  private walk(buf: Buffer, pos: number): boolean {
    const encoder = this.encoder;
    const length = buf.length;
    while (pos < length) {
      if (length - pos < 5) break; // an incomplete header
      const type = buf[pos]!;
      const end = pos + 1 + buf.readUInt32BE(pos + 1);
      if (type === MSG_ERROR) {
        // pg parses the error and calls handleError; everything from here on is its to read.
        this.detach(buf.subarray(pos));
        return true;
      }
      if (type === MSG_COPY_DATA && end - pos >= LARGE_MESSAGE_BYTES) {
        // What was converted before goes first; then the large row, piece by piece.
        this.emitOutput(true);
        this.large = {
          row: new LargeCopyRow(
            encoder.wires,
            (piece) => (this.wanted = this.push(piece)),
            (what) => encoder.bad(what),
          ),
          remaining: end - pos - 5,
        };
        pos = this.feedLarge(buf, pos + 5);
        if (this.large) return false;
        continue;
      }
      if (end > length) break; // an incomplete message
      if (type === MSG_COPY_DATA) {
        if (end > pos + 5) {
          if (buf[end - 1] !== LF) throw encoder.bad('is not one line');
          encoder.convert(buf, pos + 5, end);
        }
      } else if (type === MSG_COPY_DONE) {
        this.finished = true;
        this.emitOutput();
        this.onRows?.(encoder.rows);
        this.detach(buf.subarray(end));
        this.push(null);
        return true;
      }
      // Anything else during COPY OUT (CopyOutResponse, notices, parameter status) is skipped.
      pos = end;
    }
    if (pos < length) {
      // A copy: the socket's chunk is not kept alive for a partial message.
      this.partial = [Buffer.from(buf.subarray(pos))];
      this.partialLength = length - pos;
    }
    this.emitOutput();
    return false;
  }

  /** Pushes the NDJSON converted so far — in large pieces (fewer hops downstream), or all of it at the end. */
  private emitOutput(now = false): void {
    if (!this.finished && !now && this.encoder.pending() < PUSH_BYTES) return;
    const bytes = this.encoder.take();
    if (!bytes) return;
    this.wanted = this.push(bytes);
    this.onRows?.(this.encoder.rows);
  }

  /** Hands the socket (and the bytes after the COPY data) back to pg. */
  private detach(rest: Buffer): void {
    const connection = this.connection!;
    const socket = connection.stream;
    socket.removeListener('readable', this.onReadable);
    socket.addListener('data', this.pgDataHandler!);
    if (rest.length > 0) this.pgDataHandler!(rest);
    // pg's handler may pause the socket; resume once it has returned.
    process.nextTick(() => socket.resume());
  }

  /** pg: the server reported an error for this COPY. */
  handleError(error: Error): void {
    this.finished = true;
    this.settle?.reject(error);
    this.destroy(error);
  }

  /** pg: `COPY n`. */
  handleCommandComplete(message: { text?: string }): void {
    const match = /COPY (\d+)/.exec(message.text ?? '');
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {
    this.settle?.resolve();
  }
}
