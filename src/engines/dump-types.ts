/**
 * Whole-database engines for the database-per-tenant model (`backup acme`, `restore acme …`):
 * one file per kind (dump-postgres, dump-mysql, dump-sqlite), each checked with
 * `satisfies DatabaseEngine`, plus the small process helpers they share.
 *
 * Contracts every engine keeps:
 * - Secrets never reach an argv: passwords go to a child through its own env (PGPASSWORD) or a
 *   0600 option file in a private temp dir that is removed afterwards (MySQL). `process.env` is
 *   never mutated; each child gets its env per call.
 * - Dumps are streamed: the tool's stdout is piped into `out` with back-pressure and never held
 *   whole. `out` is ended only after the tool exited 0; on any failure it is destroyed with the
 *   error, so an archive entry can never look complete when the dump was not.
 * - Restores read their input as a stream. When that input fails (e.g. the archive entry's
 *   checksum does not match at its end), the loading tool is KILLED before its stdin is closed,
 *   so it never sees a clean end of input (and never commits a partial load).
 * - Errors are typed (ToolMissingError, ConnectionError, OperationError) and carry the tool's
 *   stderr tail, redacted of every secret of the connection.
 */
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import type { DatabaseClient, TenantConfig } from '../config/schema.js';
import { ConfigError, OperationError, TenantBackupError, redactSecrets } from '../errors.js';
import type { EngineName } from './types.js';

/** One tenant's database, as configured under `tenants.<name>` (knex form). */
export interface DatabaseTarget {
  tenant: string;
  client: DatabaseClient;
  connection: TenantConfig['connection'];
}

export interface EngineOptions {
  signal?: AbortSignal;
  /**
   * The PATH searched for dump tools and given to them (default: `process.env.PATH`). Lets tests
   * (and locked-down hosts) choose exactly which binaries run, without touching `process.env`.
   */
  searchPath?: string;
}

export interface RestoreOptions extends EngineOptions {
  /**
   * Remove every object of the database before loading, so the result is exactly the dump (MySQL:
   * set by the caller only once a safety backup exists, since the load is not atomic). PostgreSQL
   * always empties inside its load transaction and SQLite replaces every page: both ignore it.
   */
  emptyFirst?: boolean;
}

export interface PreflightInfo {
  /** The server's own version string (e.g. `15.18`, `10.11.19-MariaDB`, SQLite `3.46.1`). */
  serverVersion: string;
  /** The dump tool as it names itself (first line of `--version`), recorded in the manifest. */
  toolVersion: string;
}

/** What the tools are needed for: a restore also needs the loading client (psql / mysql). */
export type PreflightPurpose = 'backup' | 'restore';

export interface DatabaseEngine {
  readonly name: EngineName;
  /** The archive entry holding the dump: `dump.sql` (SQL text) or `database.sqlite` (a file). */
  readonly entryPath: string;
  /** True when a failed restore leaves the database exactly as it was, by itself. */
  readonly atomicRestore: boolean;
  /** How a restore loads the data, for dry-runs and messages. */
  readonly restoreMethod: string;
  /**
   * Checks, without changing anything: the tools exist (ToolMissingError naming the Debian
   * package), their version can handle the server, the server is reachable and accepts the
   * credentials (ConnectionError, never quoting the password).
   */
  preflight(target: DatabaseTarget, purpose: PreflightPurpose, options?: EngineOptions): Promise<PreflightInfo>;
  /** Streams the whole database into `out` and ends it; destroys it on failure. */
  dumpDatabase(target: DatabaseTarget, out: Writable, options?: EngineOptions): Promise<{ bytes: number }>;
  /** Loads a dump made by `dumpDatabase` of the same engine, replacing the database's contents. */
  restoreDatabase(target: DatabaseTarget, source: Readable, options?: RestoreOptions): Promise<void>;
}

export async function loadDatabaseEngine(client: DatabaseClient): Promise<DatabaseEngine> {
  switch (client) {
    case 'pg':
      return (await import('./dump-postgres.js')).postgresDumpEngine;
    case 'mysql2':
      return (await import('./dump-mysql.js')).mysqlDumpEngine;
    case 'better-sqlite3':
      return (await import('./dump-sqlite.js')).sqliteDumpEngine;
    default:
      throw new ConfigError(`Unknown database client "${String(client)}".`);
  }
}

