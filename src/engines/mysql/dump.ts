/**
 * MySQL / MariaDB database-per-tenant engine: `mariadb-dump` (else `mysqldump`) out, `mariadb`
 * (else `mysql`) in. MariaDB's tools are preferred when both exist (Debian's `mysqldump` is a
 * symlink to `mariadb-dump` anyway).
 *
 * Dump: `--single-transaction` (a consistent InnoDB snapshot without locking the app out),
 * `--routines --triggers --events` (the whole schema; `--events` needs the EVENT privilege),
 * `--hex-blob` (binary as hex literals: no byte can be mangled by a client charset),
 * `--default-character-set=utf8mb4`, `--no-tablespaces` (needs no PROCESS privilege), and the
 * default `--add-drop-table`: every table, view and routine of the dump replaces its namesake IN
 * PLACE; the database itself is never dropped. The database name is the only positional argument
 * (no `--databases`), so the dump has no `CREATE DATABASE`/`USE` and loads into whatever database
 * the tenant is configured with.
 *
 * Restore: the client reads the entry from stdin and stops at the first error (no `--force`).
 * With `emptyFirst` every view, table, sequence, routine and event of the database is dropped
 * first (through the driver), so the result is exactly the dump; without it the dump replaces its
 * own objects in place and objects it does not mention stay. MySQL commits DDL implicitly, so a
 * load can NOT be rolled back by the server: the caller takes a safety backup first and, when a
 * load fails, loads it back (again with `emptyFirst`).
 *
 * No client commands: an archive is untrusted input, and client commands in a dump would run on
 * THIS host as the user running the restore (`system`/`\!`, `source`, `tee`, `pager`, LOAD DATA
 * LOCAL INFILE) or move the session (`\u`, `connect`). The client runs with `--binary-mode`
 * (required: it parses no client command but DELIMITER and `\C` in piped input), `--sandbox` when
 * it has it, `--local-infile=0` and `--skip-reconnect` (see mysqlRestoreArgs). A refused command
 * is an ArchiveError (exit 5). SQL itself is the server's business: `USE other_db;` or
 * `other_db.t` reach whatever the configured user may reach, so each tenant's user must be
 * granted its own database only (README, security notes).
 *
 * Kill-safety: every load takes a server lock (restoreLockName) for its session's lifetime. When
 * our process is SIGKILLed, the orphaned client goes on with what it had already read; the next
 * load (in practice the repair of the interrupted restore) KILLs that session and waits until it
 * is gone before it touches the database (prepareLoad).
 *
 * Secrets: host, port, user and password go into a 0600 option file in a private 0700 temp dir,
 * passed as `--defaults-file` (which must be the FIRST argument) and removed when the child has
 * exited (MYSQL_PWD would also work but is deprecated). Nothing secret is on an argv.
 * `--defaults-file`, not `--defaults-extra-file`: with an extra file the tools still read the
 * user's `~/.my.cnf` AFTER it, so a `[client] host=…` or `password=…` there would silently
 * override the tenant's configured connection (and dump another server's database of the same
 * name). Only the tenant's configuration decides where the tools connect.
 *
 * Definers: views, routines, triggers and events keep their `DEFINER=` clause; restoring them as
 * a different user needs the SET USER (MariaDB) / SET_USER_ID (MySQL) privilege.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { execa } from 'execa';
import mysql from 'mysql2/promise';
import { ArchiveError, ConfigError, ConnectionError, OperationError, TenantBackupError, ToolMissingError, describeCause, redactSecrets } from '../../errors.js';
import { describeServer, secretsOf, serverParams, type ServerParams } from '../connection.js';
import { findTool, runTool, settleOutput, toolVersion, type FoundTool } from '../tools.js';
import type { DatabaseEngine, DatabaseTarget, EngineOptions, PreflightInfo, RestoreOptions } from '../types.js';

const DUMP_TOOLS = ['mariadb-dump', 'mysqldump'] as const;
const CLIENT_TOOLS = ['mariadb', 'mysql'] as const;
const DEBIAN_PACKAGE = 'mariadb-client';
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a load waits for the session of an earlier, killed load to end (it was sent KILL). */
const LOCK_WAIT_SECONDS = 60;

/** Pure argument builders; the option file path comes first (the tools require it). */
export function mysqldumpArgs(optionFile: string, database: string): string[] {
  return [
    `--defaults-file=${optionFile}`,
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    '--hex-blob',
    '--default-character-set=utf8mb4',
    '--no-tablespaces',
    '--add-drop-table',
    database,
  ];
}

