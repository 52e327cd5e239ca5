import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts one real PostgreSQL and one real MariaDB per run; tests get them via inject('servers').
    globalSetup: ['test/global-setup.ts'],
    // Separate processes: native modules (better-sqlite3) and child processes (pg_dump) behave.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
