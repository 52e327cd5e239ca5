/**
 * vitest globalSetup: starts one PostgreSQL and one MariaDB server per test run (in parallel),
 * hands their connection details to test workers via `provide('servers')`, and stops both in
 * teardown, whether tests passed or failed. Test files share the servers, so each test creates
 * its own uniquely named database (test/helpers/databases.ts).
 */
import type { TestProject } from 'vitest/node';
import { startMariadb, startPostgres, type RunningServer, type ServerInfo } from './helpers/servers.js';

const info = (s: RunningServer): ServerInfo => ({
  host: s.host,
  port: s.port,
  user: s.user,
  password: s.password,
  version: s.version,
});

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const [pgResult, myResult] = await Promise.allSettled([startPostgres(), startMariadb()]);
  const running = [pgResult, myResult].flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));

  if (pgResult.status === 'rejected' || myResult.status === 'rejected') {
    // Do not leave the server that did start running; vitest runs no teardown when setup throws.
    await Promise.allSettled(running.map((s) => s.stop()));
    const reasons = [pgResult, myResult].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, 'test database servers failed to start');
  }

  const postgres = pgResult.value;
  const mysql = myResult.value;
  if (process.env.TB_TEST_VERBOSE) {
    console.log(`test servers up in ${Date.now() - started} ms: postgres ${postgres.version} :${postgres.port}, ` + `mariadb ${mysql.version} :${mysql.port}`);
  }
  project.provide('servers', { postgres: info(postgres), mysql: info(mysql) });

  return async () => {
    const results = await Promise.allSettled([postgres.stop(), mysql.stop()]);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    if (failed.length) throw new AggregateError(failed, 'stopping test database servers failed');
  };
}
