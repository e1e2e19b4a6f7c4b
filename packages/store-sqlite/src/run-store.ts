import {
  assign,
  ConcurrentModificationError,
  EMPTY_HELD_DIGEST,
  formatHeldDigest,
  NotFoundError,
  type OpRun,
  type Reservation,
  RUN_STATES,
  type RunEvent,
  type RunEventDraft,
  type RunState,
  reservationOf,
  type Transition,
  WorkerNotActiveError,
} from '@gyoza/domain';
import {
  type CandidatePageRequest,
  type ClaimRequest,
  type ClaimStore,
  type CreatedRun,
  decodeRun,
  decodeRunCursor,
  type EventQuery,
  mergeClaimOrder,
  pageSize,
  planClaim,
  type RunPage,
  type RunQuery,
  type RunStore,
  runColumns,
  runPage,
  type SavedTransition,
  statesOf,
  totalsAsReservations,
} from '@gyoza/store';
import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDeliveryStore } from './delivery-store';
import { decodeEvent, type EventRow } from './event-row';
import type { OwnVersionBumps } from './own-bumps';
import { workerOfRow } from './worker-store';

/**
 * Pending runs of one demand shape in claim order (after a keyset position, when given).
 * Walks the partial index of pending runs by shape; INDEXED BY because without statistics
 * SQLite could pick another index and sort.
 */
function pendingSql(keyset: string): string {
  return `SELECT doc, rev FROM runs INDEXED BY runs_pending_shape WHERE state = 'PENDING' AND shape = @shape ${keyset}
    ORDER BY priority DESC, created_at, id LIMIT @size`;
}

/** When a RUNNING run times out (schema step 7's `timeout_at`); null when it cannot. */
function timeoutAt(run: OpRun): number | null {
  const seconds = run.constraints.timeout_seconds;
  if (run.state !== 'RUNNING' || !(seconds > 0) || run.started_at === undefined) return null;
  return run.started_at.getTime() + seconds * 1000;
}

interface HeldRow {
  gpu_id: number;
  cpu_milli: number;
  ram_mb: number;
  vram_mb: number;
}

interface RunRow {
  doc: string;
  rev: number;
}

type Outcome = { value: unknown } | { error: unknown };