// ---------------------------------------------------------------------------------------------
// Connection settings shared by the server engines.

/** A server connection in one shape, whatever form (object or URL) the configuration used. */
export interface ServerParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  socketPath?: string;
  /** Raw `ssl` setting of the knex connection (driver form), or a libpq `sslmode` from a URL. */
  ssl?: unknown;
  sslmode?: string;
}

/** Normalizes a knex connection (object, possibly with `connectionString`, or URL) to ServerParams. */
export function serverParams(connection: TenantConfig['connection'], tenant: string): ServerParams {
  if (typeof connection === 'string') return paramsFromUrl(connection, tenant);
  const c = connection as Record<string, unknown>;
  const fromString = typeof c.connectionString === 'string' ? paramsFromUrl(c.connectionString, tenant) : {};
  const str = (key: string) => (typeof c[key] === 'string' && c[key] !== '' ? (c[key] as string) : undefined);
  const port = c.port === undefined || c.port === null || c.port === '' ? undefined : Number(c.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new ConfigError(`tenants.${tenant}.connection.port is not a valid port.`);
  }
  return {
    ...fromString,
    ...definedOnly({
      host: str('host'),
      port,
      user: str('user') ?? str('username'),
      password: str('password'),
      database: str('database'),
      socketPath: str('socketPath'),
      ssl: c.ssl === undefined || c.ssl === false ? undefined : c.ssl,
    }),
  };
}

