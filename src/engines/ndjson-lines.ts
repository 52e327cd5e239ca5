/**
 * Cutting a restore's NDJSON byte stream into lines, for every organization engine.
 *
 * An archive is untrusted input: one line (one row) is bounded by `MAX_NDJSON_LINE_BYTES`, and a
 * longer one fails the restore (ArchiveError, exit 5) as soon as its bytes pass the bound — before
 * any string is built from it. The bound is larger than any row a backup writes: a row is parsed
 * as one JavaScript string, whose length V8 caps at 2^29 − 24 UTF-16 units (~512 MiB), so no
 * backup can write, nor any restore read, a longer line.
 *
 * Lines are cut at the byte 0x0A, which never occurs inside a multi-byte UTF-8 character, so no
 * decoder state is needed; a line wholly inside one chunk is a view of it (no copy), a line spread
 * over chunks is joined once, when its end arrives (never re-scanned).
 */
import { ArchiveError } from '../errors.js';

/** The longest line (bytes, without its newline) a restore accepts: 512 MiB − 64 KiB. */
export const MAX_NDJSON_LINE_BYTES = 512 * 1024 * 1024 - 64 * 1024;

export class NdjsonLines {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Lines cut so far (the number of the last line returned). */
  line = 0;

  constructor(
    private readonly table: string,
    private readonly maxBytes = MAX_NDJSON_LINE_BYTES,
  ) {}

  /** The complete lines `chunk` ends (views of it where possible); keeps the unfinished rest. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.parts.length > 0) {
        this.check(this.partBytes + piece.length);
        this.parts.push(piece);
        lines.push(Buffer.concat(this.parts, this.partBytes + piece.length));
        this.parts = [];
        this.partBytes = 0;
      } else {
        this.check(piece.length);
        lines.push(piece);
      }
      this.line += 1;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(this.partBytes + rest.length);
      this.parts.push(rest);
      this.partBytes += rest.length;
    }
    return lines;
  }

  /** The last line when the data does not end with a newline. */
  end(): Buffer | null {
    if (this.parts.length === 0) return null;
    const last = Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    this.line += 1;
    return last;
  }

  private check(bytes: number): void {
    if (bytes <= this.maxBytes) return;
    this.parts = [];
    this.partBytes = 0;
    throw new ArchiveError(
      `Table "${this.table}": line ${this.line + 1} of the archive is longer than ${this.maxBytes.toLocaleString('en-US')} bytes, more than any row a backup writes; restore refused, nothing was changed.`,
      { details: { table: this.table, line: this.line + 1, max_line_bytes: this.maxBytes } },
    );
  }
}
