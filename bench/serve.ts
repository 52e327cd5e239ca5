/**
 * Development helper (not part of the benchmark run): starts a throwaway PostgreSQL and MariaDB,
 * writes their connection facts to the file given as the first argument (mode 0600), and keeps
 * them running until this process receives SIGINT/SIGTERM. Used to profile by hand:
 *   node --import tsx bench/serve.ts /tmp/bench-servers.json &
 */
import { writeFile } from 'node:fs/promises';
import { startMariadb, startPostgres } from '../test/helpers/servers.js';

const out = process.argv[2];
if (!out) throw new Error('usage: node --import tsx bench/serve.ts <info.json>');
const [postgres, mariadb] = await Promise.all([startPostgres(), startMariadb()]);
const info = {
  postgres: { host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, version: postgres.version },
  mariadb: { host: mariadb.host, port: mariadb.port, user: mariadb.user, password: mariadb.password, version: mariadb.version },
};
await writeFile(out, JSON.stringify(info, null, 2), { mode: 0o600 });
process.stderr.write(`servers up; facts in ${out}\n`);
const stop = async () => {
  await Promise.allSettled([postgres.stop(), mariadb.stop()]);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
setInterval(() => undefined, 1 << 30);
