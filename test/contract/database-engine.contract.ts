/**
 * The contract every database-per-tenant engine keeps, through the use cases (`backupTenant`,
 * `restoreTenant`) as users reach it: an engine's test file calls `describeDatabaseEngineContract`
 * with a small factory and keeps only the cases special to that engine (its tools' arguments,
 * secrets on argv, its failure mechanics).
 *
 * The factory gives two tenants, `acme` and `globex`, each with its own database holding the
 * engine's edge-value schema, a fingerprint of everything that must come back (rows, schema
 * objects, counters) and a change of every kind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../src/archive/zip-reader.js';
import type { DatabaseClient } from '../../src/config/schema.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import type { Progress } from '../../src/core/context.js';
import { restoreTenant } from '../../src/core/restore-tenant.js';
import type { DatabaseEngine, EngineName } from '../../src/engines/types.js';
import { ArchiveError, ConfigError, ConnectionError, ForbiddenTargetError, OperationError, type TenantBackupError } from '../../src/errors.js';
import { entryBytes, handMadeArchive, tenantBedPerTest, type TenantBed, type TenantDatabases } from '../helpers/tenant.js';

export type { TenantDatabases };

export interface DatabaseEngineFactory {
  engine: DatabaseEngine;
  client: DatabaseClient;
  /** Both tenants' databases, filled (`dir` is the test's temp folder, for file-based engines). */
  create(dir: string): Promise<TenantDatabases>;
  /** How the dump tool names itself (`dump_tool` of the result). */
  dumpTool: RegExp;
  /** Checks of a good dump entry, as this engine writes it. */
  checkDump(dump: Buffer, databases: TenantDatabases, dir: string): Promise<void>;
  /** A dump entry that fails half-way when it is loaded, made from a good one. */
  brokenDump(good: Buffer): Buffer;
  /** What the error of that failed load says (the engine's own words), and its engine-specific details. */
  failedLoad: RegExp;
  /** The error class of that failure: a dump the database refuses to load is an operation failure, a file that is no database at all an invalid archive. */
  failedLoadError?: new (...args: never[]) => Error;
  failedLoadDetails?: Record<string, unknown>;
  /** acme's connection, unreachable (no server on its port, or its file missing). */
  unreachable(databases: TenantDatabases, dir: string): Promise<unknown>;
}

