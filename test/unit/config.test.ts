import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findConfigFile, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { tenantConnectionConfig } from '../../src/core/targets.js';
import { organizationsConfig } from '../../src/core/organization-config.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

afterEach(removeTempDirs);

async function writeConfig(dir: string, value: unknown, name = '.backuprc'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('configuration discovery', () => {
  it('prefers --config, then TENANT_BACKUP_CONFIG, then .backuprc in the folder or a parent', async () => {
    const root = await makeTempDir();
    const nested = path.join(root, 'a', 'b');
    await mkdir(nested, { recursive: true });
    const inRoot = await writeConfig(root, { storage: { dir: 'x' } });
    const explicit = await writeConfig(root, { storage: { dir: 'y' } }, 'explicit.json');
    expect(await findConfigFile({ cwd: nested, env: {} })).toBe(inRoot);
    expect(await findConfigFile({ cwd: nested, env: { TENANT_BACKUP_CONFIG: explicit } })).toBe(explicit);
    expect(await findConfigFile({ cwd: nested, env: { TENANT_BACKUP_CONFIG: inRoot }, configPath: explicit })).toBe(explicit);
  });

  it('says where it looked when there is no configuration', async () => {
    const root = await makeTempDir();
    await expect(loadConfig({ cwd: root, env: {} })).rejects.toThrow(/No configuration found/);
  });
});

describe('configuration loading', () => {
  it('resolves storage.dir and SQLite files against the config file folder and fills defaults', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, {
      storage: { dir: './backups' },
      timezone: 'Europe/Berlin',
      tenants: { acme: { client: 'better-sqlite3', connection: { filename: 'data/acme.sqlite' } } },
      organizations: { client: 'better-sqlite3', connection: './app.sqlite' },
    });
    const config = await loadConfig({ configPath: file, env: {} });
    expect(config.storage.dir).toBe(path.join(root, 'backups'));
    expect(config.timezone).toBe('Europe/Berlin');
    expect(config.tenants.acme?.connection).toEqual({ filename: path.join(root, 'data/acme.sqlite') });
    expect(config.organizations?.connection).toEqual({ filename: path.join(root, 'app.sqlite') });
    expect(config.organizations?.table).toBe('organizations');
    expect(config.organizations?.tenantColumn).toBe('organization_id');
    expect(config.organizations?.tables).toBe('auto');
    expect(config.organizations?.exclude).toEqual([]);
    expect(config.compressionLevel).toBe(1);
  });

  it('replaces ${VAR} anywhere in string values from the environment', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, {
      storage: { dir: '${BACKUP_DIR}/x' },
      tenants: { acme: { client: 'pg', connection: 'postgres://u:${PW}@h/db' } },
    });
    const config = await loadConfig({ configPath: file, env: { BACKUP_DIR: '/srv/b', PW: 's3cret' } });
    expect(config.storage.dir).toBe('/srv/b/x');
    expect(config.tenants.acme?.connection).toBe('postgres://u:s3cret@h/db');
  });

  it('names a missing environment variable and where it is used', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, { storage: { dir: '${NOPE_DIR}' } });
    const error = await loadConfig({ configPath: file, env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('NOPE_DIR');
    expect((error as Error).message).toContain('storage.dir');
  });

  it('defers missing variables of connection settings until that database is used', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, {
      storage: { dir: 'b' },
      tenants: { acme: { client: 'pg', connection: { password: '${NOPE_PW}' } }, beta: { client: 'pg', connection: 'postgres://u:${OK_PW}@h/db' } },
      organizations: { client: 'pg', connection: 'postgres://u:${APP_PW}@h/app' },
    });
    const config = await loadConfig({ configPath: file, env: { OK_PW: 'fine' } });
    expect(config.missingConnectionEnv).toEqual({
      'tenants.acme': { variable: 'NOPE_PW', path: 'tenants.acme.connection.password' },
      organizations: { variable: 'APP_PW', path: 'organizations.connection' },
    });
    expect(() => tenantConnectionConfig(config, 'acme')).toThrow(/NOPE_PW.*not set|tenants\.acme\.connection\.password/);
    expect(tenantConnectionConfig(config, 'beta').connection).toBe('postgres://u:fine@h/db');
    expect(() => organizationsConfig({ config })).toThrow(/APP_PW/);
  });

  it('rejects unknown keys, unknown clients and bad time zones with their exact paths', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, {
      storage: { dir: 'b', dri: 'typo' },
      timezone: 'Mars/Olympus',
      tenants: { acme: { client: 'oracle', connection: 'x' } },
      organisations: {},
    });
    const error = (await loadConfig({ configPath: file, env: {} }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/\(top level\).*organisations/);
    expect(error.message).toMatch(/storage.*dri/);
    expect(error.message).toMatch(/timezone: unknown IANA time zone "Mars\/Olympus"/);
    expect(error.message).toMatch(/tenants\.acme\.client: unknown client "oracle"/);
  });

  it('reports invalid JSON with the file name', async () => {
    const root = await makeTempDir();
    const file = await writeConfig(root, '{ "storage": ');
    await expect(loadConfig({ configPath: file, env: {} })).rejects.toThrow(new RegExp(`${file}.*not valid JSON`));
  });

  it("leaves the database ledger's tables out of organization backups when its connection reaches the organizations database", async () => {
    const root = await makeTempDir();
    const organizations = { client: 'pg', connection: { host: 'db.internal', user: 'app', database: 'app' }, exclude: ['sessions'] };
    const excluded = async (ledger: object) =>
      (await loadConfig({ configPath: await writeConfig(root, { storage: { dir: 'b' }, organizations, ledger: { type: 'database', ...ledger } }), env: {} })).organizations
        ?.exclude;
    const tables = ['sessions', 'auto_backup_logs', 'auto_backup_settings'];
    expect(await excluded({})).toEqual(tables);
    // The same database with other credentials (by object or URL): still the organizations database.
    expect(await excluded({ connection: { host: 'DB.internal', port: 5432, user: 'ledger', database: 'app' } })).toEqual(tables);
    expect(await excluded({ connection: 'postgres://ledger@db.internal/app' })).toEqual(tables);
    expect(await excluded({ table: 'tb_logs', connection: { host: 'db.internal', database: 'app', user: 'x' } })).toEqual(['sessions', 'tb_logs', 'auto_backup_settings']);
    // Another database, port, host or engine: the organizations database has no ledger tables.
    for (const connection of [
      { host: 'db.internal', database: 'ledger' },
      { host: 'db.internal', port: 5433, database: 'app' },
      { host: 'other', database: 'app' },
    ]) {
      expect(await excluded({ connection })).toEqual(['sessions']);
    }
    expect(await excluded({ client: 'mysql2', connection: { host: 'db.internal', database: 'app' } })).toEqual(['sessions']);
  });

  it('accepts the shipped .backuprc.example when its variables are set', async () => {
    const example = path.resolve(import.meta.dirname, '../../.backuprc.example');
    const env = { ACME_DB_PASSWORD: 'a', GLOBEX_DB_PASSWORD: 'b', APP_DB_PASSWORD: 'c', SMTP_PASSWORD: 'd' };
    const hooks = { SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x', HC_BACKUP_ALL_UUID: 'u1', HC_AUTO_ALL_UUID: 'u2', HC_ACME_UUID: 'u3' };
    const config = await loadConfig({ configPath: example, env: { ...env, ...hooks } });
    expect(Object.keys(config.tenants)).toEqual(['acme', 'globex', 'initech']);
    expect(config.organizations?.exclude).toEqual(['sessions', 'jobs']);
    expect(config.notifications?.ping?.tenants).toEqual({ acme: 'https://hc-ping.com/u3' });
    expect(config.monitor?.tenants).toEqual({ initech: { maxAgeHours: 170 } });
  });
});
