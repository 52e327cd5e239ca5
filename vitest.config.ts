import { defineConfig } from 'vitest/config';

/**
 * Two projects (run one with `--project unit` or `--project integration`, or name a file):
 * - unit: pure code and local files; no database server is started, so a unit file runs in seconds.
 * - integration: real PostgreSQL 15 and MariaDB servers, started once per run by
 *   test/global-setup.ts (tests get them via inject('servers')); dist/ is rebuilt first
 *   (test/build-dist.ts) because the CLI tests run the built CLI.
 * Contract suites (test/contract/) are not test files themselves: each kind's test file runs them.
 */
export default defineConfig({
  test: {
    // Separate processes: native modules (better-sqlite3) and child processes (pg_dump) behave.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/build-dist.ts', 'test/global-setup.ts'] },
      },
    ],
  },
});