function paramsFromUrl(text: string, tenant: string): ServerParams {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text may hold a password: never quote it.
    throw new ConfigError(`tenants.${tenant}.connection is not a valid connection URL.`);
  }
  const decode = (value: string) => (value === '' ? undefined : decodeURIComponent(value));
  return definedOnly({
    host: decode(url.hostname.replace(/^\[(.*)\]$/, '$1')),
    port: url.port ? Number(url.port) : undefined,
    user: decode(url.username),
    password: decode(url.password),
    database: decode(url.pathname.replace(/^\//, '')),
    sslmode: url.searchParams.get('sslmode') ?? (url.searchParams.get('ssl') === 'true' ? 'require' : undefined),
  });
}

function definedOnly<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Every form of the password that could appear in a message (raw and URL-encoded). */
export function secretsOf(params: ServerParams): string[] {
  if (!params.password) return [];
  return [...new Set([params.password, encodeURIComponent(params.password)])];
}

export function describeServer(params: ServerParams): string {
  const where = params.socketPath ?? `${params.host ?? 'localhost'}${params.port ? `:${params.port}` : ''}`;
  return `${where}/${params.database ?? ''}${params.user ? ` as ${params.user}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Finding and running tools.

export interface FoundTool {
  /** The name that was found (e.g. `mariadb-dump` rather than `mysqldump`). */
  name: string;
  /** Absolute path; the child is started by this path, never looked up again. */
  file: string;
}

/** The first of `names` that is an executable file in a directory of `searchPath`, else null. */
export async function findTool(names: readonly string[], searchPath = process.env.PATH ?? ''): Promise<FoundTool | null> {
  const dirs = searchPath.split(path.delimiter).filter((dir) => dir !== '' && path.isAbsolute(dir));
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        await access(file, fsConstants.X_OK);
        if ((await stat(file)).isFile()) return { name, file };
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

/** First line of `<tool> --version`. */
export async function toolVersion(tool: FoundTool, options: EngineOptions = {}): Promise<string> {
  const result = await execa(tool.file, ['--version'], {
    env: pathEnv(options.searchPath),
    extendEnv: true,
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
  });
  const line = String(result.stdout ?? '').split('\n')[0]?.trim() ?? '';
  if (result.exitCode !== 0 || line === '') {
    throw new OperationError(`"${tool.file} --version" failed (${result.exitCode ?? result.signal ?? 'no exit code'}); is it a working ${tool.name}?`);
  }
  return line;
}

function pathEnv(searchPath: string | undefined): Record<string, string> {
  return searchPath === undefined ? {} : { PATH: searchPath };
}

/** The first `major[.minor]` number in a version text (`pg_dump (PostgreSQL) 15.18 (Debian …)` → 15). */
export function majorVersion(text: string): number | null {
  const match = /(\d+)(?:\.\d+)*/.exec(text);
  return match ? Number(match[1]) : null;
}

/** The last `limit` bytes a stream produced (stderr of a tool), for error messages. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 64 * 1024) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

export interface ToolRun {
  tool: FoundTool;
  args: string[];
  /** Extra environment for this child only, merged over the parent's (which is never mutated). */
  env: Record<string, string | undefined>;
  searchPath?: string;
  /** Piped into the tool's stdin; the stdin is closed only when this ends without error. */
  stdin?: Readable;
  /** The tool's stdout is piped into it (not ended here: the caller decides after the exit code). */
  stdout?: Writable;
  signal?: AbortSignal;
  /** Removed from every message. */
  secrets: string[];
}

/**
 * Runs a tool to completion. Resolves with the stdout byte count when it exited 0; rejects with
 * the input's own error when the input stream failed, with a CANCELLED error when aborted, else
 * with an OperationError quoting the (redacted) stderr tail.
 */
export async function runTool(run: ToolRun): Promise<{ stdoutBytes: number }> {
  run.signal?.throwIfAborted();
  const sub = execa(run.tool.file, run.args, {
    env: { ...run.env, ...pathEnv(run.searchPath) },
    extendEnv: true,
    stdin: run.stdin ? 'pipe' : 'ignore',
    stdout: run.stdout ? 'pipe' : 'ignore',
    stderr: 'pipe',
    buffer: false,
    reject: false,
  });
  const stderr = new TailBuffer();
  sub.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  let inputError: unknown;
  let outputClosed = false;
  let cancelled = false;
  // SIGKILL first, then close stdin: once kill() returned the tool runs no more user code, so it
  // can never treat the closed pipe as a clean end of input.
  const killNow = () => void sub.kill('SIGKILL');
  const onAbort = () => {
    cancelled = true;
    killNow();
    sub.stdin?.destroy();
  };
  run.signal?.addEventListener('abort', onAbort, { once: true });

  if (run.stdin && sub.stdin) {
    const input = run.stdin;
    const stdin = sub.stdin;
    stdin.on('error', () => undefined); // EPIPE when the tool stops early: its exit status says why
    input.on('error', (error) => {
      inputError ??= error;
      killNow();
      stdin.destroy();
    });
    input.pipe(stdin);
  }

  let stdoutBytes = 0;
  let done = false;
  if (run.stdout && sub.stdout) {
    const out = run.stdout;
    sub.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
    });
    sub.stdout.pipe(out, { end: false });
    // The consumer (archive writer) failed or went away: the tool would block on a full pipe.
    out.once('close', () => {
      if (!done) {
        outputClosed = true;
        killNow();
      }
    });
  }

  try {
    const result = await sub;
    done = true;
    if (inputError !== undefined) throw inputError;
    if (cancelled || run.signal?.aborted) throw new TenantBackupError('CANCELLED', `Cancelled: ${run.tool.name} was stopped.`);
    if (outputClosed) throw new OperationError(`${run.tool.name} was stopped: its output stream was closed early.`);
    if (result.exitCode === 0) return { stdoutBytes };
    const status =
      result.exitCode !== undefined
        ? `exit code ${result.exitCode}`
        : result.signal
          ? `killed by ${result.signal}`
          : redactSecrets(String(result.message ?? 'could not start'), run.secrets);
    const tail = redactSecrets(lastLines(stderr.text(), 4000), run.secrets);
    throw new OperationError(`${run.tool.name} failed (${status})${tail ? `: ${tail}` : '.'}`, {
      details: { tool: run.tool.name, exit_code: result.exitCode ?? null },
    });
  } finally {
    done = true;
    run.signal?.removeEventListener('abort', onAbort);
    if (run.stdin && !run.stdin.readableEnded) run.stdin.destroy();
  }
}

/** The end of a long text, cut at a line start, at most `max` characters. */
export function lastLines(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  const cut = trimmed.slice(trimmed.length - max);
  const newline = cut.indexOf('\n');
  return `…${newline >= 0 ? cut.slice(newline) : cut}`;
}

/**
 * Runs `dump` (which writes into a pass-through) and settles `out` by the outcome: ended after
 * success, destroyed with the error otherwise. Keeps the contract "out ends only for a whole dump".
 */
export async function settleOutput<T>(out: Writable, dump: () => Promise<T>): Promise<T> {
  try {
    const result = await dump();
    if (out.destroyed) throw new OperationError('The dump output stream was closed before the dump finished.');
    out.end();
    return result;
  } catch (error) {
    out.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}