/**
 * The loading client's arguments. `--binary-mode`: in non-interactive input the client parses no
 * client command but DELIMITER and `\C` (so `\!`, `system`, `source`, `tee`, `pager`, `\u`,
 * `connect`, `edit` … never run; backslash commands are refused, named ones reach the server as
 * the syntax errors they are there); `--sandbox` (when the client has it) refuses every command
 * touching files even if one were parsed; `--local-infile=0`: no LOAD DATA LOCAL INFILE reading
 * this host's files; `--skip-reconnect`: a session that is killed (see endEarlierLoad) stays dead
 * instead of going on in a new one.
 */
export function mysqlRestoreArgs(optionFile: string, database: string, client: { sandbox: boolean } = { sandbox: true }): string[] {
  return [
    `--defaults-file=${optionFile}`,
    '--default-character-set=utf8mb4',
    '--batch',
    '--binary-mode',
    ...(client.sandbox ? ['--sandbox'] : []),
    '--local-infile=0',
    '--skip-reconnect',
    database,
  ];
}

/**
 * The server-side lock a load holds for its whole session (GET_LOCK: released only when the
 * session ends). A later restore finds the session of a load whose process was killed through it.
 */
export function restoreLockName(database: string): string {
  return `tenant_backup_restore_${createHash('sha256').update(database).digest('hex').slice(0, 32)}`;
}

/**
 * The first statements the client runs, before the dump: take the restore lock at once or stop
 * (an invalid sql_mode is an error in MySQL and MariaDB alike, and the client stops at it).
 * prepareLoad released the lock just before, so only a stray load can hold it — e.g. an orphaned
 * client that connected late — and then two loads must not interleave: this one fails instead.
 */
export function loadPrelude(lockName: string): string {
  return (
    `SET @tenant_backup_lock = GET_LOCK('${lockName}', 0);\n` +
    `SET SESSION sql_mode = IF(@tenant_backup_lock = 1, @@SESSION.sql_mode, 'tenant_backup_restore_lock_not_acquired');\n`
  );
}
const PRELUDE_LINES = 2;

/**
 * The `[client]` option file. Values are double-quoted with the escapes the option-file parser
 * understands (`\\`, `\"`, `\n`, `\r`, `\t`), so any password (`#`, quotes, spaces…) survives.
 */
export function optionFileText(params: ServerParams): string {
  const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
  const lines = ['[client]'];
  if (params.socketPath) lines.push(`socket=${quote(params.socketPath)}`);
  else {
    if (params.host) lines.push(`host=${quote(params.host)}`);
    if (params.port) lines.push(`port=${params.port}`);
    // "localhost" would silently mean the Unix socket: TCP was configured, keep TCP.
    lines.push('protocol=TCP');
  }
  if (params.user) lines.push(`user=${quote(params.user)}`);
  if (params.password !== undefined) lines.push(`password=${quote(params.password)}`);
  return `${lines.join('\n')}\n`;
}

function paramsOf(target: DatabaseTarget): ServerParams & { database: string } {
  const params = serverParams(target.connection, target.tenant);
  if (!params.database) throw new ConfigError(`tenants.${target.tenant}.connection names no database.`);
  if (params.database.startsWith('-')) throw new ConfigError(`tenants.${target.tenant}.connection.database must not start with "-".`);
  return { ...params, database: params.database };
}

