import { randomUUID } from 'node:crypto';
import {
  ConcurrentModificationError,
  NotFoundError,
  type OpRun,
  type Reservation,
  RUN_STATES,
  type RunEvent,
  type RunEventDraft,
  type RunState,
  reservationOf,
  type Transition,
} from '@gyoza/domain';
import {
  type CreatedRun,
  decodeRun,
  decodeRunCursor,
  type EventQuery,
  encodeRun,
  pageSize,
  type RunPage,
  type RunQuery,
  type RunStore,
  runColumns,
  runPage,
  type SavedTransition,
  shapeKey,
  statesOf,
  totalsAsReservations,
} from '@gyoza/store';
import type { Model, QueryFilter } from 'mongoose';
import { deliveryFieldsFor } from './delivery-store';
import { isDuplicateKey } from './errors';
import type { MongoStoreLogger } from './logger';
import { bumpClaimVersion, type ClaimVersionDocument } from './models/claim-version.model';
import type { EventDocument } from './models/event.model';
import type { RevisionDocument } from './models/revision.model';
import type { RunDocument } from './models/run.model';
import { type RunShapeDocument, recordShape } from './models/run-shape.model';

const NULLABLE = ['definition_id', 'worker_id', 'not_before', 'idempotency_key'] as const;

/** Absent optional fields are left out, not stored as null: the idempotency key index is sparse. */
function toDocument(run: OpRun): RunDocument {
  const { id, ...columns } = runColumns(run);
  const doc: Record<string, unknown> = { _id: id };
  for (const [key, value] of Object.entries(columns)) if (value !== null) doc[key] = value;
  return doc as unknown as RunDocument;
}

function toEvent(doc: EventDocument): RunEvent {
  const event: RunEvent = {
    run_id: doc.run_id,
    index: doc.index,
    attempt: doc.attempt,
    type: doc.type as RunEvent['type'],
    created_at: doc.created_at,
  };
  if (doc.msg !== undefined && doc.msg !== null) event.msg = doc.msg;
  if (doc.payload !== undefined && doc.payload !== null) event.payload = JSON.parse(doc.payload);
  return event;
}

/**
 * Runs without transactions, and without trusting conditional updates: FerretDB applies an
 * update as "query, then write by _id", so two writers can both match `{_id, rev}`. The only
 * atomic step relied on is an insert against a unique key. A transition commits by inserting
 * revision `<id>:<rev + 1>` (one writer wins); the `runs` collection is then brought up to date
 * from it, by the writer or by any reader that finds a newer revision. Event indexes are taken
 * the same way, through the unique (run_id, index) key.
 */
export class MongoRunStore implements RunStore {
  constructor(
    private readonly runs: Model<RunDocument>,
    private readonly revisions: Model<RevisionDocument>,
    private readonly events: Model<EventDocument>,
    /** Claim state beside the runs: the shapes runs were created with, the claim version. */
    private readonly claimState: { shapes: Model<RunShapeDocument>; versions: Model<ClaimVersionDocument> },
    private readonly logger: MongoStoreLogger,
    /** Called after an event document carrying a delivery is inserted (wakes this process's sender). */
    private readonly deliveryWritten: () => void = () => {},
  ) {}

  async createRun(transition: Transition, now: Date): Promise<CreatedRun> {
    const key = transition.run.idempotency_key;
    if (key !== undefined) {
      const existing = await this.runs.findOne({ idempotency_key: key }).lean();
      if (existing) return { run: decodeRun(existing.doc, existing.rev), created: false };
    }
    const run = { ...transition.run, rev: 1 };
    // The shape first: a claim must never miss a pending run because its shape is not listed.
    await recordShape(this.claimState.shapes, shapeKey(run.constraints));
    try {
      await this.runs.create(toDocument(run));
    } catch (error) {
      if (key === undefined || !isDuplicateKey(error)) throw error;
      // Another request with the same key won the insert.
      const winner = await this.runs.findOne({ idempotency_key: key }).lean();
      if (!winner) throw error;
      return { run: decodeRun(winner.doc, winner.rev), created: false };
    }
    await this.insertEvents(run, transition.events, now, run.rev, 1);
    await bumpClaimVersion(this.claimState.versions, run.state === 'PENDING');
    return { run, created: true };
  }

  /** The newest committed revision: a revision not yet applied to `runs` is applied first. */
  async getRun(id: string): Promise<OpRun | null> {
    const doc = await this.runs.findById(id).lean();
    if (!doc) return null;
    let run = decodeRun(doc.doc, doc.rev);
    for (;;) {
      const newer = await this.revisions.findById(`${id}:${run.rev + 1}`).lean();
      if (!newer) return run;
      // Normally a writer between its two steps; after a crash, this is the repair.
      this.logger.debug({ run_id: id, rev: newer.rev }, 'applying a committed revision found unapplied');
      await this.apply(newer);
      run = decodeRun(newer.doc, newer.rev);
    }
  }

