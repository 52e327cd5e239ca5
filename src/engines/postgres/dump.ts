/**
 * PostgreSQL database-per-tenant engine: `pg_dump` plain SQL out, `psql` in.
 *
 * Dump: `pg_dump --format=plain --clean --if-exists --no-owner --no-privileges`, stdout streamed
 * into the archive entry `dump.sql` (so `unzip -p x.zip dump.sql | psql` also works by hand).
 * - `--clean --if-exists`: every object in the dump is dropped (if present) before it is created,
 *   so the dump also works by hand over an existing schema. The database itself is never dropped.
 * - `--no-owner`: objects are created owned by the user that runs the restore (the configured
 *   user), so a restore never needs superuser rights or the original role to exist.
 * - `--no-privileges`: GRANT/REVOKE are not dumped; restored objects carry the restoring user's
 *   default privileges. Apps that grant rights to other roles must re-grant after a restore.
 *
 * Restore: `psql --no-psqlrc --quiet -v ON_ERROR_STOP=1` reading the entry from stdin, wrapped by
 * us in `BEGIN;` … `COMMIT;` — the effect of `--single-transaction` (one transaction, the first
 * error stops psql and the server rolls everything back), with one difference that matters: with
 * `--single-transaction` psql COMMITs at end of input, so a stream that ended early would commit a
 * partial load. Here `COMMIT;` is appended only after the archive entry's last byte passed its
 * sha256 check; any other end of input leaves the transaction open and the server rolls it back.
 *
 * Exact replacement: right after `BEGIN`, in the same transaction, `CLEAR_SCHEMA_SQL` drops what
 * the database holds today (every non-system schema except `public` with its contents, the
 * extensions, and the tables, views, sequences, routines, types and domains in `public`; the
 * `public` schema itself, which pg_dump neither drops nor creates, keeps its owner and rights).
 * So objects created after the backup do not survive the restore (they are in the safety
 * backup), and none of them can block a `DROP` of the dump. It needs the right to drop those
 * objects (owner, or database owner for schemas); if that fails, everything rolls back.
 * Rarer object kinds in `public` (operators, collations, text search objects) are not cleared.
 *
 * Secrets: host, port, user and database go to the children as PGHOST/PGPORT/PGUSER/PGDATABASE
 * (taken literally, unlike a `--dbname` conninfo string), the password as PGPASSWORD in the
 * child's env only. Nothing secret is on an argv.
 */
import type { Readable, Writable } from 'node:stream';
import { Transform } from 'node:stream';
import pg from 'pg';
import { ConfigError, ConnectionError, ToolMissingError, redactSecrets } from '../../errors.js';
import { describeServer, secretsOf, serverParams, type ServerParams } from '../connection.js';
import { findTool, majorVersion, runTool, settleOutput, toolVersion, type FoundTool } from '../tools.js';
import type { DatabaseEngine, DatabaseTarget, EngineOptions, PreflightInfo } from '../types.js';

/** Pure argument builders (no connection data: that goes through the env). */
export const PG_DUMP_ARGS: readonly string[] = [
  '--format=plain',
  '--clean',
  '--if-exists',
  '--no-owner',
  '--no-privileges',
  '--no-password',
];
export const PSQL_RESTORE_ARGS: readonly string[] = ['--no-psqlrc', '--quiet', '--no-password', '--set=ON_ERROR_STOP=1'];

const CONNECT_TIMEOUT_SECONDS = 10;

/** The libpq environment of a child. `undefined` entries are left out (inherited values stay). */
export function libpqEnv(params: ServerParams): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    PGHOST: params.host,
    PGPORT: params.port === undefined ? undefined : String(params.port),
    PGUSER: params.user,
    PGDATABASE: params.database,
    PGPASSWORD: params.password,
    PGSSLMODE: params.sslmode ?? (params.ssl ? 'require' : undefined),
    PGCONNECT_TIMEOUT: String(CONNECT_TIMEOUT_SECONDS),
    PGAPPNAME: 'tenant-backup',
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}

function paramsOf(target: DatabaseTarget): ServerParams {
  const params = serverParams(target.connection, target.tenant);
  if (!params.database) throw new ConfigError(`tenants.${target.tenant}.connection names no database.`);
  return params;
}

async function requireTool(name: 'pg_dump' | 'psql', params: ServerParams, options: EngineOptions): Promise<FoundTool> {
  const tool = await findTool([name], options.searchPath);
  if (tool) return tool;
  // Name the client package matching the server when the server tells us its version.
  const major = await serverVersion(params)
    .then((v) => v.major)
    .catch(() => null);
  throw new ToolMissingError(name, major ? `postgresql-client-${major}` : 'postgresql-client');
}

