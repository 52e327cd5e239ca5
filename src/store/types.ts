/**
 * Where archives live. The local directory is the only kind today; an S3-compatible store would
 * implement the same interface. Names are `<area>/<file>`; files are validated by the store.
 */
import type { Readable } from 'node:stream';
import type { StoreArea } from '../retention/naming.js';

export interface StoredFile {
  area: StoreArea;
  name: string;
  /** Absolute path (local store) or URL (remote stores). */
  path: string;
  bytes: number;
  modifiedAt: Date;
}

export interface Store {
  /** A fresh temp path in the same directory as the final file, so `commit` can rename atomically. */
  tempPath(area: StoreArea, finalName: string): Promise<string>;
  /** fsyncs `temp`, renames it over `<area>/<finalName>` (replacing an older file atomically), fsyncs the folder. */
  commit(temp: string, area: StoreArea, finalName: string): Promise<StoredFile>;
  /** Removes a temp file; never throws. */
  discard(temp: string): Promise<void>;
  stat(area: StoreArea, name: string): Promise<StoredFile | null>;
  open(area: StoreArea, name: string): Promise<Readable>;
  /** Absolute local path of an archive, for readers that need random access (zip central directory). */
  localPath(area: StoreArea, name: string): string;
  list(area: StoreArea): Promise<StoredFile[]>;
  remove(area: StoreArea, name: string): Promise<void>;
  /**
   * Turns what a user typed (a bare name from `list`, or a path to an archive inside this store's
   * area) into a validated bare name. Anything outside the area is refused.
   */
  resolveReference(area: StoreArea, reference: string, cwd?: string): Promise<string>;
}