  /**
   * Brings these runs up to their newest committed revisions. Point reads by id: FerretDB
   * pushes `_id` equality down but scans the collection for `$in`.
   */
  async settle(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.getRun(id)));
  }

  async listRuns(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const filter: QueryFilter<RunDocument> = {};
    const states = statesOf(query.state);
    if (states) filter.state = { $in: states };
    if (query.definition_id !== undefined) filter.definition_id = query.definition_id;
    if (query.worker_id !== undefined) filter.worker_id = query.worker_id;
    if (query.due_before !== undefined) filter.not_before = { $ne: null, $lte: query.due_before };
    if (query.cursor !== undefined) {
      const after = decodeRunCursor(query.cursor);
      filter.$or = [
        { created_at: { $lt: after.created_at } },
        { created_at: after.created_at, _id: { $lt: after.id } },
      ];
    }
    const docs = await this.runs
      .find(filter)
      .sort({ created_at: -1, _id: -1 })
      .limit(limit + 1)
      .lean();
    return runPage(
      docs.map((d) => decodeRun(d.doc, d.rev)),
      limit,
    );
  }

  async saveTransition(transition: Transition, now: Date): Promise<SavedTransition> {
    if (!(await this.runs.exists({ _id: transition.run.id }))) throw new NotFoundError('run', transition.run.id);
    const saved = await this.commit(transition, now);
    if (!saved) throw new ConcurrentModificationError(transition.run.id);
    return saved;
  }

  async appendEvents(runId: string, events: RunEventDraft[], now: Date): Promise<RunEvent[]> {
    // getRun, not a bare existence check: a committed transition's events go in first.
    const run = await this.getRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    return this.insertEvents(run, events, now);
  }

  async listEvents(runId: string, query: EventQuery = {}): Promise<RunEvent[]> {
    if (!(await this.getRun(runId))) throw new NotFoundError('run', runId);
    const docs = await this.events
      .find({ run_id: runId, index: { $gt: query.after ?? 0 } })
      .sort({ index: 1 })
      .limit(query.limit ?? 1000)
      .lean();
    return docs.map(toEvent);
  }

  async listReservations(workerId: string): Promise<Reservation[]> {
    const docs = await this.runs.find({ worker_id: workerId, state: { $in: ['ASSIGNED', 'RUNNING'] } }).lean();
    return docs.map((d) => {
      const run = decodeRun(d.doc, d.rev);
      return reservationOf(run.id, run.constraints, run.gpu_ids);
    });
  }

  async reservedTotals(workerId: string): Promise<Reservation[]> {
    let cpu = 0;
    let ram = 0;
    const vram = new Map<number, number>();
    for (const r of await this.listReservations(workerId)) {
      cpu += Math.round(r.cpu_cores * 1000);
      ram += r.ram_mb;
      for (const id of r.gpu_ids) vram.set(id, (vram.get(id) ?? 0) + r.vram_mb);
    }
    return totalsAsReservations({ cpu_milli: cpu, ram_mb: ram, vram_by_gpu: vram });
  }

  async listHeldRunIds(workerId: string): Promise<string[]> {
    const docs = await this.runs
      .find({ worker_id: workerId, state: { $in: ['ASSIGNED', 'RUNNING'] } }, { _id: 1 })
      .lean();
    return docs.map((d) => String(d._id));
  }

  async countRunsByState(): Promise<Record<RunState, number>> {
    const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    const rows = await this.runs.aggregate<{ _id: RunState; n: number }>([
      { $group: { _id: '$state', n: { $sum: 1 } } },
    ]);
    for (const row of rows) counts[row._id] = row.n;
    return counts;
  }

  /**
   * Fills in `shape` on runs stored before it was kept (and lists their shapes); at open.
   * Cheap once done: the query then finds nothing.
   */
  async backfillShapes(): Promise<void> {
    for (const d of await this.runs.find({ shape: { $exists: false } }, { doc: 1, rev: 1 }).lean()) {
      const shape = shapeKey(decodeRun(d.doc, d.rev).constraints);
      await recordShape(this.claimState.shapes, shape);
      await this.runs.updateOne({ _id: d._id, shape: { $exists: false } }, { $set: { shape } });
    }
  }

  /**
   * Inserts revision rev + 1 (fails, returning null, if another writer has it), then applies
   * it. Shared with the claim store, whose assignments commit the same way.
   */
  async commit(transition: Transition, now: Date): Promise<SavedTransition | null> {
    await this.finishEventsOf(transition.run);
    const next = { ...transition.run, rev: transition.run.rev + 1 };
    const revision: RevisionDocument = {
      _id: `${next.id}:${next.rev}`,
      run_id: next.id,
      rev: next.rev,
      doc: encodeRun(next),
      events: JSON.stringify(transition.events),
      created_at: now,
    };
    try {
      await this.revisions.create(revision);
    } catch (error) {
      if (isDuplicateKey(error)) return null;
      throw error;
    }
    const events = await this.apply(revision);
    // FerretDB writes an update as "query, then write by _id", so this write can land after a
    // newer revision's and put `runs` back. Only a writer that raced a newer revision can, and
    // it is the one to see that revision: then `runs` is brought forward again (as getRun
    // does after each revision it applies).
    if (await this.revisions.exists({ _id: `${next.id}:${next.rev + 1}` })) await this.getRun(next.id);
    return { run: next, events };
  }

  /**
   * Idempotent: brings `runs` up to the revision (not back, where updates are atomic; see
   * `commit` for FerretDB), then records its events once. `runs` first keeps the moment a
   * committed revision is not yet in `runs` short (readers repair it then); the events a
   * reader of `runs` may build on before they are in are finished by the next `commit`.
   */
  private async apply(revision: RevisionDocument): Promise<RunEvent[]> {
    const run = decodeRun(revision.doc, revision.rev);
    const { _id, ...fields } = toDocument(run);
    const cleared = Object.fromEntries(NULLABLE.filter((key) => !(key in fields)).map((key) => [key, 1]));
    await this.runs.updateOne(
      { _id, rev: { $lt: revision.rev } },
      { $set: fields, ...(Object.keys(cleared).length ? { $unset: cleared } : {}) },
    );
    // After `runs` shows the revision, so a woken claim reads it.
    await bumpClaimVersion(this.claimState.versions, run.state === 'PENDING');
    return this.insertEvents(run, JSON.parse(revision.events), revision.created_at, revision.rev);
  }

  /**
   * The events of the revision `run` is at, written if its writer has not yet: a writer can
   * build on a revision as soon as `runs` shows it, before its events are in (or after its
   * writer died between the steps), and the events of the revision it commits must come
   * after them. Without this a claim could assign, and the worker start, a run whose
   * WORKER_LOST or UNASSIGNED was written later: two STARTED with no end between.
   */
  private async finishEventsOf(run: OpRun): Promise<void> {
    if (run.rev < 2) return;
    const revision = await this.revisions.findById(`${run.id}:${run.rev}`).lean();
    const drafts: RunEventDraft[] = revision ? JSON.parse(revision.events) : [];
    if (!revision || drafts.length === 0) return;
    if (await this.events.exists({ _id: `${run.id}:${run.rev}:${drafts.length - 1}` })) return;
    await this.insertEvents(decodeRun(revision.doc, revision.rev), drafts, revision.created_at, revision.rev);
  }

  /**
   * Each event takes the next free index; the unique key turns a race into a retry. Events of
   * a revision have fixed ids, so a second application finds them instead of adding copies.
   * `next` is a guess that can only be too low (then the insert collides and the last index is
   * read), never too high, so indexes stay gap-free: 1 for a run just created, and after each
   * insert the index after it. Each event document carries its outbox delivery (`run` as the
   * events leave it), so the insert that stores the event stores its delivery.
   */
  private async insertEvents(
    run: OpRun,
    drafts: readonly RunEventDraft[],
    now: Date,
    rev?: number,
    guess?: number,
  ): Promise<RunEvent[]> {
    const runId = run.id;
    const inserted: RunEvent[] = [];
    let next = guess;
    for (const [n, draft] of drafts.entries()) {
      const id = rev === undefined ? randomUUID() : `${runId}:${rev}:${n}`;
      for (;;) {
        if (next === undefined) {
          const last = await this.events.findOne({ run_id: runId }, { index: 1 }).sort({ index: -1 }).lean();
          next = (last?.index ?? 0) + 1;
        }
        const doc: EventDocument = {
          _id: id,
          run_id: runId,
          index: next,
          attempt: draft.attempt,
          type: draft.type,
          msg: draft.msg ?? null,
          payload: draft.payload === undefined ? null : JSON.stringify(draft.payload),
          created_at: now,
        };
        const delivery = deliveryFieldsFor(run, toEvent(doc));
        if (delivery) doc.delivery = delivery;
        try {
          await this.events.create(doc);
          if (delivery) this.deliveryWritten();
          inserted.push(toEvent(doc));
          next += 1;
          break;
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
          next = undefined;
          const existing = await this.events.findById(id).lean();
          if (existing) {
            inserted.push(toEvent(existing));
            break;
          }
        }
      }
    }
    return inserted;
  }
}
