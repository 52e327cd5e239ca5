/**
 * Where an organization backup gets its session of the shared database and the schema it plans
 * from. A single backup connects on its own and reads the catalogue itself (`connectNow`). A run
 * over many organizations (`auto --all`) shares both (`OrganizationRun`): sessions are reused
 * from one backup to the next, at most one per concurrent backup (one session for all of them when
 * the engine runs snapshots concurrently, as PostgreSQL and SQLite do), and the catalogue — tables,
 * columns, keys, the server's version — is read once per run, each organization's plan computed
 * from it (plan-organization.ts is a pure function of the schema).
 *
 * Contract of a run:
 * - A backup that fails hands its session back as `failed`: that session is closed once its other
 *   users are done and the catalogue is read again by the next backup. A failure caused by a
 *   lost connection or a schema changed under the run (a migration) therefore costs one
 *   organization, never the rest of the run; a schema change that breaks nothing is seen by the
 *   next run.
 * - Each backup still reads its rows in a snapshot of its own, and its organization's row (name,
 *   code, `auto_backup_enabled`) inside that snapshot.
 * - `close()` ends every session (the run's end, Ctrl-C included: a backup's abort listener ends
 *   the session's connections at once).
 */
import type { OrganizationsConfig } from '../config/schema.js';
import { loadOrganizationEngine } from '../engines/registry.js';
import type { OrganizationEngine, OrganizationSession, SchemaInfo } from '../engines/types.js';
import type { Deps } from './context.js';
import { connectOptions, organizationsConfig } from './organization-config.js';

export interface SchemaCatalogue {
  schema: SchemaInfo;
  serverVersion: string;
}

/** One backup's use of a session. */
export interface BackupConnection {
  readonly session: OrganizationSession;
  /** The schema to plan from and the server's version (the run's, or read now). */
  catalogue(): Promise<SchemaCatalogue>;
  /** Ends this backup's use: closes the session, or hands it back to its run (`failed`: see the header). */
  release(failed: boolean): Promise<void>;
}

export interface ConnectionSource {
  readonly engine: Promise<OrganizationEngine>;
  acquire(): Promise<BackupConnection>;
}

async function readCatalogue(session: OrganizationSession): Promise<SchemaCatalogue> {
  const [schema, serverVersion] = await Promise.all([session.introspect(), session.serverVersion()]);
  return { schema, serverVersion };
}

function connect(engine: OrganizationEngine, config: OrganizationsConfig): Promise<OrganizationSession> {
  return engine.connect(config, connectOptions(config));
}

/**
 * A backup's own connection, started at once: connecting (the driver's import, TCP,
 * authentication) need not wait for the organization's lock. `dispose` closes a session that no
 * backup acquired (the lock was held elsewhere).
 */
export function connectNow(deps: Pick<Deps, 'config'>): ConnectionSource & { dispose(): void } {
  const engine = (async () => loadOrganizationEngine(organizationsConfig(deps).client))();
  const session = engine.then((loaded) => connect(loaded, organizationsConfig(deps)));
  engine.catch(() => undefined); // awaited (or dropped) by the caller
  session.catch(() => undefined);
  let taken = false;
  return {
    engine,
    async acquire() {
      taken = true;
      const own = await session;
      return { session: own, catalogue: () => readCatalogue(own), release: () => own.close().catch(() => undefined) };
    },
    dispose() {
      if (!taken) void session.then((own) => own.close()).catch(() => undefined);
    },
  };
}

interface Slot {
  session: OrganizationSession;
  users: number;
  retired: boolean;
}

export class OrganizationRun implements ConnectionSource {
  readonly engine: Promise<OrganizationEngine>;
  /** The one session of an engine with concurrent snapshots (until it is retired), and its connecting. */
  private shared: Slot | undefined;
  private connecting: Promise<Slot> | undefined;
  /** Sessions of other engines, free for the next backup. */
  private readonly idle: Slot[] = [];
  private readonly open = new Set<Slot>();
  private catalogue: Promise<SchemaCatalogue> | undefined;
  private closed = false;

  constructor(private readonly deps: Pick<Deps, 'config'>) {
    this.engine = (async () => loadOrganizationEngine(organizationsConfig(deps).client))();
    this.engine.catch(() => undefined);
  }

  /** Every organization id of the organizations table, on one of the run's sessions. */
  async listOrganizationIds(): Promise<string[]> {
    const connection = await this.acquire();
    let failed = true;
    try {
      const ids = await connection.session.listOrganizationIds(organizationsConfig(this.deps));
      failed = false;
      return ids;
    } finally {
      await connection.release(failed);
    }
  }

  async acquire(): Promise<BackupConnection> {
    if (this.closed) throw new Error('internal: the organization run is closed');
    const slot = await this.slot();
    slot.users += 1;
    let released = false;
    return {
      session: slot.session,
      catalogue: () => this.readCatalogue(slot.session),
      release: async (failed) => {
        if (released) return;
        released = true;
        slot.users -= 1;
        if (failed) {
          this.catalogue = undefined;
          this.retire(slot);
        } else if (!slot.retired && !(await this.engine).concurrentSnapshots) {
          this.idle.push(slot);
        }
        if (slot.retired && slot.users === 0) await this.end(slot);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.shared = undefined;
    this.idle.length = 0;
    await Promise.all([...this.open].map((slot) => this.end(slot)));
  }

  private async slot(): Promise<Slot> {
    const engine = await this.engine;
    if (!engine.concurrentSnapshots) return this.idle.pop() ?? this.connectSlot(engine);
    if (this.shared && !this.shared.retired) return this.shared;
    // Backups starting together wait for the same connection; a failed one is tried again by the next.
    this.connecting ??= this.connectSlot(engine)
      .then((slot) => (this.shared = slot))
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private async connectSlot(engine: OrganizationEngine): Promise<Slot> {
    const slot: Slot = { session: await connect(engine, organizationsConfig(this.deps)), users: 0, retired: false };
    this.open.add(slot);
    if (this.closed) {
      await this.end(slot);
      throw new Error('internal: the organization run is closed');
    }
    return slot;
  }

  private readCatalogue(session: OrganizationSession): Promise<SchemaCatalogue> {
    const reading = (this.catalogue ??= readCatalogue(session));
    reading.catch(() => {
      if (this.catalogue === reading) this.catalogue = undefined;
    });
    return reading;
  }

  private retire(slot: Slot): void {
    if (slot.retired) return;
    slot.retired = true;
    const at = this.idle.indexOf(slot);
    if (at !== -1) this.idle.splice(at, 1);
    if (this.shared === slot) this.shared = undefined;
  }

  private async end(slot: Slot): Promise<void> {
    if (!this.open.delete(slot)) return;
    await slot.session.close().catch(() => undefined);
  }
}
