/**
 * What every pair of the bench shares: the run's context (servers, configurations, plans, files
 * other pairs reuse), the result shape, and running a pair — ours (A) and its reference (B) as
 * whole processes, alternately: A B (warm-up, not counted), then A B × pairs.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig } from '../src/config/load.js';
import { planOrganizationTables } from '../src/core/plan-organization.js';
import { loadOrganizationEngine } from '../src/engines/registry.js';
import type { TablePlan } from '../src/engines/types.js';
import type { RunningServer } from '../test/helpers/servers.js';
import { logPrefix, measure, median, round, type Measurement } from './measure.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const BIN = path.join(ROOT, 'bin/tenant-backup.js');
export const RESULTS_DIR = path.join(ROOT, 'bench/results');
const MiB = 1024;

export interface Flags {
  rows: number;
  pairs: number;
  only: Set<string>;
  keep: boolean;
}

export interface Side {
  command: string;
  runs: Measurement[];
}

export interface PairResult {
  id: string;
  title: string;
  target: string;
  status: 'met' | 'not met' | 'pending' | 'info';
  ours?: Side;
  reference?: Side;
  ratios?: number[];
  summary?: {
    ours_ms: number;
    reference_ms: number;
    ratio: number;
    /** Highest peak RSS of our runs (pair 2 judges this one). */
    ours_rss_mib: number;
    /** Median of our runs' peak RSS. */
    ours_rss_median_mib: number;
    reference_rss_mib: number;
    ours_cpu_ms: number;
    reference_cpu_ms: number;
    ours_server_cpu_ms: number | null;
    reference_server_cpu_ms: number | null;
  };
  bytes?: { ours: number; reference: number };
  note?: string;
  [extra: string]: unknown;
}

/** One database server of the run, with the bench's configuration for it. */
export interface ServerSetup {
  server: RunningServer;
  pid?: number;
  configFile: string;
  plans: TablePlan[];
}

export interface Context {
  flags: Flags;
  work: string;
  env: NodeJS.ProcessEnv;
  pg?: ServerSetup;
  my?: ServerSetup;
  /** The wide schema of pair 9 (PostgreSQL). */
  wide?: ServerSetup;
  /** Pair 1's reference files, in plan order (reused by pair 3). */
  pgReferenceFiles?: string[];
  mysqlDumpFile?: string;
  archives: { postgres?: string; mysql?: string; wide?: string };
  backupSummary?: { rows: number; ndjson_bytes: number; archive_bytes: number; tables: Array<{ table: string; rows: number; bytes: number }> };
}

export function summarize(result: PairResult): void {
  const a = result.ours!.runs;
  const b = result.reference!.runs;
  result.ratios = a.map((run, i) => round(run.wall_ms / b[i]!.wall_ms, 3));
  const serverMedian = (runs: Measurement[]) => {
    const known = runs.map((r) => r.server_cpu_ms).filter((v): v is number => v !== null);
    return known.length > 0 ? round(median(known)) : null;
  };
  result.summary = {
    ours_ms: round(median(a.map((r) => r.wall_ms))),
    reference_ms: round(median(b.map((r) => r.wall_ms))),
    ratio: round(median(result.ratios), 3),
    ours_rss_mib: round(Math.max(...a.map((r) => r.max_rss_kib)) / MiB, 1),
    ours_rss_median_mib: round(median(a.map((r) => r.max_rss_kib)) / MiB, 1),
    reference_rss_mib: round(Math.max(...b.map((r) => r.max_rss_kib)) / MiB, 1),
    ours_cpu_ms: round(median(a.map((r) => r.cpu_ms))),
    reference_cpu_ms: round(median(b.map((r) => r.cpu_ms))),
    ours_server_cpu_ms: serverMedian(a),
    reference_server_cpu_ms: serverMedian(b),
  };
}

export function log(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

export async function writeConfig(file: string, raw: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(raw, null, 2), { mode: 0o600 });
  await chmod(file, 0o600);
}

/** The organization's tables exactly as the tool plans them (the references select the same rows). */
export async function planFor(raw: unknown, file: string, env: NodeJS.ProcessEnv, organization: string): Promise<TablePlan[]> {
  const config = resolveConfig(raw, file, env);
  const organizations = config.organizations!;
  const engine = await loadOrganizationEngine(organizations.client);
  const session = await engine.connect(organizations);
  try {
    return planOrganizationTables(await session.introspect(), organizations, session.dialect, organization);
  } finally {
    await session.close();
  }
}

export function ours(args: string[], configFile: string): string[] {
  return [process.execPath, BIN, ...args, '--config', configFile];
}

async function run(ctx: Context, name: string, argv: string[], serverPid: number | undefined): Promise<Measurement & { stdoutFile: string }> {
  return measure(argv, { env: ctx.env, cwd: ctx.work, logPrefix: logPrefix(ctx.work, `${name}-${Date.now()}`), serverPid });
}

/**
 * Warm-up A B (not counted), then `pairs` × (A B). `before` runs (untimed) before every run, to
 * put the database in the same state for each.
 */
export async function alternate(
  ctx: Context,
  result: PairResult,
  a: { command: string[]; name: string },
  b: { command: string[]; name: string },
  serverPid: number | undefined,
  options: { pairs?: number; before?: () => Promise<void>; afterWarmUp?: (a: Measurement & { stdoutFile: string }) => Promise<void> } = {},
): Promise<void> {
  const once = async (side: typeof a) => {
    await options.before?.();
    return run(ctx, side.name, side.command, serverPid);
  };
  const warm = await once(a);
  await options.afterWarmUp?.(warm);
  await once(b);
  result.ours = { command: describe(a.command), runs: [] };
  result.reference = { command: describe(b.command), runs: [] };
  const pairs = options.pairs ?? ctx.flags.pairs;
  for (let i = 0; i < pairs; i++) {
    result.ours.runs.push(strip(await once(a)));
    result.reference.runs.push(strip(await once(b)));
  }
  summarize(result);
}

function strip(m: Measurement & { stdoutFile?: string }): Measurement {
  const { stdoutFile: _ignored, ...rest } = m;
  return rest;
}

export function describe(argv: string[]): string {
  const shown = argv[0] === process.execPath ? ['node', ...argv.slice(1)] : argv;
  return shown.map((a) => a.replace(ROOT + '/', '')).join(' ');
}

export function judge(result: PairResult, limit: number): void {
  result.status = result.summary!.ratio <= limit ? 'met' : 'not met';
}

export const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
