import { randomUUID } from 'node:crypto';
import {
  assign,
  NotFoundError,
  type OpRun,
  type Reservation,
  reservationOf,
  type Worker,
  WorkerNotActiveError,
} from '@gyoza/domain';
import {
  type CandidatePageRequest,
  type ClaimRequest,
  type ClaimStore,
  decodeRun,
  decodeWorker,
  planClaimAsync,
} from '@gyoza/store';
import type { Model, QueryFilter } from 'mongoose';
import { keepLease } from './lease-keeper';
import type { MongoLeaseStore } from './lease-store';
import type { MongoStoreLogger } from './logger';
import type { ClaimIntentDocument } from './models/claim-intent.model';
import type { ClaimVersions } from './models/claim-version.model';
import type { RunDocument } from './models/run.model';
import type { RunShapeDocument } from './models/run-shape.model';
import type { WorkerDocument } from './models/worker.model';
import type { MongoRunStore } from './run-store';

/**
 * The claim lock's TTL: a batch renews it every third of that while it runs (`keepLease`), so
 * a crashed claimer makes the others wait this out at most, however long batches take.
 */
const CLAIM_LOCK_TTL_MS = 3000;

/**
 * The one lock claim batches of every process take. Claims for one worker must not run side
 * by side (each reads the worker's reservations, then assigns); a batch holds the claims of
 * many workers, so one lock per batch costs less than one per worker.
 */
const CLAIM_LOCK = 'claims';

/** A claim whose every choice went to other writers plans again, at most this many times. */
const CLAIM_ATTEMPTS = 4;

/** How many pending runs a head read keeps for this process's next claims. */
const HEAD_SIZE = 64;
/** A head is read again after this long even if the claim version says nothing entered PENDING. */
const HEAD_MAX_AGE_MS = 1000;

/**
 * The first pending runs in claim order (of one set of fitting shapes) as read when the claim
 * version's `pending` was `pending`. Until that moves, nothing has entered PENDING, so these
 * less the runs taken since are still the head of the queue: claims serve their first page
 * from it, and a run someone else took only costs the revision insert that loses it.
 */
interface PendingHead {
  pending: number;
  readAt: number;
  runs: OpRun[];
}

/** A claim waiting for its batch. */
interface Waiting {
  request: ClaimRequest;
  resolve: (runs: OpRun[]) => void;
  reject: (error: unknown) => void;
}

/** One claim inside a batch: its worker, what it won, what it lost, how often it planned. */
interface BatchClaim extends Waiting {
  worker: Worker;
  claimed: OpRun[];
  lost: string[];
  attempts: number;
}

/** What a batch reads once for all its claims: the shapes runs were created with, the version. */
interface BatchState {
  shapes: string[];
  pending: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Another batch took the claim lock while this one planned. */
class ClaimLockLost extends Error {}

/**
 * Claims without transactions, in batches: the claims that arrive while a batch is running
 * wait and form the next one (one batch at a time per process). A batch takes one lock shared
 * by every process (so no worker's reservations change between reading and assigning), reads
 * the workers, their intents and reservations, the shapes and the claim version once, plans
 * each claim in arrival order (each worker's own capacity, less what its earlier claims in the
 * batch took), and commits all assignments together (`MongoRunStore.commitGrouped`), where the
 * revision insert of each lets exactly one claimer win a run.
 */
export class MongoClaimStore implements ClaimStore {
  constructor(
    private readonly runs: Model<RunDocument>,
    private readonly workers: Model<WorkerDocument>,
    private readonly intents: Model<ClaimIntentDocument>,
    private readonly runStore: MongoRunStore,
    private readonly leases: MongoLeaseStore,
    private readonly claimState: { shapes: Model<RunShapeDocument>; versions: ClaimVersions },
    private readonly logger: MongoStoreLogger,
  ) {}

  /** Heads of the queue by fitting shapes, shared by this process's claims. */
  private readonly heads = new Map<string, PendingHead>();
  /** Per worker: the last claim batch (lock holder id) this process finished, all its commits applied. */
  private readonly finished = new Map<string, string>();
  /** Runs a claim of this process is committing: the others leave them alone. */
  private readonly inFlight = new Set<string>();
  /** Claims waiting for the next batch. */
  private waiting: Waiting[] = [];
  /** Whether a batch is running (the next one starts when it ends). */
  private running = false;

  /** Moved by every run creation, applied transition and worker write of the other connections. */
  async claimVersion(): Promise<number> {
    return (await this.claimState.versions.read()).foreign;
  }

