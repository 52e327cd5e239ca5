/**
 * A loopback TCP proxy in front of a real database server, to reproduce what networks do to a
 * byte stream: messages cut at arbitrary points, delivered late, or not at all. Client → server
 * bytes pass unchanged; the server → client stream goes through `shape`, which decides where each
 * chunk is cut and how long to wait before each piece. Pieces are written in order, one at a
 * time, with the given delays, so the client reads them as separate chunks.
 */
import net from 'node:net';

export interface Piece {
  bytes: Buffer;
  /** Milliseconds to wait before writing this piece (0: the next turn of the event loop). */
  delayMs: number;
}

/**
 * Cuts one server chunk into pieces. `offset`: the chunk's position in the connection's stream;
 * `connection`: the connection's index (as in `recorded`). 'hold': nothing more reaches the client.
 */
export type Shaper = (chunk: Buffer, offset: number, connection: number) => Piece[] | 'hold';

/** Sees each client → server chunk first; true drops the connection (both sides closed at once). */
export type ClientFilter = (chunk: Buffer, connection: number) => boolean;

export interface Proxy {
  port: number;
  /** Every byte the server sent, per connection, in order (what the client should have seen). */
  recorded: Buffer[][];
  setShaper(shaper: Shaper | undefined): void;
  setClientFilter(filter: ClientFilter | undefined): void;
  /** Closes connection `index` (both sides), as a network failure would. */
  drop(index: number): void;
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }): Promise<Proxy> {
  let shaper: Shaper | undefined;
  let clientFilter: ClientFilter | undefined;
  const recorded: Buffer[][] = [];
  const sockets = new Set<net.Socket>();
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const log: Buffer[] = [];
    const index = recorded.push(log) - 1;
    pairs.push([client, upstream]);
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      if (clientFilter?.(chunk, index)) {
        client.destroy();
        upstream.destroy();
      } else if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    client.on('end', () => upstream.end());
    let offset = 0;
    let queue = Promise.resolve();
    let held = false;
    upstream.on('data', (chunk: Buffer) => {
      log.push(chunk);
      const at = offset;
      offset += chunk.length;
      if (held) return;
      const pieces = shaper ? shaper(chunk, at, index) : [{ bytes: chunk, delayMs: -1 }];
      if (pieces === 'hold') {
        held = true; // a stalled server: nothing more reaches the client
        return;
      }
      for (const piece of pieces) {
        queue = queue.then(async () => {
          if (piece.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, piece.delayMs));
          else if (piece.delayMs === 0) await new Promise((resolve) => setImmediate(resolve));
          if (!client.destroyed) client.write(piece.bytes);
        });
      }
    });
    const end = () => {
      void queue.then(() => {
        client.destroy();
        upstream.destroy();
      });
    };
    upstream.on('close', end);
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => undefined);
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    recorded,
    setShaper: (next) => {
      shaper = next;
    },
    setClientFilter: (next) => {
      clientFilter = next;
    },
    drop: (index) => {
      for (const socket of pairs[index] ?? []) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The PostgreSQL protocol's typed messages (type byte + int32 length) of a server stream. */
export function pgMessages(stream: Buffer): Array<{ type: string; start: number; end: number }> {
  const messages: Array<{ type: string; start: number; end: number }> = [];
  let pos = 0;
  while (pos + 5 <= stream.length) {
    const end = pos + 1 + stream.readUInt32BE(pos + 1);
    if (end > stream.length) break;
    messages.push({ type: String.fromCharCode(stream[pos]!), start: pos, end });
    pos = end;
  }
  return messages;
}

/**
 * A PostgreSQL-aware shaper: tracks message boundaries across chunks and cuts each CopyDone ('c')
 * after its first `at` bytes; the rest of it goes `delayMs` later, together with what follows
 * (CommandComplete, ReadyForQuery) — the split that once hung every export.
 */
export function splitEveryCopyDone(at: number, delayMs: number): Shaper {
  let carry = Buffer.alloc(0); // bytes of an unfinished message header/payload, to find boundaries
  let carryStart = 0;
  return (chunk, offset) => {
    const stream = Buffer.concat([carry, chunk]);
    const base = carry.length > 0 ? carryStart : offset;
    const cuts: number[] = [];
    let pos = 0;
    while (pos + 5 <= stream.length) {
      const end = pos + 1 + stream.readUInt32BE(pos + 1);
      if (stream[pos] === 0x63 /* c */) cuts.push(base + pos + at - offset);
      if (end > stream.length) break;
      pos = end;
    }
    carry = Buffer.from(stream.subarray(pos));
    carryStart = base + pos;
    const pieces: Piece[] = [];
    let from = 0;
    for (const cut of cuts.filter((c) => c > 0 && c < chunk.length)) {
      pieces.push({ bytes: chunk.subarray(from, cut), delayMs: pieces.length === 0 ? -1 : delayMs });
      from = cut;
    }
    pieces.push({ bytes: chunk.subarray(from), delayMs: pieces.length === 0 ? -1 : delayMs });
    return pieces;
  };
}

/** Cuts every chunk at random points (seeded), each piece on a later turn of the event loop. */
export function randomSplits(seed: number, maxPiece = 700): Shaper {
  let state = seed >>> 0;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  return (chunk) => {
    const pieces: Piece[] = [];
    for (let pos = 0; pos < chunk.length;) {
      const size = 1 + Math.floor(random() * (random() < 0.3 ? 6 : maxPiece));
      pieces.push({ bytes: chunk.subarray(pos, pos + size), delayMs: 0 });
      pos += size;
    }
    return pieces;
  };
}
