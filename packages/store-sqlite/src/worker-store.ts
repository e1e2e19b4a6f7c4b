import { applyHeartbeat, type Heartbeat, type Worker, type WorkerStatus } from '@gyoza/domain';
import { decodeWorker, encodeWorker, type LeaseStore, type WorkerStore } from '@gyoza/store';
import type { Database, Statement } from 'better-sqlite3';
import type { OwnVersionBumps } from './own-bumps';

/** The ids a worker holds, from the covering index (schema step 5). */
const HELD_IDS_SQL = `SELECT id FROM runs INDEXED BY runs_held WHERE worker_id = ? AND state IN ('ASSIGNED', 'RUNNING')`;

/**
 * The worker of a row whose `running_ops` (schema step 5) is read and decoded only when asked
 * for: a claim or a heartbeat holding thousands of runs does not pay for them. A document
 * written before step 5 still carries them itself. A NULL column says its last heartbeat sent
 * a held digest instead of a list: it runs what it holds, read then from the runs.
 */
export function workerOfRow(db: Database, id: string, doc: string): Worker {
  const worker = decodeWorker(doc);
  if (worker.running_ops !== undefined) return worker;
  let loaded: string[] | undefined;
  const keep = (value: string[]) => {
    loaded = value;
    return value;
  };
  Object.defineProperty(worker, 'running_ops', {
    enumerable: true,
    configurable: true,
    get: () => {
      if (loaded !== undefined) return loaded;
      const row = db
        .prepare<[string], { ops: string | null }>('SELECT running_ops AS ops FROM workers WHERE id = ?')
        .get(id);
      if (row && row.ops === null) return keep(db.prepare<[string], string>(HELD_IDS_SQL).pluck().all(id));
      return keep(row?.ops ? (JSON.parse(row.ops) as string[]) : []);
    },
    set: keep,
  });
  return worker;
}

export class SqliteWorkerStore implements WorkerStore {
  private readonly selectWorker: Statement<[string], { doc: string }>;
  private readonly upsertWorker: Statement<[string, string, number, string]>;
  private readonly updateOps: Statement<{ ops: string | null; id: string }>;

  constructor(
    private readonly db: Database,
    private readonly versions: OwnVersionBumps,
  ) {
    this.selectWorker = db.prepare('SELECT doc FROM workers WHERE id = ?');
    this.upsertWorker = db.prepare(
      `INSERT INTO workers (id, status, last_heartbeat_at, doc) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status,
         last_heartbeat_at = excluded.last_heartbeat_at, doc = excluded.doc`,
    );
    // Compared in SQLite, rewritten only when the list changed.
    this.updateOps = db.prepare('UPDATE workers SET running_ops = @ops WHERE id = @id AND running_ops IS NOT @ops');
  }

  async heartbeat(heartbeat: Heartbeat, now: Date): Promise<Worker> {
    return this.versions.write(() => this.recordHeartbeat(heartbeat, now));
  }

  private recordHeartbeat(heartbeat: Heartbeat, now: Date): Worker {
    const row = this.selectWorker.get(heartbeat.worker_id);
    const worker = applyHeartbeat(row ? workerOfRow(this.db, heartbeat.worker_id, row.doc) : null, heartbeat, now);
    if (heartbeat.running_ops !== undefined) {
      this.save(worker);
      return worker;
    }
    // A held digest instead of a list: running_ops reads as the held runs (NULL).
    this.save(worker, null);
    const { running_ops: _listed, ...rest } = worker;
    return workerOfRow(this.db, worker.id, encodeWorker(rest as Worker));
  }

  async getWorker(id: string): Promise<Worker | null> {
    const row = this.selectWorker.get(id);
    return row ? workerOfRow(this.db, id, row.doc) : null;
  }

  async listWorkers(status?: WorkerStatus): Promise<Worker[]> {
    const rows =
      status === undefined
        ? this.db.prepare<[], { id: string; doc: string }>('SELECT id, doc FROM workers ORDER BY id').all()
        : this.db
            .prepare<[string], { id: string; doc: string }>('SELECT id, doc FROM workers WHERE status = ? ORDER BY id')
            .all(status);
    return rows.map((r) => workerOfRow(this.db, r.id, r.doc));
  }

  async evictWorker(id: string, silentSince: Date, now: Date): Promise<boolean> {
    return this.versions.write(() => this.evict(id, silentSince, now));
  }

  private evict(id: string, silentSince: Date, now: Date): boolean {
    const row = this.db
      .prepare<[string, number], { doc: string }>(
        `SELECT doc FROM workers WHERE id = ? AND status = 'active' AND last_heartbeat_at < ?`,
      )
      .get(id, silentSince.getTime());
    if (!row) return false;
    this.save({ ...workerOfRow(this.db, id, row.doc), status: 'evicted', evicted_at: now });
    return true;
  }

  /**
   * Must run inside a write transaction. `ops` null: the worker runs what it holds (its
   * heartbeat sent a held digest).
   */
  private save(worker: Worker, ops: string | null = JSON.stringify(worker.running_ops)): void {
    const { running_ops: _listed, ...rest } = worker;
    this.upsertWorker.run(worker.id, worker.status, worker.last_heartbeat_at.getTime(), encodeWorker(rest as Worker));
    this.updateOps.run({ ops, id: worker.id });
  }
}

export class SqliteLeaseStore implements LeaseStore {
  constructor(private readonly db: Database) {}

  async acquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expires)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= @now`,
      )
      .run({ name, holder, expires: now.getTime() + ttlMs, now: now.getTime() });
    return result.changes === 1;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder);
  }
}