interface QueuedWrite {
  write(): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class SqliteRunStore implements RunStore, ClaimStore {
  private readonly insertRun: Statement;
  private readonly updateRow: Statement;
  private readonly selectRun: Statement<[string], RunRow>;
  private readonly selectRev: Statement<[string], { rev: number }>;
  private readonly selectByKey: Statement<[string], RunRow>;
  private readonly insertEvent: Statement;
  private readonly lastIndex: Statement<[string], { last: number | null }>;
  private readonly selectReserving: Statement<[string], RunRow>;
  private readonly selectWorker: Statement<[string], { doc: string }>;
  private readonly selectPendingFirst: Statement<Record<string, unknown>, RunRow>;
  private readonly selectPendingAfter: Statement<Record<string, unknown>, RunRow>;
  private readonly selectShapes: Statement<[], { shape: string }>;
  private readonly selectHeld: Statement<[string], HeldRow>;
  private readonly selectCounts: Statement<[], { state: RunState; n: number }>;
  private readonly selectHeldIds: Statement<[string], string>;
  private readonly selectDigest: Statement<[string], { runs: bigint; digest: bigint }>;
  private readonly selectHolders: Statement<[], string>;
  private readonly selectTimedOut: Statement<[number], RunRow>;
  private queuedWrites: QueuedWrite[] = [];
  /** Runs a write inside `flushWrites`' transaction, so as a savepoint of its own. */
  private readonly savepoint: (write: () => unknown) => unknown;

  constructor(
    private readonly db: Database,
    private readonly outbox: SqliteDeliveryStore,
    private readonly versions: OwnVersionBumps,
    /** Told after each commit of this store's writes (the background checkpointer counts them). */
    private readonly committed: () => void = () => {},
  ) {
    this.insertRun =
      db.prepare(`INSERT INTO runs (id, state, priority, created_at, definition_id, worker_id, not_before,
      idempotency_key, rev, cpu_milli, ram_mb, vram_mb, gpu_count, shape, timeout_at, doc)
      VALUES (@id, @state, @priority, @created_at, @definition_id, @worker_id, @not_before,
      @idempotency_key, @rev, @cpu_milli, @ram_mb, @vram_mb, @gpu_count, @shape, @timeout_at, @doc)`);
    this.updateRow = db.prepare(`UPDATE runs SET state = @state, priority = @priority, worker_id = @worker_id,
      not_before = @not_before, rev = @rev, cpu_milli = @cpu_milli, ram_mb = @ram_mb, vram_mb = @vram_mb,
      gpu_count = @gpu_count, shape = @shape, timeout_at = @timeout_at, doc = @doc WHERE id = @id AND rev = @rev - 1`);
    this.selectRun = db.prepare('SELECT doc, rev FROM runs WHERE id = ?');
    this.selectRev = db.prepare('SELECT rev FROM runs WHERE id = ?');
    this.selectByKey = db.prepare('SELECT doc, rev FROM runs WHERE idempotency_key = ?');
    this.insertEvent = db.prepare(`INSERT INTO events (run_id, idx, attempt, type, msg, payload, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.lastIndex = db.prepare('SELECT MAX(idx) AS last FROM events WHERE run_id = ?');
    this.selectReserving = db.prepare(
      `SELECT doc, rev FROM runs WHERE worker_id = ? AND state IN ('ASSIGNED', 'RUNNING')`,
    );
    this.selectWorker = db.prepare('SELECT doc FROM workers WHERE id = ?');
    this.savepoint = db.transaction((write: () => unknown) => write());
    this.selectPendingFirst = db.prepare(pendingSql(''));
    this.selectPendingAfter = db.prepare(
      pendingSql('AND (priority < @p OR (priority = @p AND (created_at > @c OR (created_at = @c AND id > @id))))'),
    );
    this.selectShapes = db.prepare('SELECT shape FROM pending_shapes WHERE pending > 0');
    this.selectHeld = db.prepare(
      'SELECT gpu_id, cpu_milli, ram_mb, vram_mb FROM held WHERE worker_id = ? AND (runs > 0 OR vram_mb > 0)',
    );
    this.selectCounts = db.prepare('SELECT state, n FROM run_counts');
    // A covering index (schema step 5), plucked: thousands of held runs cost one string each.
    this.selectHeldIds = db
      .prepare<[string], string>(
        `SELECT id FROM runs INDEXED BY runs_held WHERE worker_id = ? AND state IN ('ASSIGNED', 'RUNNING')`,
      )
      .pluck();
    // Kept by triggers (schema step 6); 64-bit, so read as BigInt.
    this.selectDigest = db
      .prepare<[string], { runs: bigint; digest: bigint }>(
        'SELECT runs, digest FROM held WHERE worker_id = ? AND gpu_id = -1',
      )
      .safeIntegers(true);
    this.selectHolders = db
      .prepare<[], string>('SELECT worker_id FROM held WHERE gpu_id = -1 AND runs > 0 ORDER BY worker_id')
      .pluck();
    this.selectTimedOut = db.prepare(
      'SELECT doc, rev FROM runs INDEXED BY runs_timeout WHERE timeout_at IS NOT NULL AND timeout_at < ? ORDER BY timeout_at',
    );
  }

  async createRun(transition: Transition, now: Date): Promise<CreatedRun> {
    return this.grouped((): CreatedRun => {
      const key = transition.run.idempotency_key;
      if (key !== undefined) {
        const existing = this.selectByKey.get(key);
        if (existing) return { run: decodeRun(existing.doc, existing.rev), created: false };
      }
      const run = { ...transition.run, rev: 1 };
      this.insertRun.run(this.row(run));
      // A run just inserted has no events yet: its first is index 1, with no MAX(idx) to read.
      this.appendDrafts(run, transition.events, now, 0);
      return { run, created: true };
    });
  }

  /**
   * Writes (creates, saved transitions, appended events) arriving in the same event-loop
   * turn, from concurrent requests, commit together in one IMMEDIATE transaction, each inside
   * its own savepoint so that one failing does not undo the others (unless its error undid
   * the whole transaction: then all of them fail); they run in the order they came. A
   * promise settles only after that COMMIT has returned, so a write that was answered is as
   * durable as one committed alone (WAL, synchronous NORMAL: it survives a crash of the
   * process; an OS crash or power loss can lose the last commits).
   */
  private grouped<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queued: QueuedWrite = { write, resolve: resolve as (value: unknown) => void, reject };
      if (this.queuedWrites.push(queued) === 1) setImmediate(() => this.flushWrites());
    });
  }

  /** Commits the writes waiting for the end of this turn (run then, or now when the store closes). */
  flushWrites(): void {
    const batch = this.queuedWrites;
    if (batch.length === 0) return;
    this.queuedWrites = [];
    const outcomes: Outcome[] = [];
    try {
      // One transaction: each write in its own savepoint, its outcome kept.
      this.versions.write(() => {
        for (const { write } of batch) {
          try {
            outcomes.push({ value: this.savepoint(write) });
          } catch (error) {
            // Some errors (I/O, a full disk, RAISE(ROLLBACK)) undo the whole transaction, not
            // the savepoint: the writes before were undone with it, and the ones after must
            // not run outside it. The batch fails together, with this error.
            if (!this.db.inTransaction) throw error;
            outcomes.push({ error });
          }
        }
      });
    } catch (error) {
      for (const queued of batch) queued.reject(error);
      return;
    }
    this.committed();
    batch.forEach((queued, i) => {
      const outcome = outcomes[i] as Outcome;
      if ('value' in outcome) queued.resolve(outcome.value);
      else queued.reject(outcome.error);
    });
  }

  async getRun(id: string): Promise<OpRun | null> {
    const row = this.selectRun.get(id);
    return row ? decodeRun(row.doc, row.rev) : null;
  }

  async getRunByIdempotencyKey(key: string): Promise<OpRun | null> {
    const row = this.selectByKey.get(key);
    return row ? decodeRun(row.doc, row.rev) : null;
  }

  async listRuns(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const where: string[] = [];
    const params: unknown[] = [];
    const states = statesOf(query.state);
    if (states) {
      where.push(`state IN (${states.map(() => '?').join(', ')})`);
      params.push(...states);
    }
    if (query.definition_id !== undefined) {
      where.push('definition_id = ?');
      params.push(query.definition_id);
    }
    if (query.worker_id !== undefined) {
      where.push('worker_id = ?');
      params.push(query.worker_id);
    }
    if (query.due_before !== undefined) {
      where.push('not_before IS NOT NULL AND not_before <= ?');
      params.push(query.due_before.getTime());
    }
    if (query.created_after !== undefined) {
      where.push('created_at >= ?');
      params.push(query.created_after.getTime());
    }
    if (query.created_before !== undefined) {
      where.push('created_at < ?');
      params.push(query.created_before.getTime());
    }
    if (query.cursor !== undefined) {
      const after = decodeRunCursor(query.cursor);
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(after.created_at.getTime(), after.created_at.getTime(), after.id);
    }
    const sql = `SELECT doc, rev FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], RunRow>(sql).all(...params, limit + 1);
    return runPage(
      rows.map((r) => decodeRun(r.doc, r.rev)),
      limit,
    );
  }

  async saveTransition(transition: Transition, now: Date): Promise<SavedTransition> {
    return this.grouped(() => this.save(transition, now));
  }

  async appendEvents(
    runId: string,
    events: RunEventDraft[],
    now: Date,
    check?: (run: OpRun) => void,
  ): Promise<RunEvent[]> {
    return this.grouped(() => {
      const row = this.selectRun.get(runId);
      if (!row) throw new NotFoundError('run', runId);
      const run = decodeRun(row.doc, row.rev);
      check?.(run);
      return this.appendDrafts(run, events, now);
    });
  }

  async listEvents(runId: string, query: EventQuery = {}): Promise<RunEvent[]> {
    if (!this.selectRev.get(runId)) throw new NotFoundError('run', runId);
    const rows = this.db
      .prepare<[string, number, number], EventRow>(
        'SELECT * FROM events WHERE run_id = ? AND idx > ? ORDER BY idx LIMIT ?',
      )
      .all(runId, query.after ?? 0, query.limit ?? 1000);
    return rows.map(decodeEvent);
  }

  async listReservations(workerId: string): Promise<Reservation[]> {
    return this.reservations(workerId);
  }

  async reservedTotals(workerId: string): Promise<Reservation[]> {
    return this.heldTotals(workerId);
  }

  async listHeldRunIds(workerId: string): Promise<string[]> {
    return this.selectHeldIds.all(workerId);
  }

  /** From the kept held totals (schema step 4): O(workers), no run read. */
  async listHoldingWorkerIds(): Promise<string[]> {
    return this.selectHolders.all();
  }

  /** From the partial index on `timeout_at` (schema step 7): only the runs that are due. */
  async listTimedOutRuns(now: Date): Promise<OpRun[]> {
    return this.selectTimedOut.all(now.getTime()).map((r) => decodeRun(r.doc, r.rev));
  }

  async heldDigest(workerId: string): Promise<string> {
    const row = this.selectDigest.get(workerId);
    return row ? formatHeldDigest(Number(row.runs), row.digest) : EMPTY_HELD_DIGEST;
  }

  /** Kept per state by triggers (schema step 4): flat in the size of the history. */
  async countRunsByState(): Promise<Record<RunState, number>> {
    const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    for (const row of this.selectCounts.all()) if (row.state in counts) counts[row.state] = row.n;
    return counts;
  }

  /**
   * Changes (by trigger) with every run state change and every worker write of another
   * connection: this process's own are left out (`OwnVersionBumps`), it announces them itself.
   */
  async claimVersion(): Promise<number> {
    return this.versions.foreign();
  }

  /**
   * One IMMEDIATE transaction: it holds the database's write lock from the first read, so the
   * worker's reservations and the candidates cannot change under the planner, in this
   * process or any other sharing the file.
   */
  async claimRuns(request: ClaimRequest): Promise<OpRun[]> {
    const runs = this.versions.write((): OpRun[] => {
      const workerRow = this.selectWorker.get(request.worker_id);
      if (!workerRow) throw new NotFoundError('worker', request.worker_id);
      const worker = workerOfRow(this.db, request.worker_id, workerRow.doc);
      if (worker.status !== 'active') throw new WorkerNotActiveError(worker.id);
      const held = { totals: this.heldTotals(worker.id), list: () => this.reservations(worker.id) };
      return planClaim(worker, held, request, (page) => this.pendingPage(page)).map(
        ({ run, gpu_ids }) => this.save(assign(run, { worker_id: worker.id, gpu_ids }, request.now), request.now).run,
      );
    });
    if (runs.length > 0) this.committed();
    return runs;
  }

  /**
   * One page of pending candidates after the last one read so far: the first `size` of each
   * shape that fits, merged in claim order. Shapes that cannot fit are never read, however
   * many of their runs are ahead.
   */
  private pendingPage({ fits, after, size }: CandidatePageRequest): OpRun[] {
    const statement = after ? this.selectPendingAfter : this.selectPendingFirst;
    const keyset = { size, p: after?.priority, c: after?.created_at.getTime(), id: after?.id };
    const pages: OpRun[][] = [];
    for (const { shape } of this.selectShapes.all()) {
      if (!fits(shape)) continue;
      pages.push(statement.all({ ...keyset, shape }).map((r) => decodeRun(r.doc, r.rev)));
    }
    return mergeClaimOrder(pages, size);
  }

  /** What the worker holds, from the totals the triggers keep (schema step 4). */
  private heldTotals(workerId: string): Reservation[] {
    const vram = new Map<number, number>();
    let cpu = 0;
    let ram = 0;
    for (const row of this.selectHeld.all(workerId)) {
      if (row.gpu_id === -1) {
        cpu = row.cpu_milli;
        ram = row.ram_mb;
      } else if (row.vram_mb !== 0) vram.set(row.gpu_id, row.vram_mb);
    }
    return totalsAsReservations({ cpu_milli: cpu, ram_mb: ram, vram_by_gpu: vram });
  }

  private reservations(workerId: string): Reservation[] {
    return this.selectReserving.all(workerId).map((row) => {
      const run = decodeRun(row.doc, row.rev);
      return reservationOf(run.id, run.constraints, run.gpu_ids);
    });
  }

  /** Must run inside a write transaction. */
  private save(transition: Transition, now: Date): SavedTransition {
    const { run } = transition;
    const next = { ...run, rev: run.rev + 1 };
    // Written only at the revision the transition was computed from; otherwise nothing
    // changed, and the revision is read to tell a missing run from a newer one.
    if (this.updateRow.run(this.row(next)).changes === 0) {
      if (!this.selectRev.get(run.id)) throw new NotFoundError('run', run.id);
      throw new ConcurrentModificationError(run.id);
    }
    return { run: next, events: this.appendDrafts(next, transition.events, now) };
  }

  /**
   * Must run inside a write transaction: the next index is read and used under one lock, and
   * the outbox entries of the events (`run` as they leave it) commit with them.
   */
  private appendDrafts(run: OpRun, drafts: readonly RunEventDraft[], now: Date, lastIndex?: number): RunEvent[] {
    const runId = run.id;
    let index = lastIndex ?? this.lastIndex.get(runId)?.last ?? 0;
    const events = drafts.map((draft) => {
      index += 1;
      const event: RunEvent = { ...draft, run_id: runId, index, created_at: now };
      this.insertEvent.run(
        runId,
        index,
        draft.attempt,
        draft.type,
        draft.msg ?? null,
        draft.payload === undefined ? null : JSON.stringify(draft.payload),
        now.getTime(),
      );
      return event;
    });
    this.outbox.writeOutbox(run, events);
    return events;
  }

  private row(run: OpRun) {
    const columns = runColumns(run);
    return {
      ...columns,
      created_at: columns.created_at.getTime(),
      not_before: columns.not_before?.getTime() ?? null,
      timeout_at: timeoutAt(run),
    };
  }
}
