/**
 * The contract every Store keeps (where archives live): a kind's test file calls
 * `describeStoreContract` with a factory — the local folder (test/unit/store-local.test.ts) and the
 * S3 store against two S3 implementations (test/integration/store-s3.test.ts) run the same cases.
 * Staging is always local (DESIGN.md): `tempPath` gives a local file the archive is written to;
 * `commit` makes it the archive, whole or not at all; `fetch` gives a local file to read.
 */
import { randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidNameError, NotFoundError } from '../../src/errors.js';
import type { StoreArea } from '../../src/retention/naming.js';
import type { Store } from '../../src/store/types.js';

export interface StoreFactory {
  /** A fresh, empty store; `cleanup` removes everything it made. */
  create(): Promise<{ store: Store; cleanup(): Promise<void> }>;
}

const AREA: StoreArea = 'tenant-databases';
const OTHER_AREA: StoreArea = 'organizations';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name}: store contract`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory.create());
    });
    afterEach(async () => {
      await cleanup?.();
    });

    /** Writes `data` through a temp file and commits it as `file`. */
    async function put(file: string, data: string | Buffer, area: StoreArea = AREA) {
      const temp = await store.tempPath(area, file);
      await writeFile(temp, data);
      return store.commit(temp, area, file);
    }

    /** `reference` with its last segment replaced (paths and URLs alike). */
    const sibling = (reference: string, last: string) => reference.slice(0, reference.lastIndexOf('/') + 1) + last;

    it('commits an archive: stat, list, open, fetch and location all see the committed bytes', async () => {
      const stored = await put('acme_2026-11-21_19-04-00.zip', 'first archive');
      expect(stored).toMatchObject({ area: AREA, name: 'acme_2026-11-21_19-04-00.zip', bytes: 13 });
      expect(await store.stat(AREA, 'acme_2026-11-21_19-04-00.zip')).toMatchObject({ bytes: 13, path: stored.path });
      expect((await store.list(AREA)).map((f) => f.name)).toEqual(['acme_2026-11-21_19-04-00.zip']);
      expect((await readAll(await store.open(AREA, 'acme_2026-11-21_19-04-00.zip'))).toString()).toBe('first archive');
      expect(store.location(AREA, 'acme_2026-11-21_19-04-00.zip')).toBe(stored.path);
      expect(path.posix.basename(stored.path)).toBe('acme_2026-11-21_19-04-00.zip');
      const copy = await store.fetch(AREA, 'acme_2026-11-21_19-04-00.zip');
      expect(copy.bytes).toBe(13);
      expect((await readFile(copy.path)).toString()).toBe('first archive');
      await copy.release();
      // Releasing a download removes it; the archive itself stays.
      expect((await readAll(await store.open(AREA, 'acme_2026-11-21_19-04-00.zip'))).toString()).toBe('first archive');
      // Areas are separate.
      expect(await store.list(OTHER_AREA)).toEqual([]);
      expect(await store.stat(OTHER_AREA, 'acme_2026-11-21_19-04-00.zip')).toBeNull();
    });

    it('replaces an older archive of the same name only at commit: old or new, never half', async () => {
      await put('acme_saturday_backup.zip', 'last week');
      const temp = await store.tempPath(AREA, 'acme_saturday_backup.zip');
      await writeFile(temp, 'this week, longer');
      // Written but not committed: the old archive is the one there, and the temp is not listed.
      expect((await readAll(await store.open(AREA, 'acme_saturday_backup.zip'))).toString()).toBe('last week');
      expect((await store.list(AREA)).map((f) => f.name)).toEqual(['acme_saturday_backup.zip']);
      await store.commit(temp, AREA, 'acme_saturday_backup.zip');
      expect((await readAll(await store.open(AREA, 'acme_saturday_backup.zip'))).toString()).toBe('this week, longer');
      expect(await store.list(AREA)).toHaveLength(1);
    });

    it('a failed write (discard) leaves the older archive untouched and nothing else behind', async () => {
      await put('acme_saturday_backup.zip', 'last week');
      const temp = await store.tempPath(AREA, 'acme_saturday_backup.zip');
      await writeFile(temp, 'half an arch');
      await store.discard(temp);
      await store.discard(temp); // never throws
      expect((await readAll(await store.open(AREA, 'acme_saturday_backup.zip'))).toString()).toBe('last week');
      expect((await store.list(AREA)).map((f) => f.name)).toEqual(['acme_saturday_backup.zip']);
    });

    it('lists archives newest first', async () => {
      await put('acme_2026-11-01_10-00-00.zip', 'a');
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
      await put('acme_2026-11-02_10-00-00.zip', 'b');
      expect((await store.list(AREA)).map((f) => f.name)).toEqual(['acme_2026-11-02_10-00-00.zip', 'acme_2026-11-01_10-00-00.zip']);
    });

    it('commits an archive of several megabytes unchanged, and the temp file is gone afterwards', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const temp = await store.tempPath(AREA, 'acme_2026-11-03_10-00-00.zip');
      await writeFile(temp, data);
      const stored = await store.commit(temp, AREA, 'acme_2026-11-03_10-00-00.zip');
      expect(stored.bytes).toBe(data.length);
      expect((await readAll(await store.open(AREA, 'acme_2026-11-03_10-00-00.zip'))).equals(data)).toBe(true);
      await expect(access(temp)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('an aborted commit leaves the older archive untouched', async () => {
      await put('acme_saturday_backup.zip', 'last week');
      const temp = await store.tempPath(AREA, 'acme_saturday_backup.zip');
      await writeFile(temp, 'this week');
      const controller = new AbortController();
      controller.abort();
      await expect(store.commit(temp, AREA, 'acme_saturday_backup.zip', { signal: controller.signal })).rejects.toThrow();
      await store.discard(temp);
      expect((await readAll(await store.open(AREA, 'acme_saturday_backup.zip'))).toString()).toBe('last week');
    });

    it('removes an archive (again: no error); a missing one is not found', async () => {
      await put('acme_2026-11-01_10-00-00.zip', 'a');
      await store.remove(AREA, 'acme_2026-11-01_10-00-00.zip');
      await store.remove(AREA, 'acme_2026-11-01_10-00-00.zip');
      expect(await store.stat(AREA, 'acme_2026-11-01_10-00-00.zip')).toBeNull();
      expect(await store.list(AREA)).toEqual([]);
      await expect(store.open(AREA, 'acme_2026-11-01_10-00-00.zip')).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.fetch(AREA, 'acme_2026-11-01_10-00-00.zip')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('refuses names that could leave the area', async () => {
      for (const bad of ['../escape.zip', 'a/b.zip', '', '.hidden.zip', 'nul\0.zip']) {
        expect(() => store.location(AREA, bad), JSON.stringify(bad)).toThrow(InvalidNameError);
        await expect(store.stat(AREA, bad), JSON.stringify(bad)).rejects.toBeInstanceOf(InvalidNameError);
        await expect(store.tempPath(AREA, bad), JSON.stringify(bad)).rejects.toBeInstanceOf(InvalidNameError);
      }
    });

    it('resolves what a user typed to a name inside the area, and refuses anything else', async () => {
      const stored = await put('acme_2026-11-01_10-00-00.zip', 'a');
      expect(await store.resolveReference(AREA, 'acme_2026-11-01_10-00-00.zip')).toBe('acme_2026-11-01_10-00-00.zip');
      expect(await store.resolveReference(AREA, stored.path)).toBe('acme_2026-11-01_10-00-00.zip');
      await expect(store.resolveReference(AREA, sibling(stored.path, '../ledger.json'))).rejects.toBeInstanceOf(InvalidNameError);
      await expect(store.resolveReference(AREA, '/etc/passwd')).rejects.toBeInstanceOf(InvalidNameError);
      // A path to a file that is not there names it all the same; stat then says it does not exist.
      expect(await store.resolveReference(AREA, sibling(stored.path, 'acme_2026-11-09_10-00-00.zip'))).toBe('acme_2026-11-09_10-00-00.zip');
      expect(await store.stat(AREA, 'acme_2026-11-09_10-00-00.zip')).toBeNull();
      await expect(store.resolveReference(AREA, 'a\0b.zip')).rejects.toBeInstanceOf(InvalidNameError);
      await expect(store.resolveReference(OTHER_AREA, stored.path)).rejects.toBeInstanceOf(InvalidNameError);
    });
  });
}
