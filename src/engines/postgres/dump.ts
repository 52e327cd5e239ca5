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
 * No meta-commands: a dump is untrusted, and psql meta-commands would run on THIS host (`\!`,
 * `\copy … PROGRAM`, `\o`, `\i`) or leave the database (`\connect`). psql therefore starts in
 * restricted mode under a fresh random key of ours (restrictedLoadInput); psql's own lexer then
 * refuses every meta-command, while backslashes in literals and COPY data stay data. A refusal is
 * an ArchiveError (exit 5) inside the open transaction: nothing changed. Preflight refuses a psql
 * without restricted mode. What SQL may do is up to the configured user's privileges (README).
 *
 * Secrets: host, port, user and database go to the children as PGHOST/PGPORT/PGUSER/PGDATABASE
 * (taken literally, unlike a `--dbname` conninfo string), the password as PGPASSWORD in the
 * child's env only. Nothing secret is on an argv.
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import pg from 'pg';
import { ArchiveError, ConfigError, ConnectionError, OperationError, TenantBackupError, ToolMissingError, redactSecrets } from '../../errors.js';
import { describeServer, secretsOf, serverParams, type ServerParams } from '../connection.js';
import { findTool, majorVersion, runTool, settleOutput, toolVersion, type FoundTool } from '../tools.js';
import type { DatabaseEngine, DatabaseTarget, EngineOptions, PreflightInfo } from '../types.js';

/** Pure argument builders (no connection data: that goes through the env). */
export const PG_DUMP_ARGS: readonly string[] = ['--format=plain', '--clean', '--if-exists', '--no-owner', '--no-privileges', '--no-password'];
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
    throw new ConnectionError(`Cannot connect to the PostgreSQL database of tenant "${tenant}" (${describeServer(params)}): ${reason || 'connection failed'}.`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function preflight(target: DatabaseTarget, purpose: 'backup' | 'restore', options: EngineOptions = {}): Promise<PreflightInfo> {
  const params = paramsOf(target);
  const dump = await requireTool('pg_dump', params, options);
  if (purpose === 'restore') {
    const psql = await requireTool('psql', params, options);
    const version = await toolVersion(psql, options);
    if (!hasRestrictedMode(version)) throw psqlWithoutRestrictedMode(psql.file, `it is ${version}`);
  }
  // The server's version and the tool's at once (a connection and a child process: ~0.1 s one after
  // the other); a server that cannot be reached is reported first, as before.
  const toolAsked = toolVersion(dump, options);
  toolAsked.catch(() => undefined); // awaited below, after the server's answer
  const server = await serverVersion(params, target.tenant);
  const tool = await toolAsked;
  const toolMajor = majorVersion(tool.replace(/^[^)]*\)/, ''));
  if (toolMajor !== null && toolMajor < server.major) {
    throw ToolMissingError.tooOld(dump.file, tool, `PostgreSQL ${server.version}`, `postgresql-client-${server.major}`, `tenant "${target.tenant}"`);
  }
  return { serverVersion: server.version, toolVersion: tool };
}

/** First release of each major version whose psql has `\restrict` (CVE-2025-8714); all of 18 has it. */
const RESTRICT_SINCE: Readonly<Record<number, number>> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };

/** True when `psql --version` names a psql with restricted mode (`psql (PostgreSQL) 15.14 (Debian …)`). */
export function hasRestrictedMode(versionText: string): boolean {
  const match = /\)\s*(\d+)(?:\.(\d+))?/.exec(versionText) ?? /(\d+)(?:\.(\d+))?/.exec(versionText);
  if (!match) return false;
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  if (major >= 18) return true;
  const since = RESTRICT_SINCE[major];
  return since !== undefined && minor >= since;
}

