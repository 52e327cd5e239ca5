/**
 * Throwaway database servers for integration tests: a real PostgreSQL 15 and a real MariaDB 10.11,
 * each in its own temp dir, listening on 127.0.0.1 on a free port, owned by this process.
 *
 * Contract:
 * - `startPostgres()` / `startMariadb()` resolve once the server accepts password-authenticated TCP
 *   connections as the superuser `tb_admin` (random password, never placed on any argv).
 * - `stop()` stops the server and removes its temp dir; it is idempotent.
 * - Servers still running when this process exits (aborted run, crash in setup) are killed
 *   synchronously by an 'exit' handler, so no run leaves servers or temp dirs behind.
 * - Startup failures throw an Error that includes the tail of the server's log.
 *
 * Binaries: PostgreSQL from /usr/lib/postgresql/15/bin (override: TB_PG_BIN), MariaDB from PATH (mariadbd: /usr/sbin).
 * As root, PostgreSQL runs as the `postgres` OS user (initdb refuses root) and mariadbd with --user=root.
 *
 * Only the vitest globalSetup process starts servers; test workers receive `ServerInfo` through
 * vitest's provide/inject (see the `ProvidedContext` augmentation below).
 */
import { execa } from 'execa';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type ServerEngine = 'postgres' | 'mysql';

/** What test workers need to connect (serializable: it crosses the provide/inject boundary). */
export interface ServerInfo {
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  /** The server's own version string: `SHOW server_version` / `SELECT VERSION()`. */
  version: string;
}

export interface RunningServer extends ServerInfo {
  engine: ServerEngine;
  dataDir: string;
  stop(): Promise<void>;
}

export interface TestServers {
  postgres: ServerInfo;
  mysql: ServerInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServers;
  }
}

const PG_BIN = process.env.TB_PG_BIN ?? '/usr/lib/postgresql/15/bin';
// /usr/sbin is often not on a non-root user's PATH.
const MARIADBD = fs.existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd';
const ADMIN_USER = 'tb_admin';
const START_TIMEOUT_MS = 30_000;
const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// Emergency cleanup. Each server registers its temp dir as soon as it exists, plus every process
// it runs (setup commands while they run, then the server itself). On process exit (including
// vitest's own SIGINT/SIGTERM handling, which ends in process.exit) whatever is still registered
// is killed and its dir removed, synchronously. A SIGKILLed test runner cannot clean up.

interface Proc {
  pid: number;
  signal: NodeJS.Signals;
  /** The pid leads its own process group (spawned detached): kill the whole group. */
  group: boolean;
}
interface Owned {
  dir: string;
  procs: Set<Proc>;
  /**
   * PostgreSQL's postmaster.pid. The postmaster puts itself in its own session, so it is not in
   * pg_ctl's process group; it is found through this file (also mid `pg_ctl start`) and sent
   * SIGQUIT = immediate shutdown, which takes its children down with it.
   */
  postmasterPidFile?: string;
}
const owned = new Set<Owned>();
let exitHandlerInstalled = false;

function own(dir: string): Owned {
  const o: Owned = { dir, procs: new Set() };
  owned.add(o);
  if (!exitHandlerInstalled) {
    exitHandlerInstalled = true;
    process.on('exit', killAllSync);
  }
  return o;
}