export function describeDatabaseEngineContract(name: string, factory: DatabaseEngineFactory): void {
  describe(`${name}: tenant database engine contract`, () => {
    const current = tenantBedPerTest(`tb-tenant-${factory.engine.name}-`, factory.create);
    let bed: TenantBed;
    let databases: TenantDatabases;
    const { engine } = factory;
    const deps = (progress?: Progress) => bed.deps(databases.tenants, progress ? { progress } : {});
    beforeEach(() => {
      bed = current.bed();
      databases = current.databases();
    });

    it('writes a verified, private, timestamped archive holding the dump, and reports progress', async () => {
      const updates: string[] = [];
      const d = await deps({ update: (text) => updates.push(text), note: () => undefined, stop: () => undefined });
      const result = await backupTenant(d, { tenant: 'acme', userId: '7' });
      expect(result).toMatchObject({ action: 'created', engine: engine.name });
      expect(result.dump_tool).toMatch(factory.dumpTool);
      const record = result.record;
      expect(record).toMatchObject({
        kind: 'database',
        tenant: 'acme',
        organization_id: null,
        user_id: '7',
        status: 'success',
        backup_filename: 'acme_2026-11-21_19-04-00.zip',
        day_of_week: 'saturday',
        backup_date: '2026-11-21',
      });
      expect(record.backup_path).toBe(path.join(bed.storage, 'tenant-databases', 'acme_2026-11-21_19-04-00.zip'));
      expect(fs.statSync(record.backup_path).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(record.backup_path)).mode & 0o777).toBe(0o700);
      expect(record.backup_size).toBe(fs.statSync(record.backup_path).size);
      expect(await d.ledger.backupTypeOf(record.id)).toBe('manual');
      expect(updates.some((u) => /^Tenant acme: .* dumped, \d\d:\d\d elapsed$/.test(u))).toBe(true);

      const reader = await ArchiveReader.open(record.backup_path);
      try {
        expect(reader.manifest).toMatchObject({ kind: 'database', engine: engine.name, tenant: 'acme', backup_type: 'manual', day_of_week: 'saturday' });
        expect(reader.manifest.entries.map((e) => e.path)).toEqual([engine.entryPath]);
        await reader.verify();
      } finally {
        await reader.close();
      }
      await factory.checkDump(await entryBytes(record.backup_path, engine.entryPath), databases, bed.dir);
    });

    it('round trip: everything comes back after a safety backup, which holds the state it replaced', async () => {
      const d = await deps();
      const original = await databases.fingerprint('acme');
      const other = await databases.fingerprint('globex');
      const backup = await backupTenant(d, { tenant: 'acme' });
      await databases.mutate('acme');
      const mutated = await databases.fingerprint('acme');
      expect(mutated).not.toEqual(original);

      bed.clock.set('2026-11-21T19:05:00Z');
      const result = await restoreTenant(d, { tenant: 'acme', backup: backup.record.backup_filename });
      if (result.action !== 'restored') throw new Error(`expected a restore, got ${result.action}`);
      expect(await databases.fingerprint('acme')).toEqual(original);
      const safety = result.safety_backup!;
      expect(safety.backup_filename).toBe('acme_2026-11-21_19-05-00.zip');
      expect(await d.ledger.backupTypeOf(safety.id)).toBe('pre_restore');
      const reader = await ArchiveReader.open(safety.backup_path);
      expect(reader.manifest.backup_type).toBe('pre_restore');
      await reader.close();

      // Undo the restore with the safety backup: the later objects come back too. (With a safety
      // backup again: without one, MySQL loads a dump over the database without emptying it.)
      bed.clock.set('2026-11-21T19:06:00Z');
      await restoreTenant(d, { tenant: 'acme', backup: safety.backup_filename });
      expect(await databases.fingerprint('acme')).toEqual(mutated);
      expect(await databases.fingerprint('globex')).toEqual(other);
    });

    it('a load that fails half-way leaves the database as it was, and the error says so and names the safety backup', async () => {
      const d = await deps();
      const good = await backupTenant(d, { tenant: 'acme' });
      const broken = factory.brokenDump(await entryBytes(good.record.backup_path, engine.entryPath));
      await handMadeArchive(d, { name: 'acme_2026-11-20_10-00-00.zip', tenant: 'acme', engine: engine.name as EngineName, entryPath: engine.entryPath, data: broken });
      await databases.mutate('acme');
      const before = await databases.fingerprint('acme');
      bed.clock.set('2026-11-21T19:05:00Z');
      const error = await restoreTenant(d, { tenant: 'acme', backup: 'acme_2026-11-20_10-00-00.zip' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(factory.failedLoadError ?? OperationError);
      expect((error as Error).message).toMatch(factory.failedLoad);
      expect((error as Error).message).toContain('The safety backup taken just before is acme_2026-11-21_19-05-00.zip');
      expect((error as TenantBackupError).details).toMatchObject({
        database_changed: false,
        safety_backup: 'acme_2026-11-21_19-05-00.zip',
        ...factory.failedLoadDetails,
      });
      expect(await databases.fingerprint('acme')).toEqual(before);
    });

    if (engine.atomicRestore) {
      it('never commits a load whose input fails mid-stream (a checksum error at its end)', async () => {
        const d = await deps();
        const good = await entryBytes((await backupTenant(d, { tenant: 'acme' })).record.backup_path, engine.entryPath);
        await databases.mutate('acme');
        const before = await databases.fingerprint('acme');
        const failing = new Readable({ read() {} });
        failing.push(good.subarray(0, Math.floor(good.length / 2)));
        setTimeout(() => failing.destroy(new Error('simulated checksum mismatch at the end of the entry')), 300);
        const target = { tenant: 'acme', client: factory.client, connection: databases.tenants.acme.connection as never };
        await expect(engine.restoreDatabase(target, failing)).rejects.toThrow(/simulated checksum mismatch/);
        expect(await databases.fingerprint('acme')).toEqual(before);
      });
    }

    it("refuses another tenant's archive before anything changes, even under this tenant's name", async () => {
      const d = await deps();
      const other = await backupTenant(d, { tenant: 'globex' });
      const payload = await entryBytes(other.record.backup_path, engine.entryPath);
      await handMadeArchive(d, { name: 'acme_2026-11-20_10-00-00.zip', tenant: 'globex', engine: engine.name as EngineName, entryPath: engine.entryPath, data: payload });
      await databases.mutate('acme');
      const before = await databases.fingerprint('acme');
      const files = await bed.files();
      const ledger = await d.ledger.find();
      bed.clock.set('2026-11-21T19:05:00Z');
      for (const backup of [other.record.backup_filename, 'acme_2026-11-20_10-00-00.zip']) {
        const error = await restoreTenant(d, { tenant: 'acme', backup }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ForbiddenTargetError);
        expect((error as Error).message).toMatch(/backup of tenant "globex"; refusing to restore it into tenant "acme"/);
      }
      expect(await databases.fingerprint('acme')).toEqual(before);
      expect(await bed.files()).toEqual(files);
      expect(await d.ledger.find()).toEqual(ledger);
    });

    it('refuses an archive of another engine, and a corrupted entry, before the safety backup', async () => {
      const d = await deps();
      const other = engine.name === 'sqlite' ? { engine: 'postgres' as const, entryPath: 'dump.sql' } : { engine: 'sqlite' as const, entryPath: 'database.sqlite' };
      await handMadeArchive(d, { name: 'acme_2026-11-20_10-00-00.zip', tenant: 'acme', ...other, data: Buffer.from('SELECT 1;') });
      await expect(restoreTenant(d, { tenant: 'acme', backup: 'acme_2026-11-20_10-00-00.zip' })).rejects.toBeInstanceOf(ArchiveError);

      const backup = await backupTenant(d, { tenant: 'acme' });
      const bytes = fs.readFileSync(backup.record.backup_path);
      // Flip one byte inside the entry's data (after the first local header).
      bytes[200] = bytes[200]! ^ 0xff;
      fs.writeFileSync(backup.record.backup_path, bytes);
      bed.clock.set('2026-11-21T19:05:00Z');
      await expect(restoreTenant(d, { tenant: 'acme', backup: backup.record.backup_filename })).rejects.toBeInstanceOf(ArchiveError);
      expect(await d.ledger.find({ tenant: 'acme' })).toHaveLength(1);
    });

    it('dry-run verifies and reports, changes nothing; a declined confirmation cancels', async () => {
      const d = await deps();
      const backup = await backupTenant(d, { tenant: 'acme' });
      await databases.mutate('acme');
      const mutated = await databases.fingerprint('acme');
      const ledger = await d.ledger.find();
      bed.clock.set('2026-11-21T19:05:00Z');
      const dry = await restoreTenant(d, { tenant: 'acme', backup: backup.record.backup_filename, dryRun: true });
      if (dry.action !== 'dry-run') throw new Error(`expected a dry run, got ${dry.action}`);
      expect(dry.steps.join('\n')).toMatch(new RegExp(`would take a safety backup[\\s\\S]*would load ${engine.entryPath.replace('.', '\\.')}`));
      const questions: string[] = [];
      const cancelled = await restoreTenant(d, {
        tenant: 'acme',
        backup: backup.record.backup_filename,
        confirm: async (question) => {
          questions.push(question);
          return false;
        },
      });
      expect(cancelled.action).toBe('cancelled');
      expect(questions).toEqual([expect.stringMatching(/^Replace the whole database of tenant "acme" with acme_2026-11-21_19-04-00\.zip .*A safety backup is taken first\.$/)]);
      expect(await databases.fingerprint('acme')).toEqual(mutated);
      expect(await d.ledger.find()).toEqual(ledger);
    });

    it('an unknown tenant is a ConfigError: nothing written, nothing recorded', async () => {
      const d = await deps();
      await expect(backupTenant(d, { tenant: 'nobody' })).rejects.toBeInstanceOf(ConfigError);
      await expect(restoreTenant(d, { tenant: 'nobody', backup: 'nobody_2026-11-21_19-04-00.zip' })).rejects.toBeInstanceOf(ConfigError);
      expect(fs.existsSync(bed.storage)).toBe(false);
    });

    it('an unreachable database: ConnectionError, no archive written, the backup recorded failed, the restore changing nothing', async () => {
      const d = await deps();
      const good = await backupTenant(d, { tenant: 'acme' });
      const files = await bed.files();
      const before = await databases.fingerprint('acme');
      const unreachable = await bed.deps({ ...databases.tenants, acme: { client: factory.client, connection: await factory.unreachable(databases, bed.dir) } });
      bed.clock.set('2026-11-21T19:05:00Z');
      const error = await backupTenant(unreachable, { tenant: 'acme' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionError);
      const restoreError = await restoreTenant(unreachable, { tenant: 'acme', backup: good.record.backup_filename }).catch((e: unknown) => e);
      expect(restoreError).toBeInstanceOf(ConnectionError);
      expect(await bed.files()).toEqual(files);
      expect((await d.ledger.find()).map((r) => [r.backup_filename, r.status, r.error_message])).toEqual([
        ['acme_2026-11-21_19-05-00.zip', 'failed', (error as Error).message],
        ['acme_2026-11-21_19-04-00.zip', 'success', null],
      ]);
      expect(await databases.fingerprint('acme')).toEqual(before);
    });
  });
}
