/**
 * The database ledger's one connection for its statements (its locks have a session of their own,
 * locks.ts): one operation at a time (a queue), the tables created (or named in an error) the first
 * time a statement misses them, and a session that ended by itself replaced.
 *
 * A backup keeps this session idle for as long as its export takes; a server's idle limit
 * (`idle_session_timeout`, `wait_timeout`) or a proxy may end it meanwhile. Pings while a lock is
 * held (locks.ts) keep it in use; when it ended all the same, the next operation opens a new
 * session, and an operation that failed because its session ended is run once more on a new one.
 * An operation is a whole unit (a transaction, or one statement that commits by itself), so running
 * it again is safe — except in the instant an INSERT committed and the connection broke before the
 * answer: `begin` then meets its own daily slot (DailySlotTakenError), or leaves a second
 * `in_progress` record whose run lock is released with the first, marked failed ("Interrupted").
 */
import { createQueue } from '../../engines/sqlite/database.js';
import type { LedgerTables } from './dialect.js';
import { createLedgerTables } from './schema.js';
import { openSession, type SessionTarget, type SqlSession } from './session.js';

export class MainSession {
  private session: Promise<SqlSession> | undefined;
  readonly serial = createQueue();

  constructor(
    private readonly target: SessionTarget,
    private readonly tables: LedgerTables,
  ) {}

  /** The session, opened (again) when there is none or it ended. */
  connect(): Promise<SqlSession> {
    if (!this.session) {
      const opening: Promise<SqlSession> = openSession(this.target).then(
        (db) => {
          db.onEnd(() => this.forget(opening));
          return db;
        },
        (error: unknown) => {
          this.forget(opening);
          throw error;
        },
      );
      this.session = opening;
    }
    return this.session;
  }

  /** One operation at a time; once more on a new session if its session ended under it. */
  run<T>(fn: (db: SqlSession) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const opening = this.connect();
      const db = await opening;
      try {
        return await this.withTables(db, fn);
      } catch (error) {
        if (db.alive()) throw error;
        this.forget(opening);
        await db.close();
        return this.withTables(await this.connect(), fn);
      }
    });
  }

  /** A statement that keeps an idle session in use (called while a lock is held); never throws. */
  async ping(): Promise<void> {
    const current = this.session;
    if (!current) return;
    await this.serial(async () => (await current).query('SELECT 1')).catch(() => undefined);
  }

  async close(): Promise<void> {
    const current = this.session;
    this.session = undefined;
    if (current) await (await current.catch(() => null))?.close();
  }

  private forget(opening: Promise<SqlSession>): void {
    if (this.session === opening) this.session = undefined;
  }

  private async withTables<T>(db: SqlSession, fn: (db: SqlSession) => Promise<T>): Promise<T> {
    try {
      return await fn(db);
    } catch (error) {
      if (!db.dialect.isMissingTable(error)) throw error;
      await createLedgerTables(db, this.tables);
      return fn(db);
    }
  }
}
