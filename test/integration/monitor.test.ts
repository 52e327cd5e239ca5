/**
 * `status --all [--check]` on a store with one fresh, one stale and one shrunken target: real
 * SQLite tenant backups made at past times (the library with a frozen clock), then the real CLI
 * judging them now. Also: which organizations are monitored, per-target limits, the `stale`
 * notification, and the single-target `status --check` taking the configured limit.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { backupTenant } from '../../src/core/backup-tenant.js';
import { createDeps } from '../../src/core/context.js';
import type { HealthReport } from '../../src/core/status-all.js';
import { frozenClock } from '../../src/retention/clock.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { startHttpRecorder, type HttpRecorder } from '../helpers/notify-servers.js';
import { makeTempDir, removeTempDirs } from '../helpers/temp.js';

const HOUR = 3_600_000;
let dir: string;
let hook: HttpRecorder;
const base = () => ({
  storage: { dir: './backups' },
  timezone: 'UTC',
  tenants: Object.fromEntries(['fresh', 'stale', 'shrunk'].map((t) => [t, { client: 'better-sqlite3', connection: { filename: `./${t}.sqlite` } }])),
});

async function configure(extra: Record<string, unknown>): Promise<void> {
  await writeFile(path.join(dir, '.backuprc'), JSON.stringify({ ...base(), ...extra }));
}

beforeAll(async () => {
  dir = await makeTempDir('tb-monitor-');
  hook = await startHttpRecorder();
  for (const tenant of ['fresh', 'stale', 'shrunk']) {
    const db = new Database(path.join(dir, `${tenant}.sqlite`));
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    // Random bytes do not compress: the archive's size follows the data's.
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
    for (let i = 0; i < 40; i += 1) insert.run(randomBytes(4096));
    db.close();
  }
  const config = resolveConfig(base(), path.join(dir, '.backuprc'), {});
  const backupAt = async (tenant: string, hoursAgo: number) => {
    const deps = await createDeps({ config, clock: frozenClock(new Date(Date.now() - hoursAgo * HOUR)) });
    return backupTenant(deps, { tenant });
  };
  await backupAt('fresh', 30);
  await backupAt('fresh', 2);
  await backupAt('stale', 50);
  for (const hoursAgo of [96, 72, 48]) await backupAt('shrunk', hoursAgo);
  // The application's data vanished; the backup of what is left "succeeds".
  const db = new Database(path.join(dir, 'shrunk.sqlite'));
  db.exec('DELETE FROM blobs WHERE id > 2; VACUUM;');
  db.close();
  await backupAt('shrunk', 1);
});
afterAll(async () => {
  await hook.close();
  await removeTempDirs();
});

const cli = (args: string[]) => runCli(args, { cwd: dir });

describe('status --all', () => {
  it('--check: exit 11 with the full report on stdout, one fresh, one stale, one shrunken target', async () => {
    await configure({ notifications: { webhook: { url: hook.url('/hook/STALETOKEN123'), on: ['stale'] } } });
    const result = await cli(['status', '--all', '--check', '--json']);
    expect(result.code, result.stderr).toBe(11);
    const report = JSON.parse(result.stdout) as HealthReport;
    expect(report.ok).toBe(false);
    const byTenant = Object.fromEntries(report.targets.map((t) => [t.tenant, t]));
    expect(Object.keys(byTenant)).toEqual(['fresh', 'stale', 'shrunk']);
    expect(byTenant.fresh).toMatchObject({ ok: true, stale: false, shrunk: false, max_age_hours: 26, problems: [], last_failure: null, size_trend: { samples: 1 } });
    expect(byTenant.fresh!.age_hours).toBeGreaterThanOrEqual(2);
    expect(byTenant.fresh!.age_hours).toBeLessThan(3);
    expect(byTenant.fresh!.size_trend.ratio).toBeGreaterThan(0.9);
    expect(byTenant.fresh!.storage_bytes).toBeGreaterThan(2 * 40 * 4096);
    expect(byTenant.stale).toMatchObject({ ok: false, stale: true, shrunk: false });
    expect(byTenant.stale!.problems).toEqual([expect.stringMatching(/^tenant "stale": the newest successful backup is 50(\.\d+)? hours old \(limit 26\)$/)]);
    expect(byTenant.shrunk).toMatchObject({ ok: false, stale: false, shrunk: true, size_trend: { samples: 3 } });
    expect(byTenant.shrunk!.size_trend.ratio).toBeLessThan(0.2);
    expect(byTenant.shrunk!.problems).toEqual([expect.stringMatching(/^tenant "shrunk": the newest backup is .*, less than half the median .* of the 3 before it$/)]);
    expect(report.summary).toMatchObject({ targets: 3, ok: 1, stale: 1, shrunk: 1, failing: 0 });
    expect(byTenant.fresh!.newest_success).toMatchObject({ status: 'success', tenant: 'fresh', backup_type: 'manual' });

    // One `stale` event with every problem, to the channel that asked for it.
    expect(hook.requests).toHaveLength(1);
    const event = JSON.parse(hook.requests[0]!.body) as { event: string; problems: string[]; text: string };
    expect(event.event).toBe('stale');
    expect(event.problems).toEqual([...byTenant.stale!.problems, ...byTenant.shrunk!.problems]);
    expect(event.text).toMatch(/^:warning: Backups need attention on .* \(2\):\n• tenant "stale": .*\n• tenant "shrunk": .*\nDetails: tenant-backup status --all$/);
  });

  it('without --check: exit 0 and no notification; the text view fits 80 columns', async () => {
    hook.requests.length = 0;
    const result = await cli(['status', '--all']);
    expect(result.code, result.stderr).toBe(0);
    expect(hook.requests).toEqual([]);
    const lines = result.stdout.trimEnd().split('\n');
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^Target\s+Last success\s+Last failure\s+Size · trend\s+Storage\s+State$/);
    expect(lines.find((l) => l.startsWith('tenant "fresh"'))).toMatch(/2\.\d h ago .* ok$/);
    expect(lines.find((l) => l.startsWith('tenant "stale"'))).toMatch(/STALE \[1\]$/);
    expect(lines.find((l) => l.startsWith('tenant "shrunk"'))).toMatch(/SHRUNK \[2\]$/);
    expect(result.stdout).toContain('3 targets: 1 ok, 1 stale, 1 shrunk, 0 failing;');
  });

  it('per-target limits and --max-age-hours decide staleness; a shrunken target still fails the check', async () => {
    await configure({ monitor: { maxAgeHours: 12, tenants: { stale: { maxAgeHours: 72 } } } });
    const report = JSON.parse((await cli(['status', '--all', '--json'])).stdout) as HealthReport;
    expect(report.targets.map((t) => [t.tenant, t.max_age_hours, t.stale])).toEqual([
      ['fresh', 12, false],
      ['stale', 72, false],
      ['shrunk', 12, false],
    ]);
    const tight = JSON.parse((await cli(['status', '--all', '--json', '--max-age-hours', '1.5'])).stdout) as HealthReport;
    expect(tight.targets.map((t) => [t.tenant, t.max_age_hours, t.stale])).toEqual([
      ['fresh', 1.5, true],
      ['stale', 72, false],
      ['shrunk', 1.5, false],
    ]);
    expect((await cli(['status', '--all', '--check'])).code).toBe(11);
    // The single-target check takes the configured limit too, unless --max-age-hours is given.
    expect((await cli(['status', 'stale', '--check'])).code).toBe(0);
    expect((await cli(['status', 'stale', '--check', '--max-age-hours', '26'])).code).toBe(11);
    expect((await cli(['status', 'fresh', '--check'])).code).toBe(0);
  });

  it("monitors the organizations with automatic backups on: the table's column and tenant-backup's switch decide", async () => {
    await copyFile(path.join(ROOT, 'fixtures/demo/demo.sqlite'), path.join(dir, 'app.sqlite'));
    await configure({ organizations: { client: 'better-sqlite3', connection: { filename: './app.sqlite' } } });
    expect((await cli(['auto', '--org', '2', '--disable'])).code).toBe(0);
    const report = JSON.parse((await cli(['status', '--all', '--json'])).stdout) as HealthReport;
    // Organization 3 has auto_backup_enabled = 0 in the demo table; 2 is switched off here.
    expect(report.targets.filter((t) => t.kind === 'organization').map((t) => [t.organization_id, t.stale, t.problems])).toEqual([
      ['1', true, ['organization 1: no successful backup']],
    ]);
    expect(report.warnings).toEqual([]);

    await configure({ organizations: { client: 'better-sqlite3', connection: { filename: './gone.sqlite' } } });
    const degraded = await cli(['status', '--all', '--json']);
    expect(degraded.code).toBe(0);
    expect(JSON.parse(degraded.stdout).warnings).toEqual([
      expect.stringMatching(/^The organizations table could not be read \(.*\); showing the organizations the ledger knows\.$/),
    ]);
    expect(degraded.stderr).toMatch(/^warning: The organizations table could not be read/);
    // A probe that could not see the organizations is not healthy, whatever else it saw.
    expect(JSON.parse(degraded.stdout).ok).toBe(false);
    expect((await cli(['status', '--all', '--check', '--json'])).code).toBe(11);
  });

  it('a probe that can read no organizations table and knows no target says so and fails --check', async () => {
    const empty = await makeTempDir('tb-monitor-empty-');
    await writeFile(
      path.join(empty, '.backuprc'),
      JSON.stringify({ storage: { dir: './backups' }, timezone: 'UTC', organizations: { client: 'better-sqlite3', connection: { filename: './missing.sqlite' } } }),
    );
    const text = await runCli(['status', '--all'], { cwd: empty });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Nothing to monitor/);
    expect(text.stdout).toMatch(/warning: The organizations table could not be read/);
    const check = await runCli(['status', '--all', '--check'], { cwd: empty });
    expect(check.code).toBe(11);
  });
});