/** Connects with the driver (no tool involved): proves reachability and credentials. */
async function serverVersion(params: ServerParams, tenant = ''): Promise<{ version: string; major: number }> {
  const ssl =
    params.sslmode !== undefined
      ? params.sslmode === 'disable'
        ? false
        : params.sslmode.startsWith('verify')
          ? true
          : { rejectUnauthorized: false }
      : (params.ssl as pg.ClientConfig['ssl']);
  const client = new pg.Client({
    host: params.host,
    port: params.port,
    user: params.user,
    password: params.password,
    database: params.database,
    ssl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    application_name: 'tenant-backup',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const result = await client.query<{ server_version: string; server_version_num: string }>(
      "SELECT current_setting('server_version') AS server_version, current_setting('server_version_num') AS server_version_num",
    );
    const row = result.rows[0]!;
    return { version: row.server_version, major: Math.floor(Number(row.server_version_num) / 10_000) };
  } catch (error) {
    const reason = redactSecrets(error instanceof Error ? error.message : String(error), secretsOf(params));
    throw new ConnectionError(
      `Cannot connect to the PostgreSQL database of tenant "${tenant}" (${describeServer(params)}): ${reason || 'connection failed'}.`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function preflight(target: DatabaseTarget, purpose: 'backup' | 'restore', options: EngineOptions = {}): Promise<PreflightInfo> {
  const params = paramsOf(target);
  const dump = await requireTool('pg_dump', params, options);
  if (purpose === 'restore') await requireTool('psql', params, options);
  const server = await serverVersion(params, target.tenant);
  const tool = await toolVersion(dump, options);
  const toolMajor = majorVersion(tool.replace(/^[^)]*\)/, ''));
  if (toolMajor !== null && toolMajor < server.major) {
    throw ToolMissingError.tooOld(dump.file, tool, `PostgreSQL ${server.version}`, `postgresql-client-${server.major}`, `tenant "${target.tenant}"`);
  }
  return { serverVersion: server.version, toolVersion: tool };
}

async function dumpDatabase(target: DatabaseTarget, out: Writable, options: EngineOptions = {}): Promise<{ bytes: number }> {
  return settleOutput(out, async () => {
    const params = paramsOf(target);
    const tool = await requireTool('pg_dump', params, options);
    const { stdoutBytes } = await runTool({
      tool,
      args: [...PG_DUMP_ARGS],
      env: libpqEnv(params),
      searchPath: options.searchPath,
      stdout: out,
      signal: options.signal,
      secrets: secretsOf(params),
    });
    return { bytes: stdoutBytes };
  });
}

/** Empties the database inside the restore's transaction (see the header). Fully qualified names. */
export const CLEAR_SCHEMA_SQL = `DO $tenant_backup_clear$
DECLARE r record;
BEGIN
  FOR r IN SELECT e.extname FROM pg_extension e WHERE e.extname <> 'plpgsql' LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT n.nspname FROM pg_namespace n
           WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' LOOP
    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm', 'r', 'p', 'f', 'S')
           ORDER BY array_position(ARRAY['v', 'm', 'f', 'p', 'r', 'S']::"char"[], c.relkind), c.relname LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                     WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.proname, p.prokind, pg_get_function_identity_arguments(p.oid) AS args FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I(%s) CASCADE',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.proname, r.args);
  END LOOP;
  FOR r IN SELECT t.typname, t.typtype FROM pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'c')
             AND (t.typrelid = 0 OR (SELECT k.relkind FROM pg_class k WHERE k.oid = t.typrelid) = 'c') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.typname);
  END LOOP;
END
$tenant_backup_clear$;
`;

/**
 * `BEGIN;` + CLEAR_SCHEMA_SQL + the SQL + `COMMIT;`, where COMMIT is emitted only when the source
 * ENDS cleanly. A source error destroys this stream instead (no flush), which runTool turns into a
 * kill of psql.
 */
export function inOneTransaction(source: Readable): Readable {
  const wrapper = new Transform({
    transform(chunk, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      callback(null, '\nCOMMIT;\n');
    },
  });
  wrapper.push(`BEGIN;\n${CLEAR_SCHEMA_SQL}`);
  source.on('error', (error) => wrapper.destroy(error));
  source.pipe(wrapper);
  return wrapper;
}

async function restoreDatabase(target: DatabaseTarget, source: Readable, options: EngineOptions = {}): Promise<void> {
  const params = paramsOf(target);
  let tool: FoundTool;
  try {
    tool = await requireTool('psql', params, options);
  } catch (error) {
    source.destroy();
    throw error;
  }
  await runTool({
    tool,
    args: [...PSQL_RESTORE_ARGS],
    env: libpqEnv(params),
    searchPath: options.searchPath,
    stdin: inOneTransaction(source),
    signal: options.signal,
    secrets: secretsOf(params),
  }).finally(() => source.destroy());
}

export const postgresDumpEngine = {
  name: 'postgres',
  entryPath: 'dump.sql',
  atomicRestore: true,
  restoreMethod: 'psql in one transaction (any error rolls the whole load back)',
  preflight,
  dumpDatabase,
  restoreDatabase,
} satisfies DatabaseEngine;
