import { applyHeartbeat, type Heartbeat, type Worker, type WorkerStatus } from '@gyoza/domain';
import { decodeWorker, encodeWorker, type LeaseStore, type WorkerStore } from '@gyoza/store';
import type { Database, Statement } from 'better-sqlite3';

export class SqliteWorkerStore implements WorkerStore {
  private readonly selectWorker: Statement<[string], { doc: string }>;
  private readonly upsertWorker: Statement<[string, string, number, string]>;

  constructor(private readonly db: Database) {
    this.selectWorker = db.prepare('SELECT doc FROM workers WHERE id = ?');
    this.upsertWorker = db.prepare(
      `INSERT INTO workers (id, status, last_heartbeat_at, doc) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status,
         last_heartbeat_at = excluded.last_heartbeat_at, doc = excluded.doc`,
    );
  }

  async heartbeat(heartbeat: Heartbeat, now: Date): Promise<Worker> {
    return this.db
      .transaction(() => {
        const row = this.selectWorker.get(heartbeat.worker_id);
        const worker = applyHeartbeat(row ? decodeWorker(row.doc) : null, heartbeat, now);
        this.save(worker);
        return worker;
      })
      .immediate();
  }

  async getWorker(id: string): Promise<Worker | null> {
    const row = this.selectWorker.get(id);
    return row ? decodeWorker(row.doc) : null;
  }

  async listWorkers(status?: WorkerStatus): Promise<Worker[]> {
    const rows =
      status === undefined
        ? this.db.prepare<[], { doc: string }>('SELECT doc FROM workers ORDER BY id').all()
        : this.db
            .prepare<[string], { doc: string }>('SELECT doc FROM workers WHERE status = ? ORDER BY id')
            .all(status);
    return rows.map((r) => decodeWorker(r.doc));
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
        this.save({ ...decodeWorker(row.doc), status: 'evicted', evicted_at: now });
        return true;
      })
      .immediate();
  }

  private save(worker: Worker): void {
    this.upsertWorker.run(worker.id, worker.status, worker.last_heartbeat_at.getTime(), encodeWorker(worker));
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
