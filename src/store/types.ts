/**
 * Where archives live: a local folder (`local.ts`) or an S3-compatible bucket (`s3.ts`). Names are
 * `<area>/<file>`; files are validated by the store.
 *
 * Staging is always local (DESIGN.md): an archive is written to `tempPath` — a file in the local
 * staging folder (`storage.dir`) — verified there, and only then handed to `commit`, which makes it
 * the archive whole or not at all (a rename over the old file; an upload checked against the
 * staged bytes before it counts). A remote store never sees a half-written archive, and readers
 * that need random access (the zip central directory) get a local file from `fetch`.
 */
import type { Readable } from 'node:stream';
import type { StoreArea } from '../retention/naming.js';

export interface StoredFile {
  area: StoreArea;
  name: string;
  /** Absolute path (local store) or `s3://bucket/key` (S3): what the ledger records as `backup_path`. */
  path: string;
  bytes: number;
  modifiedAt: Date;
}

/** A local file holding an archive, for readers that need random access. */
export interface LocalCopy {
  path: string;
  bytes: number;
  /** Removes the file if it is a download (never the local store's own archive); never throws. */
  release(): Promise<void>;
}

export interface CommitOptions {
  /** Ends an upload at once: the partial upload is aborted, the old archive stays. */
  signal?: AbortSignal;
}

export interface Store {
  readonly kind: 'local' | 's3';
  /** Where the archive `name` is (or would be): a path or an `s3://` URL. Throws InvalidNameError for a bad name. */
  location(area: StoreArea, name: string): string;
  /** Creates (0700) and returns the local staging folder of an area. */
  ensureArea(area: StoreArea): Promise<string>;
  /** A fresh local temp path in the staging folder of `area` (remote stores check their bucket first). */
  tempPath(area: StoreArea, finalName: string): Promise<string>;
  /**
   * Makes the verified temp file the archive `<area>/<finalName>`, replacing an older one
   * atomically: readers see the old or the new archive, never a part. The temp file is gone
   * afterwards (renamed, or uploaded and removed). On failure the old archive is untouched.
   */
  commit(temp: string, area: StoreArea, finalName: string, options?: CommitOptions): Promise<StoredFile>;
  /** Removes a temp file; never throws. */
  discard(temp: string): Promise<void>;
  stat(area: StoreArea, name: string): Promise<StoredFile | null>;
  /** The archive's bytes as a stream. */
  open(area: StoreArea, name: string): Promise<Readable>;
  /** The archive as a local file (the file itself, or a streamed download into staging); NotFoundError if absent. */
  fetch(area: StoreArea, name: string, options?: { signal?: AbortSignal }): Promise<LocalCopy>;
  /** Archives of an area, newest first. */
  list(area: StoreArea): Promise<StoredFile[]>;
  /** Removes an archive; removing one that is not there is no error. */
  remove(area: StoreArea, name: string): Promise<void>;
  /**
   * Turns what a user typed (a bare name from `list`, or a path / URL to an archive inside this
   * store's area) into a validated bare name. Anything outside the area is refused.
   */
  resolveReference(area: StoreArea, reference: string, cwd?: string): Promise<string>;
}