/** Runs `fn` with the path of a private option file that exists only for that time. */
async function withOptionFile<T>(params: ServerParams, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenant-backup-my-'));
  try {
    const file = path.join(dir, 'client.cnf');
    await writeFile(file, optionFileText(params), { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function requireTool(names: readonly string[], options: EngineOptions): Promise<FoundTool> {
  const tool = await findTool(names, options.searchPath);
  if (!tool) throw new ToolMissingError(names.join('" or "'), DEBIAN_PACKAGE);
  return tool;
}

/** A driver connection (no tool involved), for reachability, credentials and clean-ups. */
async function connect(params: ServerParams, tenant: string): Promise<mysql.Connection> {
  try {
    const connection = await mysql.createConnection({
      host: params.host,
      port: params.port,
      user: params.user,
      password: params.password,
      database: params.database,
      socketPath: params.socketPath,
      ssl: params.ssl as mysql.ConnectionOptions['ssl'],
      connectTimeout: CONNECT_TIMEOUT_MS,
      multipleStatements: false,
    });
    connection.on('error', () => undefined);
    return connection;
  } catch (error) {
    const reason = redactSecrets(error instanceof Error ? error.message : String(error), secretsOf(params));
    throw new ConnectionError(`Cannot connect to the MySQL/MariaDB database of tenant "${tenant}" (${describeServer(params)}): ${reason || 'connection failed'}.`);
  }
}

/**
 * What the loading client supports, from its `--help`: `--binary-mode` is required (MySQL ≥ 5.6,
 * every MariaDB), `--sandbox` is used when present (MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and
 * later).
 */
async function safeClient(tool: FoundTool, options: EngineOptions): Promise<{ sandbox: boolean }> {
  const result = await execa(tool.file, ['--no-defaults', '--help'], {
    env: options.searchPath === undefined ? {} : { PATH: options.searchPath },
    stdin: 'ignore',
    reject: false,
    timeout: 30_000,
  });
  const help = String(result.stdout ?? '');
  if (!/^\s*--binary-mode\b/m.test(help)) {
    throw new ToolMissingError(
      tool.name,
      DEBIAN_PACKAGE,
      `${tool.file} does not offer --binary-mode, so it would run client commands (\\!, system, source…) found in a dump; tenant restores refuse it. Install a current ${DEBIAN_PACKAGE} (Debian: apt-get install ${DEBIAN_PACKAGE}).`,
      { reason: 'no_binary_mode' },
    );
  }
  return { sandbox: /^\s*--sandbox\b/m.test(help) };
}

async function preflight(target: DatabaseTarget, purpose: 'backup' | 'restore', options: EngineOptions = {}): Promise<PreflightInfo> {
  const params = paramsOf(target);
  const dump = await requireTool(DUMP_TOOLS, options);
  if (purpose === 'restore') await safeClient(await requireTool(CLIENT_TOOLS, options), options);
  // The tool's version while the server is asked (a child process and a connection at once); a
  // server that cannot be reached is reported first, as before.
  const toolAsked = toolVersion(dump, options);
  toolAsked.catch(() => undefined); // awaited below, after the server's answer
  const connection = await connect(params, target.tenant);
  let serverVersion: string;
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    serverVersion = String(rows[0]?.v ?? '');
  } finally {
    await connection.end().catch(() => undefined);
  }
  return { serverVersion, toolVersion: await toolAsked };
}

async function dumpDatabase(target: DatabaseTarget, out: Writable, options: EngineOptions = {}): Promise<{ bytes: number }> {
  return settleOutput(out, async () => {
    const params = paramsOf(target);
    const tool = await requireTool(DUMP_TOOLS, options);
    const { stdoutBytes } = await withOptionFile(params, (file) =>
      runTool({
        tool,
        args: mysqldumpArgs(file, params.database),
        env: {},
        searchPath: options.searchPath,
        stdout: out,
        signal: options.signal,
        secrets: secretsOf(params),
      }),
    );
    return { bytes: stdoutBytes };
  });
}

async function restoreDatabase(target: DatabaseTarget, source: Readable, options: RestoreOptions = {}): Promise<void> {
  try {
    const params = paramsOf(target);
    const tool = await requireTool(CLIENT_TOOLS, options);
    const client = await safeClient(tool, options);
    const lockName = restoreLockName(params.database);
    await prepareLoad(params, target.tenant, lockName, options.emptyFirst === true);
    const input = new PassThrough();
    input.write(loadPrelude(lockName));
    source.on('error', (error) => input.destroy(error));
    source.pipe(input);
    await withOptionFile(params, (file) =>
      runTool({
        tool,
        args: mysqlRestoreArgs(file, params.database, client),
        env: {},
        searchPath: options.searchPath,
        stdin: input,
        signal: options.signal,
        secrets: secretsOf(params),
      }),
    ).catch((error: unknown) => {
      throw refusalOf(error) ?? error;
    });
  } finally {
    source.destroy();
  }
}

/** The client's refusal of a client command in the dump, as the archive error it is (exit 5). */
function refusalOf(error: unknown): TenantBackupError | null {
  if (!(error instanceof OperationError)) return null;
  const command = /ERROR at line (\d+): (?:Unknown command '(\\.)'|Not allowed in the sandbox mode)/.exec(error.message);
  const infile = /ERROR 4166 \(HY000\) at line (\d+)/.exec(error.message);
  const found = command ?? infile;
  if (!found) return null;
  const line = Number(found[1]) - PRELUDE_LINES;
  const what = infile ? 'LOAD DATA LOCAL INFILE (reading a file of this host)' : `a client command${command?.[2] ? ` (${command[2]})` : ''}`;
  return new ArchiveError(`dump.sql line ${line} holds ${what}; a tenant archive may hold only SQL. The client refused it and ran none.`, {
    cause: error,
    details: { refused: infile ? 'local_infile' : 'client_command', line },
  });
}

/**
 * Before a load touches the database: ends the session of an earlier load whose process was
 * killed (it may still be running statements the orphaned client had read), waits until that
 * session is gone, then empties the database when asked. Holding the restore lock meanwhile keeps
 * any other load out; it is released just before the client takes it.
 */
async function prepareLoad(params: ServerParams, tenant: string, lockName: string, emptyFirst: boolean): Promise<void> {
  const connection = await connect(params, tenant);
  try {
    await endEarlierLoad(connection, params, lockName, tenant);
    if (emptyFirst) await emptyDatabase(connection, params, tenant);
  } finally {
    await connection.query('DO RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    await connection.end().catch(() => undefined);
  }
}

async function endEarlierLoad(connection: mysql.Connection, params: ServerParams, lockName: string, tenant: string): Promise<void> {
  try {
    const [held] = await connection.query<mysql.RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS holder', [lockName]);
    const holder = held[0]?.holder;
    // Only loads take this lock, and the caller holds the tenant's operation lock: the holder is an orphan.
    if (holder !== null && holder !== undefined) await connection.query(`KILL CONNECTION ${Number(holder)}`).catch(() => undefined);
    const [got] = await connection.query<mysql.RowDataPacket[]>(`SELECT GET_LOCK(?, ${LOCK_WAIT_SECONDS}) AS got`, [lockName]);
    if (Number(got[0]?.got) !== 1) {
      throw new OperationError(
        `An earlier restore of tenant "${tenant}" still has a session on the server${holder ? ` (connection ${String(holder)})` : ''} that did not end within ${LOCK_WAIT_SECONDS} s; nothing was changed. Try again later.`,
      );
    }
  } catch (error) {
    if (error instanceof OperationError) throw error;
    throw new OperationError(`Checking for an earlier restore of tenant "${tenant}" failed: ${redactSecrets(describeCause(error), secretsOf(params))}`);
  }
}

const quoteIdentifier = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/**
 * Drops every view, table (and MariaDB sequence), routine and event of the database, leaving it
 * empty but in place (its grants and default character set stay). Triggers go with their tables.
 */
async function emptyDatabase(connection: mysql.Connection, params: ServerParams, tenant: string): Promise<void> {
  try {
    await connection.query('SET FOREIGN_KEY_CHECKS = 0');
    const [tables] = await connection.query<mysql.RowDataPacket[]>('SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
    for (const view of tables.filter((t) => t.type === 'VIEW')) await connection.query(`DROP VIEW IF EXISTS ${quoteIdentifier(String(view.name))}`);
    for (const table of tables.filter((t) => t.type !== 'VIEW')) {
      await connection.query(`DROP ${table.type === 'SEQUENCE' ? 'SEQUENCE' : 'TABLE'} IF EXISTS ${quoteIdentifier(String(table.name))}`);
    }
    const [routines] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()',
    );
    for (const routine of routines) {
      const kind = routine.type === 'FUNCTION' ? 'FUNCTION' : routine.type === 'PROCEDURE' ? 'PROCEDURE' : null;
      if (kind) await connection.query(`DROP ${kind} IF EXISTS ${quoteIdentifier(String(routine.name))}`);
    }
    const [events] = await connection.query<mysql.RowDataPacket[]>('SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()');
    for (const event of events) await connection.query(`DROP EVENT IF EXISTS ${quoteIdentifier(String(event.name))}`);
  } catch (error) {
    throw new OperationError(`Emptying the database of tenant "${tenant}" failed: ${redactSecrets(String((error as Error).message), secretsOf(params))}`);
  } finally {
    await connection.query('SET FOREIGN_KEY_CHECKS = 1').catch(() => undefined);
  }
}

export const mysqlDumpEngine = {
  name: 'mysql',
  entryPath: 'dump.sql',
  atomicRestore: false,
  restoreMethod: 'the mysql client, statement by statement (not atomic: a failure loads the safety backup back)',
  preflight,
  dumpDatabase,
  restoreDatabase,
} satisfies DatabaseEngine;