function psqlWithoutRestrictedMode(file: string, why: string): ToolMissingError {
  return new ToolMissingError(
    'psql',
    'postgresql-client',
    `${file} has no restricted mode (\\restrict; PostgreSQL 17.6, 16.10, 15.14, 14.19, 13.22 and later): ${why}. ` +
      'Without it a crafted dump.sql could run shell commands through psql, so tenant restores refuse it. Install a current postgresql-client and put its psql first on PATH.',
    { reason: 'no_restricted_mode' },
  );
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
 * psql's input: `\restrict <key>` (see the header: from here on psql runs no meta-command), then
 * `BEGIN;` + CLEAR_SCHEMA_SQL + the dump without pg_dump's own restrict pair + `COMMIT;`, where
 * COMMIT is emitted only when the source ENDS cleanly. A source error destroys this stream instead
 * (no flush), which runTool turns into a kill of psql.
 */
export function restrictedLoadInput(source: Readable, key: string): Readable {
  if (!/^[A-Za-z0-9]{32,}$/.test(key)) throw new Error('restrictedLoadInput: the key must be 32+ random alphanumerics');
  const filter = new DumpRestrictPairFilter();
  const wrapper = new Transform({
    transform(chunk, _encoding, callback) {
      callback(null, chunk);
    },
    flush(callback) {
      callback(null, '\nCOMMIT;\n');
    },
  });
  wrapper.push(`\\restrict ${key}\nBEGIN;\n${CLEAR_SCHEMA_SQL}`);
  source.on('error', (error) => wrapper.destroy(error));
  filter.on('error', (error) => wrapper.destroy(error));
  source.pipe(filter).pipe(wrapper);
  return wrapper;
}

/** A line of pg_dump's restrict pair is `\restrict ` or `\unrestrict ` and a key (pg_dump: 64 alphanumerics). */
const MAX_PAIR_LINE = 256;
const RESTRICT_LINE = /^\\restrict ([A-Za-z0-9]+)$/;
const EMPTY = Buffer.alloc(0);

/**
 * Removes pg_dump's own `\restrict <k>` / `\unrestrict <k>` pair from a dump and changes nothing
 * else. The rule (the only two lines it may drop):
 * - `\restrict <k>` when it is the first line that is neither empty nor a `--` comment. Only
 *   comments precede it there, so it cannot be inside a string literal or a COPY data block.
 * - `\unrestrict <k>`, same key, when it is the last line that is not empty (empty lines after it
 *   go with it). Any later non-empty line puts it back in the stream, unchanged.
 * Lines are looked at only while they can still be one of these (they start with a backslash and
 * are at most MAX_PAIR_LINE bytes long); everything else streams through at once, so memory stays
 * bounded whatever the line lengths. Safety never depends on this filter: it can only remove
 * input, and psql's restricted mode refuses every other meta-command wherever it is — including a
 * mid-file `\unrestrict <k>`, whose key is not ours.
 */
export class DumpRestrictPairFilter extends Transform {
  /** Only empty lines and `--` comments so far. */
  private head = true;
  private key: string | null = null;
  /** The start of the current line while it may still be one of the pair; null: the line streams through. */
  private line: Buffer | null = EMPTY;
  /** A complete `\unrestrict <key>` line and the empty lines after it, dropped if nothing else follows. */
  private held: Buffer[] = [];

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pos = 0;
    while (pos < chunk.length) {
      const newline = chunk.indexOf(0x0a, pos);
      const end = newline < 0 ? chunk.length : newline + 1;
      const piece = chunk.subarray(pos, end);
      pos = end;
      if (this.line === null) {
        this.push(piece);
        if (newline >= 0) this.line = EMPTY;
        continue;
      }
      const line = this.line.length === 0 ? piece : Buffer.concat([this.line, piece]);
      if (newline >= 0) {
        this.completeLine(line.subarray(0, line.length - 1), line);
        this.line = EMPTY;
      } else if (line.length < 2 || (line[0] === 0x5c && line.length <= MAX_PAIR_LINE)) {
        this.line = line;
      } else {
        this.passLine(line);
        this.line = null;
      }
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.line !== null && this.line.length > 0) this.completeLine(this.line, this.line);
    this.held = []; // the dump's closing `\unrestrict`: nothing but empty lines followed it
    callback();
  }

  /** `text` is the line without its newline, `raw` the bytes to pass on. */
  private completeLine(text: Buffer, raw: Buffer): void {
    if (text.length === 0) {
      if (this.held.length > 0) this.held.push(raw);
      else this.push(raw);
      return;
    }
    if (text[0] === 0x5c && text.length <= MAX_PAIR_LINE) {
      const line = text.toString('latin1');
      const restrict = RESTRICT_LINE.exec(line);
      if (restrict && this.head && this.key === null) {
        this.key = restrict[1]!;
        this.head = false;
        return;
      }
      if (this.key !== null && line === `\\unrestrict ${this.key}`) {
        this.releaseHeld();
        this.held.push(raw);
        return;
      }
    }
    this.passLine(raw);
  }

  /** A line (or its start) that is not one of the pair: earlier held lines were not the end. */
  private passLine(bytes: Buffer): void {
    this.releaseHeld();
    if (this.head && !(bytes[0] === 0x2d && bytes[1] === 0x2d)) this.head = false;
    this.push(bytes);
  }

  private releaseHeld(): void {
    for (const bytes of this.held) this.push(bytes);
    this.held = [];
  }
}

/** psql's messages when a dump tries a meta-command in restricted mode (or to leave it). */
const RESTRICTED_REFUSAL = /backslash commands are restricted|\\unrestrict: wrong key/;

async function restoreDatabase(target: DatabaseTarget, source: Readable, options: EngineOptions = {}): Promise<void> {
  const params = paramsOf(target);
  let tool: FoundTool;
  try {
    tool = await requireTool('psql', params, options);
  } catch (error) {
    source.destroy();
    throw error;
  }
  // Fresh for every load and never written anywhere but psql's stdin: a dump cannot know it.
  const key = randomBytes(32).toString('hex');
  try {
    await runTool({
      tool,
      args: [...PSQL_RESTORE_ARGS],
      // psql's own messages untranslated: refusalOf recognises them.
      env: { ...libpqEnv(params), LC_MESSAGES: 'C', LANGUAGE: 'en' },
      searchPath: options.searchPath,
      stdin: restrictedLoadInput(source, key),
      signal: options.signal,
      secrets: secretsOf(params),
    });
  } catch (error) {
    throw refusalOf(error, tool) ?? error;
  } finally {
    source.destroy();
  }
}

/** psql's refusal of a meta-command, as the archive error it is (exit 5); null for other failures. */
function refusalOf(error: unknown, tool: FoundTool): TenantBackupError | null {
  if (!(error instanceof OperationError)) return null;
  if (RESTRICTED_REFUSAL.test(error.message)) {
    return new ArchiveError(
      'dump.sql contains a psql meta-command (a backslash command such as \\!, \\connect, \\o, \\copy or \\i); ' +
        "a tenant archive may hold only SQL and pg_dump's own \\restrict/\\unrestrict pair. psql refused it in restricted mode and ran none.",
      { cause: error, details: { refused: 'psql_meta_command' } },
    );
  }
  if (/invalid command \\restrict/.test(error.message)) return psqlWithoutRestrictedMode(tool.file, 'it does not know \\restrict');
  return null;
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
