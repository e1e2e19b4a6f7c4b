import { applyHeartbeat, type Heartbeat, type Worker, type WorkerStatus } from '@gyoza/domain';
import { decodeWorker, encodeWorker, type WorkerStore } from '@gyoza/store';
import type { Model } from 'mongoose';
import type { ClaimVersions } from './models/claim-version.model';
import { type TokenDocument, takeToken } from './models/token.model';
import type { WorkerDocument } from './models/worker.model';

export class MongoWorkerStore implements WorkerStore {
  constructor(
    private readonly workers: Model<WorkerDocument>,
    private readonly tokens: Model<TokenDocument>,
    private readonly versions: ClaimVersions,
    /** The ids of the runs a worker holds (`RunStore.listHeldRunIds`). */
    private readonly heldRunIds: (workerId: string) => Promise<string[]>,
  ) {}

  async heartbeat(heartbeat: Heartbeat, now: Date): Promise<Worker> {
    const existing = await this.workers.findById(heartbeat.worker_id).lean();
    // Without running_ops the worker runs what it holds here (its held digest matched): the
    // ids are copied as they are now, the store contract's "at this heartbeat".
    const listed = heartbeat.running_ops ?? (await this.heldRunIds(heartbeat.worker_id));
    const worker = applyHeartbeat(
      existing ? decodeWorker(existing.doc) : null,
      { ...heartbeat, running_ops: listed },
      now,
    );
    await this.workers.updateOne(
      { _id: worker.id },
      { $set: { status: worker.status, last_heartbeat_at: worker.last_heartbeat_at, doc: encodeWorker(worker) } },
      { upsert: true },
    );
    // Capacity, tags or status may have changed: waiting claims look again.
    await this.versions.bump();
    return worker;
  }

  async getWorker(id: string): Promise<Worker | null> {
    const doc = await this.workers.findById(id).lean();
    return doc ? decodeWorker(doc.doc) : null;
  }

  async listWorkers(status?: WorkerStatus): Promise<Worker[]> {
    const docs = await this.workers
      .find(status === undefined ? {} : { status })
      .sort({ _id: 1 })
      .lean();
    return docs.map((d) => decodeWorker(d.doc));
  }

  /**
   * One eviction per silence: the token names the last heartbeat, so of several reapers only
   * one evicts (FerretDB does not apply conditional updates atomically), and a worker that
   * heartbeats again can be evicted again later.
   */
  async evictWorker(id: string, silentSince: Date, now: Date): Promise<boolean> {
    const doc = await this.workers
      .findOne({ _id: id, status: 'active', last_heartbeat_at: { $lt: silentSince } })
      .lean();
    if (!doc) return false;
    // A reaper that took the token a whole silence ago and never evicted has died.
    const token = `evict:${id}:${doc.last_heartbeat_at.getTime()}`;
    if (!(await takeToken(this.tokens, token, now, silentSince))) return false;
    const evicted: Worker = { ...decodeWorker(doc.doc), status: 'evicted', evicted_at: now };
    const result = await this.workers.updateOne(
      { _id: id, status: 'active', last_heartbeat_at: doc.last_heartbeat_at },
      { $set: { status: 'evicted', doc: encodeWorker(evicted) } },
    );
    if (result.matchedCount === 1) await this.versions.bump();
    return result.matchedCount === 1;
  }
}
