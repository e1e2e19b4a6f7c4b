import { applyHeartbeat, type Heartbeat, type Worker, type WorkerStatus } from '@gyoza/domain';
import { decodeWorker, encodeWorker, type LeaseStore, type WorkerStore } from '@gyoza/store';
import type { Database, Statement } from 'better-sqlite3';

/**
 * The worker of a row whose `running_ops` (schema step 5) is read and decoded only when asked
 * for: a claim or a heartbeat holding thousands of runs does not pay for them. A document
 * written before step 5 still carries them itself.
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
      return keep(row?.ops ? (JSON.parse(row.ops) as string[]) : []);
    },
    set: keep,
  });
  return worker;
}

export class SqliteWorkerStore implements WorkerStore {
  private readonly selectWorker: Statement<[string], { doc: string }>;
  private readonly upsertWorker: Statement<[string, string, number, string]>;
  private readonly updateOps: Statement<{ ops: string; id: string }>;

  constructor(private readonly db: Database) {
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
    return this.db
      .transaction(() => {
        const row = this.selectWorker.get(heartbeat.worker_id);
        const worker = applyHeartbeat(row ? workerOfRow(this.db, heartbeat.worker_id, row.doc) : null, heartbeat, now);
        this.save(worker);
        return worker;
      })
      .immediate();
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
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare<[string, number], { doc: string }>(
            `SELECT doc FROM workers WHERE id = ? AND status = 'active' AND last_heartbeat_at < ?`,
          )
          .get(id, silentSince.getTime());
        if (!row) return false;
        this.save({ ...workerOfRow(this.db, id, row.doc), status: 'evicted', evicted_at: now });
        return true;
      })
      .immediate();
  }

  /** Must run inside a write transaction. */
  private save(worker: Worker): void {
    const { running_ops, ...rest } = worker;
    this.upsertWorker.run(worker.id, worker.status, worker.last_heartbeat_at.getTime(), encodeWorker(rest as Worker));
    this.updateOps.run({ ops: JSON.stringify(running_ops), id: worker.id });
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
