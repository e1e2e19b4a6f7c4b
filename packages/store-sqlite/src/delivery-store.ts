import { NotFoundError, type OpRun, type RunEvent } from '@gyoza/domain';
import {
  cappedReceivers,
  type DeliveryLeaseRequest,
  type DeliveryOutcome,
  DeliveryPicker,
  type DeliveryQuery,
  type DeliveryStatus,
  type DeliveryStore,
  deliveryStatusesOf,
  emptyDeliveryCounts,
  type OutboxEntry,
  type OutboxRecovery,
  outboxEntryFor,
  receiverOf,
} from '@gyoza/store';
import type { Database, Statement } from 'better-sqlite3';

interface DeliveryRow {
  id: string;
  run_id: string;
  event_index: number;
  event_type: string;
  url: string;
  secret: string | null;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  created_at: number;
  updated_at: number;
  lease_until: number | null;
  leased_by: string | null;
}

/** How many more due deliveries a claim reads, past those of receivers that reach their cap in it. */
const PAST_CAPPED = 64;

function decode(row: DeliveryRow): OutboxEntry {
  const entry: OutboxEntry = {
    id: row.id,
    run_id: row.run_id,
    event_index: row.event_index,
    event_type: row.event_type,
    url: row.url,
    body: row.body,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: new Date(row.next_attempt_at),
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
  };
  if (row.secret !== null) entry.secret = row.secret;
  if (row.last_attempt_at !== null) entry.last_attempt_at = new Date(row.last_attempt_at);
  if (row.last_status_code !== null) entry.last_status_code = row.last_status_code;
  if (row.last_error !== null) entry.last_error = row.last_error;
  if (row.delivered_at !== null) entry.delivered_at = new Date(row.delivered_at);
  return entry;
}

/**
 * The outbox table. `writeOutbox` is called by the run store inside the transaction that
 * appends the events, so an event and its delivery commit together or not at all. A
 * delivery's lease is two columns of its row (`lease_until`, `leased_by`).
 */
export class SqliteDeliveryStore implements DeliveryStore {
  private readonly insert: Statement;
  private readonly selectOne: Statement<[string], DeliveryRow>;
  private readonly selectDue: Statement<[number, number], DeliveryRow>;
  private readonly selectClaimable: Statement<[number, number, string, number], Pick<DeliveryRow, 'id' | 'url'>>;
  private readonly lease: Statement<[number, string, string], DeliveryRow>;
  private readonly listeners = new Set<() => void>();
  private announced = false;

  constructor(private readonly db: Database) {
    this.insert = db.prepare(`INSERT INTO deliveries (id, run_id, event_index, event_type, url, receiver, secret, body,
      status, attempts, next_attempt_at, created_at, updated_at)
      VALUES (@id, @run_id, @event_index, @event_type, @url, @receiver, @secret, @body, 'pending', 0, @next_attempt_at,
        @created_at, @created_at)`);
    this.selectOne = db.prepare('SELECT * FROM deliveries WHERE id = ?');
    // The run's earliest open delivery only: per-run order.
    this.selectDue = db.prepare(`SELECT * FROM deliveries d INDEXED BY deliveries_due
      WHERE status IN ('pending', 'failing') AND next_attempt_at <= ?
      AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.run_id = d.run_id AND e.status IN ('pending', 'failing')
        AND e.event_index < d.event_index)
      ORDER BY next_attempt_at LIMIT ?`);
    // The same, without deliveries whose lease still runs (a leased head still holds back its run).
    // Not those of the receivers at their cap (a JSON array): SQLite passes over their backlog.
    this.selectClaimable = db.prepare(`SELECT id, url FROM deliveries d INDEXED BY deliveries_due
      WHERE status IN ('pending', 'failing') AND next_attempt_at <= ?
      AND (lease_until IS NULL OR lease_until <= ?) AND receiver NOT IN (SELECT value FROM json_each(?))
      AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.run_id = d.run_id AND e.status IN ('pending', 'failing')
        AND e.event_index < d.event_index)
      ORDER BY next_attempt_at LIMIT ?`);
    this.lease = db.prepare('UPDATE deliveries SET lease_until = ?, leased_by = ? WHERE id = ? RETURNING *');
  }

  /** Must run inside the write transaction that appends `events`. */
  writeOutbox(run: OpRun, events: readonly RunEvent[]): void {
    for (const event of events) {
      const entry = outboxEntryFor(run, event);
      if (!entry) continue;
      this.insert.run({
        id: entry.id,
        run_id: entry.run_id,
        event_index: entry.event_index,
        event_type: entry.event_type,
        url: entry.url,
        receiver: receiverOf(entry.url),
        secret: entry.secret ?? null,
        body: entry.body,
        next_attempt_at: entry.next_attempt_at.getTime(),
        created_at: entry.created_at.getTime(),
      });
      this.announce();
    }
  }

