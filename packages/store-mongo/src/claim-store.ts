import { randomUUID } from 'node:crypto';
import { assign, NotFoundError, type OpRun, WorkerNotActiveError } from '@gyoza/domain';
import {
  type CandidatePageRequest,
  type ClaimRequest,
  type ClaimStore,
  decodeRun,
  decodeWorker,
  type LeaseStore,
  planClaimAsync,
} from '@gyoza/store';
import type { Model, QueryFilter } from 'mongoose';
import type { MongoStoreLogger } from './logger';
import type { ClaimIntentDocument } from './models/claim-intent.model';
import { type ClaimVersionDocument, readClaimVersion } from './models/claim-version.model';
import type { RunDocument } from './models/run.model';
import type { RunShapeDocument } from './models/run-shape.model';
import type { WorkerDocument } from './models/worker.model';
import type { MongoRunStore } from './run-store';

/** Long enough for any claim to finish; only a crashed claimer makes others wait this out. */
const CLAIM_LOCK_TTL_MS = 10_000;

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Claims without transactions. Claims for one worker run one at a time (a short per-worker
 * lease), so its reservations cannot change between reading them and assigning; claims of
 * different workers never share reservations and race only on the runs themselves, where the
 * revision insert of each assignment lets exactly one claimer win.
 */
export class MongoClaimStore implements ClaimStore {
  constructor(
    private readonly runs: Model<RunDocument>,
    private readonly workers: Model<WorkerDocument>,
    private readonly intents: Model<ClaimIntentDocument>,
    private readonly runStore: MongoRunStore,
    private readonly leases: LeaseStore,
    private readonly claimState: { shapes: Model<RunShapeDocument>; versions: Model<ClaimVersionDocument> },
    private readonly logger: MongoStoreLogger,
  ) {}

  /** Heads of the queue by fitting shapes, shared by this process's claims. */
  private readonly heads = new Map<string, PendingHead>();
  /** Per worker: the last claim (lock holder id) this process finished, all its commits applied. */
  private readonly finished = new Map<string, string>();
  /** Runs a claim of this process is committing: the others leave them alone. */
  private readonly inFlight = new Set<string>();

  /** The claim version document: moved by every run creation, applied transition and worker write. */
  async claimVersion(): Promise<number> {
    return (await readClaimVersion(this.claimState.versions)).version;
  }

  async claimRuns(request: ClaimRequest): Promise<OpRun[]> {
    const workerDoc = await this.workers.findById(request.worker_id).lean();
    if (!workerDoc) throw new NotFoundError('worker', request.worker_id);
    const worker = decodeWorker(workerDoc.doc);
    if (worker.status !== 'active') throw new WorkerNotActiveError(worker.id);

    const lock = `claim:${worker.id}`;
    const holder = randomUUID();
    // The lock lives on the wall clock, not the request's clock: it guards real concurrency.
    for (let wait = 2; !(await this.leases.acquireLease(lock, holder, CLAIM_LOCK_TTL_MS, new Date())); ) {
      await sleep(wait);
      wait = Math.min(wait * 2, 50);
    }
    try {
      // The intent left by a claim this process finished needs no settling: its commits were
      // applied before it returned. Any other is settled, and the reservations read again.
      let [intent, reservations] = await Promise.all([
        this.intents.findById(worker.id).lean(),
        this.runStore.listReservations(worker.id),
      ]);
      if (intent && (intent.holder === undefined || intent.holder !== this.finished.get(worker.id))) {
        await this.runStore.settle(intent.run_ids);
        reservations = await this.runStore.listReservations(worker.id);
      }
      const held = { totals: reservations, list: () => reservations };
      // Runs this claim lost to other writers: concurrent claimers read the same head of the
      // queue, so a claim that lost every choice plans again without them.
      const lost: string[] = [];
      for (let attempt = 1; ; attempt++) {
        const accepted = await planClaimAsync(worker, held, request, (page) => this.pendingPage(page, lost));
        if (accepted.length === 0) return [];
        // Before the next await, so this process's other claims plan without them.
        for (const { run } of accepted) this.inFlight.add(run.id);
        const claimed: OpRun[] = [];
        try {
          await this.intents.updateOne(
            { _id: worker.id },
            { $set: { run_ids: accepted.map((c) => c.run.id), updated_at: request.now, holder } },
            { upsert: true },
          );
          for (const { run, gpu_ids } of accepted) {
            const saved = await this.runStore.commit(
              assign(run, { worker_id: worker.id, gpu_ids }, request.now),
              request.now,
            );
            this.taken(run.id);
            // A miss: another claim or a transition (cancel) changed the run since it was read.
            if (saved) claimed.push(saved.run);
            else {
              lost.push(run.id);
              this.logger.debug({ run_id: run.id, worker_id: worker.id }, 'claim lost a run to another writer');
            }
          }
        } finally {
          for (const { run } of accepted) this.inFlight.delete(run.id);
        }
        // Every revision this claim won is applied (commit applies before it returns).
        this.finished.set(worker.id, holder);
        // Nothing was assigned, so the reservations read above still hold (or are larger than
        // what the worker holds, if another writer freed some meanwhile: safe).
        if (claimed.length > 0 || attempt >= CLAIM_ATTEMPTS) return claimed;
      }
    } finally {
      await this.leases.releaseLease(lock, holder);
    }
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
  private async pendingPage({ fits, after, size }: CandidatePageRequest, lost: readonly string[]): Promise<OpRun[]> {
    const [shapes, { pending }] = await Promise.all([
      this.claimState.shapes.find({}, { _id: 1 }).lean(),
      readClaimVersion(this.claimState.versions),
    ]);
    const fitting = shapes.map((d) => String(d._id)).filter((shape) => fits(shape));
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
