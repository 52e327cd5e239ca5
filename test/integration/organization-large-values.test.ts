/**
 * Values of tens of MiB (issue 17 point 5) round-trip exactly through an organization backup and
 * restore: they take the export's piece-by-piece path (PostgreSQL COPY rows converted as their
 * bytes arrive; MariaDB rows over one 16 MiB protocol packet converted in steps) and the restore's
 * (COPY text handed on slice by slice; an INSERT sent as several protocol packets made of views of
 * the row). Text with every kind of character and pseudo-random binary, next to small rows and
 * another organization's large row. Sizes beyond (300 MiB – 1 GB) are measured in
 * bench/large-value.ts, not here.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupOrganization } from '../../src/core/backup-organization.js';
import type { Deps } from '../../src/core/context.js';
import { restoreOrganization } from '../../src/core/restore-organization.js';
import { checksumTable } from '../helpers/checksums.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { orgDepsFor } from '../helpers/org-setup.js';
import { removeTempDirs } from '../helpers/temp.js';

const TEXT_TYPE = { postgres: 'text', mysql: 'LONGTEXT' } as const;
const BLOB_TYPE = { postgres: 'bytea', mysql: 'LONGBLOB' } as const;
const MiB = 1024 * 1024;
const piece = `quote ' double " back \\ slash / tab\t nl\n cr\r bell\u0007 vt\u000b ctrl-z\u001a é 日本 🚀 `;

describe.each(['postgres', 'mysql'] as const)('values of tens of MiB on %s', (engine) => {
  let db: TestDatabase;
  let deps: Deps;
  const k = () => db.knex();

  beforeAll(async () => {
    db = await createTestDatabase(engine, 'tb_large_values');
    if (engine === 'mysql') {
      // MariaDB's default max_allowed_packet (16 MiB) is below these rows. A session takes the
      // global value when it connects: set before the test's own connections (and the tool's) open.
      const admin = await mysql.createConnection(db.connection as mysql.ConnectionOptions);
      await admin.query('SET GLOBAL max_allowed_packet = 268435456');
      await admin.end();
    }
    await k().raw('CREATE TABLE organizations (id INTEGER PRIMARY KEY, code VARCHAR(20))');
    await k().raw(
      `CREATE TABLE docs (id INTEGER PRIMARY KEY, organization_id INTEGER NOT NULL, body ${TEXT_TYPE[engine]}, bin ${BLOB_TYPE[engine]}, note VARCHAR(20),
       FOREIGN KEY (organization_id) REFERENCES organizations (id))`,
    );
    await k()('organizations').insert([
      { id: 1, code: 'a' },
      { id: 2, code: 'b' },
    ]);
    deps = await orgDepsFor(db);
    const text = piece.repeat(Math.ceil((40 * MiB) / Buffer.byteLength(piece)));
    const binary = Buffer.alloc(24 * MiB + 7);
    for (let i = 0, x = 1; i < binary.length; i += 1) {
      x = (x * 1103515245 + 12345) >>> 0;
      binary[i] = x >>> 24;
    }
    await k()('docs').insert({ id: 1, organization_id: 1, body: text, bin: null, note: 'text' });
    await k()('docs').insert({ id: 2, organization_id: 1, body: null, bin: binary, note: 'binary' });
    await k()('docs').insert({ id: 3, organization_id: 1, body: 'small', bin: Buffer.from([0, 1, 2]), note: null });
    await k()('docs').insert({ id: 4, organization_id: 2, body: `${text.slice(0, 3 * MiB)}?`, bin: binary.subarray(0, 2 * MiB), note: 'other' });
  }, 180_000);
  afterAll(async () => {
    await db?.drop();
    await removeTempDirs();
  });

  it("gives every value back exactly, the other organization's untouched", async () => {
    const before = await checksumTable(k(), engine, 'docs');
    const backup = await backupOrganization(deps, { organizationId: '1' });
    expect(backup.tables.find((t) => t.table === 'docs')?.rows).toBe(3);
    await k()('docs').where({ organization_id: 1 }).delete();
    await k()('docs').insert({ id: 5, organization_id: 1, body: 'made after the backup', bin: null, note: null });
    const result = await restoreOrganization(deps, { organizationId: '1', backup: backup.record.backup_filename });
    expect(result.action).toBe('restored');
    expect(await checksumTable(k(), engine, 'docs')).toEqual(before);
  }, 180_000);
});