  /**
   * Tells the listeners once the current synchronous transaction has committed (better-sqlite3
   * commits before control returns to the event loop). After a rollback the call is only a
   * spurious wake-up, which costs one outbox read.
   */
  private announce(): void {
    if (this.announced || this.listeners.size === 0) return;
    this.announced = true;
    queueMicrotask(() => {
      this.announced = false;
      for (const listener of this.listeners) listener();
    });
  }

  onDeliveriesWritten(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async claimDue(request: DeliveryLeaseRequest): Promise<OutboxEntry[]> {
    const now = request.now.getTime();
    const until = now + request.leaseMs;
    return this.db
      .transaction(() => {
        // Read in order until enough are taken; those of receivers that reach their cap in this
        // claim are passed over here, a bounded number.
        const picker = new DeliveryPicker(request);
        const scan = request.limit + (request.skip?.size ?? 0) + (request.capped?.size ? PAST_CAPPED : 0);
        const picked: string[] = [];
        for (const row of this.selectClaimable.iterate(now, now, JSON.stringify(cappedReceivers(request)), scan)) {
          if (picker.offer(row)) picked.push(row.id);
          if (picker.full) break;
        }
        return picked.map((id) => decode(this.lease.get(until, request.holder, id) as DeliveryRow));
      })
      .immediate();
  }

  async releaseClaim(id: string, holder: string): Promise<void> {
    this.db
      .prepare('UPDATE deliveries SET lease_until = NULL, leased_by = NULL WHERE id = ? AND leased_by = ?')
      .run(id, holder);
  }

  async countClaims(): Promise<number> {
    const row = this.db
      .prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM deliveries WHERE leased_by IS NOT NULL')
      .get();
    return row?.n ?? 0;
  }

  /** One transaction writes an event and its delivery, and recordAttempt clears the lease: nothing to repair. */
  async recover(): Promise<OutboxRecovery> {
    return { applied: 0, swept: 0 };
  }

  async listDue(now: Date, limit: number): Promise<OutboxEntry[]> {
    return this.selectDue.all(now.getTime(), limit).map(decode);
  }

  async getDelivery(id: string): Promise<OutboxEntry | null> {
    const row = this.selectOne.get(id);
    return row ? decode(row) : null;
  }

  async recordAttempt(id: string, outcome: DeliveryOutcome, now: Date, claimedAt?: Date): Promise<boolean> {
    const result = this.db
      .prepare(`UPDATE deliveries SET status = ?, attempts = ?, last_attempt_at = ?, next_attempt_at = ?,
        last_status_code = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at), updated_at = ?,
        lease_until = NULL, leased_by = NULL WHERE id = ? AND (? IS NULL OR updated_at = ?)`)
      .run(
        outcome.status,
        outcome.attempts,
        outcome.attempted_at.getTime(),
        (outcome.next_attempt_at ?? now).getTime(),
        outcome.status_code ?? null,
        outcome.error ?? null,
        outcome.status === 'delivered' ? now.getTime() : null,
        now.getTime(),
        id,
        claimedAt?.getTime() ?? null,
        claimedAt?.getTime() ?? null,
      );
    if (result.changes > 0) return true;
    if (!this.selectOne.get(id)) throw new NotFoundError('delivery', id);
    return false;
  }

  async listDeliveries(query: DeliveryQuery): Promise<OutboxEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.run_id !== undefined) {
      where.push('run_id = ?');
      params.push(query.run_id);
    }
    const statuses = deliveryStatusesOf(query.status);
    if (statuses) {
      where.push(`status IN (${statuses.map(() => '?').join(', ')})`);
      params.push(...statuses);
    }
    const order = query.run_id !== undefined ? 'event_index' : 'updated_at DESC, id DESC';
    const sql = `SELECT * FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    return this.db
      .prepare<unknown[], DeliveryRow>(sql)
      .all(...params, limit)
      .map(decode);
  }

  async redeliver(id: string, now: Date): Promise<OutboxEntry> {
    return this.db
      .transaction(() => {
        const result = this.db
          // updated_at always moves (an attempt in flight compares it), and the lease ends: the
          // redelivery may go at once.
          .prepare(`UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?,
            updated_at = MAX(?, updated_at + 1), lease_until = NULL, leased_by = NULL,
            receiver = gyoza_receiver(url) WHERE id = ?`)
          .run(now.getTime(), now.getTime(), id);
        if (result.changes === 0) throw new NotFoundError('delivery', id);
        return decode(this.selectOne.get(id) as DeliveryRow);
      })
      .immediate();
  }

  async countDeliveries(): Promise<Record<DeliveryStatus, number>> {
    const counts = emptyDeliveryCounts();
    const rows = this.db
      .prepare<[], { status: DeliveryStatus; n: number }>(
        'SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status',
      )
      .all();
    for (const row of rows) counts[row.status] = row.n;
    return counts;
  }
}
