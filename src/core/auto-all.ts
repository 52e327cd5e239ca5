/**
 * `auto --all`: today's automatic backup for every organization of the organizations table
 * (cron's form), applying the same rules as `auto --org` except the role rules. Organizations run
 * `concurrency` at a time; one failure does not stop the others, and is reported in the summary.
 */
import { loadOrganizationEngine } from '../engines/registry.js';
import { TenantBackupError, asTypedError, describeCause } from '../errors.js';
import { autoBackup, type AutoResult } from './auto.js';
import type { Deps } from './context.js';
import { connectionSecrets } from '../engines/connection.js';
import { connectOptions, organizationsConfig } from './organization-config.js';

export type AutoAllItem = AutoResult | { action: 'failed'; organization_id: string; error: { code: string; message: string } };

export interface AutoAllResult {
  results: AutoAllItem[];
  summary: { created: number; skipped: number; failed: number };
}

export async function autoBackupAll(
  deps: Deps,
  options: { concurrency?: number; userId?: string | null; signal?: AbortSignal } = {},
): Promise<AutoAllResult> {
  const config = organizationsConfig(deps);
  const engine = await loadOrganizationEngine(config.client);
  const session = await engine.connect(config, connectOptions(config));
  let ids: string[];
  try {
    ids = await session.listOrganizationIds(config);
  } catch (error) {
    throw asTypedError(error, connectionSecrets(config.connection));
  } finally {
    await session.close().catch(() => undefined);
  }

  const results: AutoAllItem[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length && !options.signal?.aborted) {
      const index = next++;
      const organizationId = ids[index]!;
      try {
        results[index] = await autoBackup(deps, { organizationId, userId: options.userId ?? null, signal: options.signal });
      } catch (error) {
        const typed = error instanceof TenantBackupError ? error : null;
        results[index] = { action: 'failed', organization_id: organizationId, error: { code: typed?.code ?? 'UNEXPECTED', message: typed?.message ?? describeCause(error) } };
      }
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, ids.length || 1));
  await Promise.all(Array.from({ length: concurrency }, worker));
  options.signal?.throwIfAborted();
  const done = results.filter((r): r is AutoAllItem => r !== undefined);
  return {
    results: done,
    summary: {
      created: done.filter((r) => r.action === 'created').length,
      skipped: done.filter((r) => r.action === 'skipped').length,
      failed: done.filter((r) => r.action === 'failed').length,
    },
  };
}