function killAllSync(): void {
  const all = [...owned].map((o) => ({ o, procs: procsOf(o) }));
  for (const { procs } of all) for (const p of procs) signal(p, p.signal);
  const deadline = Date.now() + 5_000;
  for (const { o, procs } of all) {
    for (const p of procs) while (isAlive(p.pid) && Date.now() < deadline) sleepSync(20);
    try {
      fs.rmSync(o.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    } catch (err) {
      console.error(`tenant-backup tests: could not remove ${o.dir}: ${String(err)}`);
    }
  }
  owned.clear();
}

/** The registered processes plus, for PostgreSQL, the postmaster named in its pid file. */
function procsOf(o: Owned): Proc[] {
  const procs = [...o.procs];
  if (o.postmasterPidFile) {
    try {
      const pid = Number(fs.readFileSync(o.postmasterPidFile, 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0) procs.push({ pid, signal: 'SIGQUIT', group: false });
    } catch {
      /* no pid file: no postmaster running */
    }
  }
  return procs;
}

function signal(p: Proc, sig: NodeJS.Signals): void {
  try {
    process.kill(p.group ? -p.pid : p.pid, sig);
  } catch {
    /* already gone */
  }
}

/** Alive and not a zombie (a killed server that nobody has reaped yet counts as dead). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs a setup command in its own process group, registered in `o` until it ends, so an exit
 * mid-startup kills it (and its children, e.g. initdb's postgres --boot) too. Output is captured
 * in `all` for error messages.
 */
function runOwned(o: Owned, file: string, args: string[], cwd: string) {
  const sub = execa(file, args, { cwd, all: true, detached: true, cleanup: false });
  if (sub.pid) {
    const proc: Proc = { pid: sub.pid, signal: 'SIGKILL', group: true };
    o.procs.add(proc);
    const done = () => void o.procs.delete(proc);
    sub.then(done, done);
  }
  return sub;
}

/** Kills whatever `o` still runs, waits for it, removes the dir. */
async function release(o: Owned): Promise<void> {
  const procs = procsOf(o);
  for (const p of procs) signal(p, p.signal);
  for (const p of procs) await waitForExit(p.pid, 10_000);
  owned.delete(o);
  await fsp.rm(o.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Small shared helpers.

const handedOutPorts = new Set<number>();

/** A currently free TCP port on 127.0.0.1 (bind port 0, close). Never the same one twice per process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
      });
    });
    if (!handedOutPorts.has(port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
}

function randomPassword(): string {
  return crypto.randomBytes(18).toString('base64url');
}

async function logTail(file: string, lines = 40): Promise<string> {
  try {
    const text = (await fsp.readFile(file, 'utf8')).trimEnd();
    return text ? text.split('\n').slice(-lines).join('\n') : '(empty)';
  } catch {
    return `(no log at ${file})`;
  }
}

async function startupError(what: string, logFile: string, cause: unknown): Promise<Error> {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new Error(`${what} failed: ${msg}\n--- last lines of ${logFile} ---\n${await logTail(logFile)}`, { cause });
}

/** Retries a whole server start on a new port when the chosen port was taken in the meantime. */
async function withPortRetry<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      const inUse = /address already in use|could not bind|Can't start server: Bind/i.test(String(err));
      if (!inUse || attempt >= 3) throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** Runs a PostgreSQL binary as the `postgres` OS user when we are root (initdb refuses root). */
function pgCmd(o: Owned, bin: string, args: string[]) {
  const file = path.join(PG_BIN, bin);
  return isRoot ? runOwned(o, 'runuser', ['-u', 'postgres', '--', file, ...args], o.dir) : runOwned(o, file, args, o.dir);
}

async function postgresOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (!isRoot) return undefined;
  const { stdout: uid } = await execa('id', ['-u', 'postgres']);
  const { stdout: gid } = await execa('id', ['-g', 'postgres']);
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgres(): Promise<RunningServer> {
  return withPortRetry(startPostgresOn);
}

async function startPostgresOn(port: number): Promise<RunningServer> {
  const o = own(await fsp.mkdtemp(path.join(os.tmpdir(), 'tb-pg-')));
  const dataDir = path.join(o.dir, 'data');
  const logFile = path.join(o.dir, 'postgres.log');
  const pwFile = path.join(o.dir, 'pwfile');
  const password = randomPassword();

  try {
    const owner = await postgresOwner();
    const chown = (f: string) => (owner ? fsp.chown(f, owner.uid, owner.gid) : undefined);
    await chown(o.dir);
    await fsp.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    await chown(pwFile);
    await fsp.writeFile(logFile, '');
    await chown(logFile);

    try {
      // execa's error message names the command and carries its output.
      await pgCmd(o, 'initdb', [
        '-D',
        dataDir,
        '-U',
        ADMIN_USER,
        `--pwfile=${pwFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ]);
    } finally {
      await fsp.rm(pwFile, { force: true });
    }

    // Speed over durability: the data is throwaway. Settings go in the config file, not argv.
    const conf = [
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${o.dir}'`,
      `max_connections = 200`,
      `fsync = off`,
      `synchronous_commit = off`,
      `full_page_writes = off`,
    ].join('\n');
    await fsp.appendFile(path.join(dataDir, 'postgresql.conf'), `\n# tenant-backup test server\n${conf}\n`);

    o.postmasterPidFile = path.join(dataDir, 'postmaster.pid');
    await pgCmd(o, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_MS / 1000), 'start']);

    // Prove the password works over TCP, and learn the version the server reports.
    const client = new pg.Client({ host: '127.0.0.1', port, user: ADMIN_USER, password, database: 'postgres' });
    await client.connect();
    let version: string;
    try {
      const res = await client.query<{ server_version: string }>('SHOW server_version');
      version = res.rows[0]!.server_version;
    } finally {
      await client.end();
    }

    let stopping: Promise<void> | undefined;
    return {
      engine: 'postgres',
      host: '127.0.0.1',
      port,
      user: ADMIN_USER,
      password,
      dataDir,
      version,
      stop: () =>
        (stopping ??= (async () => {
          // Fast shutdown, waited for (pg_ctl -w returns once postmaster.pid is gone). If it fails,
          // release() still finds the postmaster through its pid file and shuts it down immediately.
          const failure = await pgCmd(o, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).then(
            () => undefined,
            (e: unknown) => e,
          );
          await release(o);
          if (failure) throw new Error(`pg_ctl stop failed (server killed instead): ${String(failure)}`, { cause: failure });
        })()),
    };
  } catch (err) {
    const error = await startupError(`PostgreSQL start on 127.0.0.1:${port}`, logFile, err);
    await release(o);
    throw error;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(25);
}

// ---------------------------------------------------------------------------------------------
// MariaDB

export async function startMariadb(): Promise<RunningServer> {
  return withPortRetry(startMariadbOn);
}

async function startMariadbOn(port: number): Promise<RunningServer> {
  const o = own(await fsp.mkdtemp(path.join(os.tmpdir(), 'tb-my-')));
  const dataDir = path.join(o.dir, 'data');
  const logFile = path.join(o.dir, 'mariadb.err');
  const socketPath = path.join(o.dir, 'mysql.sock');
  const password = randomPassword();
  const asRoot = isRoot ? ['--user=root'] : []; // mariadbd refuses to run as root without it
  // Options shared by install-db (which bootstraps through mariadbd) and the server itself.
  // utf8mb4 like Debian's packaged config (the compiled-in default is latin1).
  // Its own temp folder: in the shared /tmp, another server (another test run, a helper's install-db
  // cleaning up) could remove its `#sql-temptable-…` files mid-query ("Error on delete of …").
  const tmpDir = path.join(o.dir, 'tmp');
  const common = ['--innodb-log-file-size=16M', '--skip-name-resolve', `--tmpdir=${tmpDir}`, '--character-set-server=utf8mb4', '--collation-server=utf8mb4_general_ci'];

  try {
    await fsp.mkdir(tmpDir, { mode: 0o700 });
    await runOwned(o, 'mariadb-install-db', ['--no-defaults', `--datadir=${dataDir}`, ...asRoot, '--auth-root-authentication-method=normal', '--skip-test-db', ...common], o.dir);

    // `--no-defaults` must come first. The server logs to logFile; its stdio is ignored.
    // Detached (own process group), like the setup commands: a terminal Ctrl-C reaches only vitest,
    // whose exit then runs the cleanup above.
    const child = execa(
      MARIADBD,
      [
        '--no-defaults',
        ...asRoot,
        `--datadir=${dataDir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socketPath}`,
        `--pid-file=${path.join(o.dir, 'mariadb.pid')}`,
        `--log-error=${logFile}`,
        '--skip-log-bin',
        '--innodb-flush-log-at-trx-commit=0',
        '--innodb-doublewrite=0',
        '--innodb-buffer-pool-size=64M',
        '--max-connections=300',
        ...common,
      ],
      { cwd: o.dir, stdio: 'ignore', reject: false, detached: true, cleanup: false },
    );
    const pid = child.pid;
    if (!pid) throw new Error('mariadbd did not spawn');
    o.procs.add({ pid, signal: 'SIGKILL', group: true });
    let exited = false;
    void child.then(() => {
      exited = true;
    });

    // Wait until root can talk over the socket (root has no password; socket = localhost).
    const deadline = Date.now() + START_TIMEOUT_MS;
    let root: mysql.Connection | undefined;
    while (!root) {
      if (exited) throw new Error('mariadbd exited during startup');
      if (Date.now() > deadline) throw new Error(`mariadbd not accepting connections after ${START_TIMEOUT_MS} ms`);
      root = await mysql.createConnection({ socketPath, user: 'root' }).catch(() => undefined);
      if (!root) await sleep(50);
    }
    try {
      // Client-side placeholder escaping keeps the password out of any argv and log.
      for (const host of ['127.0.0.1', 'localhost']) {
        await root.query('CREATE USER ?@? IDENTIFIED BY ?', [ADMIN_USER, host, password]);
        await root.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [ADMIN_USER, host]);
      }
    } finally {
      await root.end();
    }

    // Prove the password works over TCP, and learn the version the server reports.
    const admin = await mysql.createConnection({ host: '127.0.0.1', port, user: ADMIN_USER, password });
    let version: string;
    try {
      const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
      version = String(rows[0]!.v);
    } finally {
      await admin.end();
    }

    let stopping: Promise<void> | undefined;
    return {
      engine: 'mysql',
      host: '127.0.0.1',
      port,
      user: ADMIN_USER,
      password,
      dataDir,
      version,
      stop: () =>
        (stopping ??= (async () => {
          child.kill('SIGTERM'); // clean shutdown; release() SIGKILLs if it has not exited by then
          await waitForExit(pid, 20_000);
          if (!isAlive(pid)) o.procs.clear();
          await release(o);
        })()),
    };
  } catch (err) {
    const error = await startupError(`MariaDB start on 127.0.0.1:${port}`, logFile, err);
    await release(o);
    throw error;
  }
}