  claimRuns(request: ClaimRequest): Promise<OpRun[]> {
    return new Promise<OpRun[]>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Next turn: claims started in this one join the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Runs batches until no claim waits. */
  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        await this.runBatch(batch);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.running = false;
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    const ids = [...new Set(batch.map((w) => w.request.worker_id))];
    const workerDocs = await this.workers.find({ _id: { $in: ids } }).lean();
    const workers = new Map(workerDocs.map((d) => [String(d._id), decodeWorker(d.doc)]));
    const claims: BatchClaim[] = [];
    for (const w of batch) {
      const worker = workers.get(w.request.worker_id);
      if (!worker) w.reject(new NotFoundError('worker', w.request.worker_id));
      else if (worker.status !== 'active') w.reject(new WorkerNotActiveError(worker.id));
      else claims.push({ ...w, worker, claimed: [], lost: [], attempts: 0 });
    }
    if (claims.length === 0) return;
    const active = [...new Set(claims.map((c) => c.worker.id))];

    const holder = randomUUID();
    // The lock lives on the wall clock, not the request's clock: it guards real concurrency.
    for (let wait = 2; !(await this.leases.acquireLease(CLAIM_LOCK, holder, CLAIM_LOCK_TTL_MS, new Date())); ) {
      await sleep(wait);
      wait = Math.min(wait * 2, 50);
    }
    const kept = keepLease(this.leases, { name: CLAIM_LOCK, holder, ttlMs: CLAIM_LOCK_TTL_MS }, this.logger);
    try {
      const [intents, reservations, shapes, version] = await Promise.all([
        this.intents.find({ _id: { $in: active } }).lean(),
        this.runStore.reservationsOf(active),
        this.claimState.shapes.find({}, { _id: 1 }).lean(),
        this.claimState.versions.read(),
      ]);
      // The intent left by a claim batch this process finished needs no settling: its commits
      // were applied before it returned. Any other is settled and fenced (its claimer may be
      // stalled, not dead, and commit after us), and its worker's reservations read again.
      const unsettled = intents.filter((i) => i.holder === undefined || i.holder !== this.finished.get(String(i._id)));
      if (unsettled.length > 0) {
        await this.runStore.settleAndFence(
          unsettled.flatMap((i) => i.run_ids),
          new Date(),
        );
        for (const intent of unsettled) {
          const id = String(intent._id);
          reservations.set(id, await this.runStore.listReservations(id));
        }
      }
      const state: BatchState = { shapes: shapes.map((d) => String(d._id)), pending: version.pending };
      let open = claims;
      while (open.length > 0) {
        try {
          await this.planAndCommit(open, reservations, state, holder);
        } catch (error) {
          // Each claim answers what it won before; the worker asks again.
          if (error instanceof ClaimLockLost) break;
          throw error;
        }
        // A claim that lost every choice plans again without them (concurrent claimers of
        // other processes read the same head of the queue).
        open = open.filter((c) => c.claimed.length === 0 && c.lost.length > 0 && c.attempts < CLAIM_ATTEMPTS);
      }
      for (const id of active) this.finished.set(id, holder);
      for (const c of claims) c.resolve(c.claimed);
    } finally {
      await kept.stop();
      await this.leases.releaseLease(CLAIM_LOCK, holder);
    }
  }

  /**
   * Plans each claim in order (a worker's later claims see what its earlier ones took), then
   * writes the intents and commits every assignment together.
   */
  private async planAndCommit(
    claims: BatchClaim[],
    reservations: Map<string, Reservation[]>,
    state: BatchState,
    holder: string,
  ): Promise<void> {
    const planned: { claim: BatchClaim; run: OpRun; gpu_ids: number[] }[] = [];
    try {
      for (const claim of claims) {
        claim.attempts += 1;
        const list = reservations.get(claim.worker.id) ?? [];
        const held = { totals: list, list: () => list };
        const accepted = await planClaimAsync(claim.worker, held, claim.request, (page) =>
          this.pendingPage(page, claim.lost, state),
        );
        for (const { run, gpu_ids } of accepted) {
          this.inFlight.add(run.id);
          planned.push({ claim, run, gpu_ids });
          // Counted while the batch plans its other claims; taken back below if the run is lost.
          list.push(reservationOf(run.id, run.constraints, gpu_ids));
        }
      }
      if (planned.length === 0) return;
      const byWorker = new Map<string, string[]>();
      for (const { claim, run } of planned)
        byWorker.set(claim.worker.id, [...(byWorker.get(claim.worker.id) ?? []), run.id]);
      const now = claims[0].request.now;
      await this.intents.bulkWrite(
        [...byWorker].map(([id, runIds]) => ({
          updateOne: {
            filter: { _id: id },
            update: { $set: { run_ids: runIds, updated_at: now, holder } },
            upsert: true,
          },
        })),
        { ordered: false },
      );
      // The intents are written: from here a batch that takes the lock after ours fences these
      // runs. Before it, one may have taken it already (this process stalled past the lock's
      // TTL, its renewals with it): then nothing of this plan is committed.
      if (!(await this.leases.holdsLease(CLAIM_LOCK, holder))) {
        this.logger.warn({ holder }, 'the claim lock was taken while this batch planned; its plan is dropped');
        throw new ClaimLockLost();
      }
      const saved = await this.runStore.commitGrouped(
        planned.map(({ claim, run, gpu_ids }) => ({
          transition: assign(run, { worker_id: claim.worker.id, gpu_ids }, claim.request.now),
          now: claim.request.now,
        })),
      );
      const lost: string[] = [];
      for (const [i, { claim, run }] of planned.entries()) {
        this.taken(run.id);
        const won = saved[i];
        if (won) {
          claim.claimed.push(won.run);
          continue;
        }
        // A miss: another claim or a transition (cancel) changed the run since it was read.
        // Its reservation goes: the worker does not hold it, a re-plan must see the room.
        claim.lost.push(run.id);
        lost.push(run.id);
        const list = reservations.get(claim.worker.id) ?? [];
        const at = list.findIndex((r) => r.run_id === run.id);
        if (at >= 0) list.splice(at, 1);
        this.logger.debug({ run_id: run.id, worker_id: claim.worker.id }, 'claim lost a run to another writer');
      }
      if (lost.length > 0) await this.afterLosses(lost);
    } finally {
      for (const { run } of planned) this.inFlight.delete(run.id);
    }
  }

