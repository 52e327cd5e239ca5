/**
 * Cutting a restore's NDJSON byte stream into lines, for every organization engine.
 *
 * An archive is untrusted input: one line (one row) is bounded by `MAX_NDJSON_LINE_BYTES`, and a
 * longer one fails the restore (ArchiveError, exit 5) as soon as its bytes pass the bound — before
 * anything is built from it. The bound is larger than any row a backup writes: a row holds values
 * up to the database's own limits (PostgreSQL: a row's COPY text is at most 1 GB; MariaDB: a row
 * fits max_allowed_packet, at most 1 GiB), and its NDJSON — base64 for binary (4/3), JSON escapes
 * for text — stays under 1.5 GiB for any such row but text made mostly of control characters.
 * Lines of 1 MiB or more are never made strings: the engines read them at byte level.
 *
 * Lines are cut at the byte 0x0A, which never occurs inside a multi-byte UTF-8 character, so no
 * decoder state is needed. A line wholly inside one chunk is decoded from it directly; a line
 * spread over chunks keeps views of them and is joined and decoded once, when its end arrives
 * (never re-scanned). (Decoding each piece as it arrived and joining the text measured ~15 MiB
 * worse for a 50 MiB row: bench/large-value.ts.)
 */
import { ArchiveError } from '../errors.js';

/** The longest line (bytes, without its newline) a restore accepts: 1.5 GiB. */
export const MAX_NDJSON_LINE_BYTES = 1536 * 1024 * 1024;

export class NdjsonLines {
  /** The unfinished line: its pieces (views of the chunks) and its length in bytes. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Lines cut so far (the number of the last line returned). */
  line = 0;

  constructor(
    private readonly table: string,
    private readonly maxBytes = MAX_NDJSON_LINE_BYTES,
  ) {}

  /** The complete lines `chunk` ends, decoded; keeps the unfinished rest (a view of the chunk). */
  push(chunk: Buffer): string[] {
    return this.cut(chunk).map((line) => line.toString('utf8'));
  }

  /** The last line, decoded, when the data does not end with a newline. */
  end(): string | null {
    return this.finish()?.toString('utf8') ?? null;
  }

  /** As `push`, the lines as bytes: views of `chunk` where they lie in it, else joined once. */
  cut(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      if (this.parts.length > 0) {
        this.check(this.partBytes + nl - start);
        this.parts.push(chunk.subarray(start, nl));
        lines.push(Buffer.concat(this.parts, this.partBytes + nl - start));
        this.parts = [];
        this.partBytes = 0;
      } else {
        this.check(nl - start);
        lines.push(chunk.subarray(start, nl));
      }
      this.line += 1;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.check(this.partBytes + chunk.length - start);
      this.parts.push(chunk.subarray(start));
      this.partBytes += chunk.length - start;
    }
    return lines;
  }

  /** As `end`, as bytes. */
  finish(): Buffer | null {
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
