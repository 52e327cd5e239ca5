/**
 * A SQLite tenant database file used by CLI tests: each call opens the file, does one thing and
 * closes it again, so the tool (a separate process) may replace the file in between (a restore).
 */
import Database from 'better-sqlite3';

export function sqliteExec(file: string, sql: string): void {
  const database = new Database(file);
  try {
    database.exec(sql);
  } finally {
    database.close();
  }
}

/** Every row of `sql`, as the driver returns them. */
export function sqliteRows(file: string, sql: string): unknown[] {
  const database = new Database(file);
  try {
    return database.prepare(sql).all();
  } finally {
    database.close();
  }
}
