/**
 * Rows of 1 MiB or more take the restores' byte-level path (PostgreSQL COPY text, MariaDB INSERT;
 * SQLite keeps its usual path): values with every kind of character — quotes, backslashes,
 * newlines, tabs, NUL-free control characters, multi-byte text — and binary values come back
 * exactly, next to small rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import type { Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { checksumTable } from '../helpers/checksums.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { orgDepsFor } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

const TEXT_TYPE = { postgres: 'text', mysql: 'LONGTEXT', sqlite: 'TEXT' } as const;
const BLOB_TYPE = { postgres: 'bytea', mysql: 'LONGBLOB', sqlite: 'BLOB' } as const;
const piece = `quote ' double " back \\ slash / tab\t nl\n cr\r bell\u0007 ctrl-z\u001a é 日本 🚀 `;

describe.each(['postgres', 'mysql', 'sqlite'] as const)('restoring rows of several MiB on %s', (engine) => {
  let db: TestDatabase;
  let deps: Deps;
  const k = () => db.knex();

  beforeAll(async () => {
    db = await createTestDatabase(engine, 'tb_large');
    await k().raw('CREATE TABLE organizations (id INTEGER PRIMARY KEY, code VARCHAR(20))');
    await k().raw(
      `CREATE TABLE docs (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, body ${TEXT_TYPE[engine]}, bin ${BLOB_TYPE[engine]}, note VARCHAR(20),
       FOREIGN KEY (organization_id) REFERENCES organizations (id))`,
    );
    await k()('organizations').insert([
      { id: 1, code: 'a' },
      { id: 2, code: 'b' },
    ]);
    const big = piece.repeat(Math.ceil((2 * 1024 * 1024) / piece.length));
    const bytes = Buffer.alloc(1536 * 1024);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 7919) % 256;
    await k()('docs').insert([
      { id: 1, organization_id: 1, body: big, bin: bytes, note: 'large' },
      { id: 2, organization_id: 1, body: 'small', bin: null, note: null },
      { id: 3, organization_id: 1, body: `${big}!`, bin: null, note: 'text only' },
      { id: 4, organization_id: 2, body: 'other', bin: Buffer.from([1, 2]), note: 'b' },
    ]);
    deps = await orgDepsFor(db);
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDirs();
  });

  it('gives every value back exactly', async () => {
    const before = await checksumTable(k(), engine, 'docs');
    const backup = await backupOrganization(deps, { organizationId: '1' });
    await k()('docs').where({ organization_id: 1 }).delete();
    const result = await restoreOrganization(deps, { organizationId: '1', backup: backup.record.backup_filename });
    expect(result.action).toBe('restored');
    expect(await checksumTable(k(), engine, 'docs')).toEqual(before);
  });
});
