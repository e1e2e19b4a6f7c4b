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
import type { RunDocument } from './models/run.model';
import type { WorkerDocument } from './models/worker.model';
import type { MongoRunStore } from './run-store';

/** Long enough for any claim to finish; only a crashed claimer makes others wait this out. */
const CLAIM_LOCK_TTL_MS = 10_000;

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
    private readonly logger: MongoStoreLogger,
  ) {}

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
      const intent = await this.intents.findById(worker.id).lean();
      if (intent) await this.runStore.settle(intent.run_ids);
      const reservations = await this.runStore.listReservations(worker.id);
      const held = { totals: reservations, list: () => reservations };
      const accepted = await planClaimAsync(worker, held, request, (page) => this.pendingPage(page));
      if (accepted.length === 0) return [];
      await this.intents.updateOne(
        { _id: worker.id },
        { $set: { run_ids: accepted.map((c) => c.run.id), updated_at: request.now } },
        { upsert: true },
      );
      const claimed: OpRun[] = [];
      for (const { run, gpu_ids } of accepted) {
        const saved = await this.runStore.commit(
          assign(run, { worker_id: worker.id, gpu_ids }, request.now),
          request.now,
        );
        // A miss: another claim or a transition (cancel) changed the run since it was read.
        if (saved) claimed.push(saved.run);
        else this.logger.debug({ run_id: run.id, worker_id: worker.id }, 'claim lost a run to another writer');
      }
      return claimed;
    } finally {
      await this.leases.releaseLease(lock, holder);
    }
  }

  /**
   * Pending runs in claim order after `after`, skipping those that cannot fit at all; walks
   * the (state, priority desc, created_at, _id) index, so the cost follows the page, not the backlog.
   */
  private async pendingPage({ bounds, after, size }: CandidatePageRequest): Promise<OpRun[]> {
    const filter: QueryFilter<RunDocument> = {
      state: 'PENDING',
      cpu_milli: { $lte: bounds.cpu_milli },
      ram_mb: { $lte: bounds.ram_mb },
      gpu_count: { $lte: bounds.gpu_count },
      vram_mb: { $lte: bounds.vram_mb },
    };
    if (after) {
      filter.$or = [
        { priority: { $lt: after.priority } },
        { priority: after.priority, created_at: { $gt: after.created_at } },
        { priority: after.priority, created_at: after.created_at, _id: { $gt: after.id } },
      ];
    }
    const docs = await this.runs
      .find(filter)
      .sort({ state: 1, priority: -1, created_at: 1, _id: 1 })
      .limit(size)
      .lean();
    return docs.map((d) => decodeRun(d.doc, d.rev));
  }
}
