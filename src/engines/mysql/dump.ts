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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import { ConfigError, ConnectionError, OperationError, ToolMissingError, redactSecrets } from '../../errors.js';
import { describeServer, secretsOf, serverParams, type ServerParams } from '../connection.js';
import { findTool, runTool, settleOutput, toolVersion, type FoundTool } from '../tools.js';
import type { DatabaseEngine, DatabaseTarget, EngineOptions, PreflightInfo, RestoreOptions } from '../types.js';

const DUMP_TOOLS = ['mariadb-dump', 'mysqldump'] as const;
const CLIENT_TOOLS = ['mariadb', 'mysql'] as const;
const DEBIAN_PACKAGE = 'mariadb-client';
const CONNECT_TIMEOUT_MS = 10_000;

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

export function mysqlRestoreArgs(optionFile: string, database: string): string[] {
  return [`--defaults-file=${optionFile}`, '--default-character-set=utf8mb4', '--batch', database];
}

/**
 * The `[client]` option file. Values are double-quoted with the escapes the option-file parser
 * understands (`\\`, `\"`, `\n`, `\r`, `\t`), so any password (`#`, quotes, spaces…) survives.
 */
export function optionFileText(params: ServerParams): string {
  const quote = (value: string) =>
    `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
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
    throw new ConnectionError(
      `Cannot connect to the MySQL/MariaDB database of tenant "${tenant}" (${describeServer(params)}): ${reason || 'connection failed'}.`,
    );
  }
}

async function preflight(target: DatabaseTarget, purpose: 'backup' | 'restore', options: EngineOptions = {}): Promise<PreflightInfo> {
  const params = paramsOf(target);
  const dump = await requireTool(DUMP_TOOLS, options);
  if (purpose === 'restore') await requireTool(CLIENT_TOOLS, options);
  const connection = await connect(params, target.tenant);
  let serverVersion: string;
  try {
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    serverVersion = String(rows[0]?.v ?? '');
  } finally {
    await connection.end().catch(() => undefined);
  }
  return { serverVersion, toolVersion: await toolVersion(dump, options) };
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
    if (options.emptyFirst) await emptyDatabase(params, target.tenant);
    await withOptionFile(params, (file) =>
      runTool({
        tool,
        args: mysqlRestoreArgs(file, params.database),
        env: {},
        searchPath: options.searchPath,
        stdin: source,
        signal: options.signal,
        secrets: secretsOf(params),
      }),
    );
  } finally {
    source.destroy();
  }
}

const quoteIdentifier = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/**
 * Drops every view, table (and MariaDB sequence), routine and event of the database, leaving it
 * empty but in place (its grants and default character set stay). Triggers go with their tables.
 */
export async function emptyDatabase(params: ServerParams, tenant: string): Promise<void> {
  const connection = await connect(params, tenant);
  try {
    await connection.query('SET FOREIGN_KEY_CHECKS = 0');
    const [tables] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
    );
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
    const [events] = await connection.query<mysql.RowDataPacket[]>(
      'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()',
    );
    for (const event of events) await connection.query(`DROP EVENT IF EXISTS ${quoteIdentifier(String(event.name))}`);
  } catch (error) {
    if (error instanceof ConnectionError) throw error;
    throw new OperationError(`Emptying the database of tenant "${tenant}" failed: ${redactSecrets(String((error as Error).message), secretsOf(params))}`);
  } finally {
    await connection.end().catch(() => undefined);
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