  /**
   * The heads served runs that had left PENDING (a cancel or another process's claim does not
   * move the claim version): they are read again. Reading the lost runs applies a revision
   * committed but never applied (its writer died), so they are not read as PENDING again; a
   * failure to, after the batch won what it won, is only logged (the next reader repairs).
   */
  private async afterLosses(runIds: string[]): Promise<void> {
    this.heads.clear();
    await Promise.all(
      runIds.map((id) =>
        this.runStore.getRun(id).catch((error: unknown) => {
          this.logger.warn({ err: error, run_id: id }, 'reading a run a claim lost failed');
        }),
      ),
    );
  }

  /** A run left PENDING (or was found not to be): no head serves it again. */
  private taken(runId: string): void {
    for (const head of this.heads.values()) {
      const at = head.runs.findIndex((r) => r.id === runId);
      if (at >= 0) head.runs.splice(at, 1);
    }
  }

  /**
   * Pending runs in claim order after `after`, of the shapes that fit (`run_shapes` lists
   * them), less `lost` and the runs other claims of this process are committing. The first
   * page comes from this process's head of the queue while the claim version says nothing
   * entered PENDING since it was read; other pages walk the (state, shape, priority desc,
   * created_at, _id) index, so the cost follows the page, not the backlog of other shapes.
   */
  private async pendingPage(
    { fits, after, size }: CandidatePageRequest,
    lost: readonly string[],
    { shapes, pending }: BatchState,
  ): Promise<OpRun[]> {
    const fitting = shapes.filter((shape) => fits(shape));
    if (fitting.length === 0) return [];
    const skip = new Set([...lost, ...this.inFlight]);
    const key = fitting.join('\n');
    if (!after) {
      const head = this.heads.get(key);
      if (head && head.pending === pending && Date.now() - head.readAt < HEAD_MAX_AGE_MS) {
        const runs = head.runs.filter((r) => !skip.has(r.id));
        if (runs.length >= size) return runs.slice(0, size);
      }
    }
    const filter: QueryFilter<RunDocument> = {
      state: 'PENDING',
      shape: fitting.length === 1 ? fitting[0] : { $in: fitting },
    };
    if (skip.size > 0) filter._id = { $nin: [...skip] };
    if (after) {
      filter.$or = [
        { priority: { $lt: after.priority } },
        { priority: after.priority, created_at: { $gt: after.created_at } },
        { priority: after.priority, created_at: after.created_at, _id: { $gt: after.id } },
      ];
    }
    const read = after ? size : Math.max(size, HEAD_SIZE);
    const docs = await this.runs
      .find(filter)
      .sort({ state: 1, priority: -1, created_at: 1, _id: 1 })
      .limit(read)
      .lean();
    const runs = docs.map((d) => decodeRun(d.doc, d.rev));
    // The head less runs being committed here or lost: those are leaving PENDING (a lost run
    // that stayed PENDING moved the version), so no pending run of these shapes missing from
    // it comes before its last.
    if (!after) {
      if (this.heads.size >= 32) this.heads.clear();
      this.heads.set(key, { pending, readAt: Date.now(), runs: [...runs] });
    }
    return runs.slice(0, size);
  }
}
