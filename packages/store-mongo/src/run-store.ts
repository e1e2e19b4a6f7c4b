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
import type { ClaimVersions } from './models/claim-version.model';
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
  else if (doc.msg_json !== undefined) event.msg = JSON.parse(doc.msg_json);
  if (doc.payload !== undefined && doc.payload !== null) event.payload = JSON.parse(doc.payload);
  return event;
}

/** Revision rev + 1 of the transition's run: inserting it is the transition's compare-and-set. */
function revisionOf(transition: Transition, now: Date): RevisionDocument {
  const next = { ...transition.run, rev: transition.run.rev + 1 };
  return {
    _id: `${next.id}:${next.rev}`,
    run_id: next.id,
    rev: next.rev,
    doc: encodeRun(next),
    events: JSON.stringify(transition.events),
    created_at: now,
  };
}

/** The write that brings `runs` up to `run`'s revision (never back, where updates are atomic). */
function applyUpdate(run: OpRun): { filter: Record<string, unknown>; update: Record<string, unknown> } {
  const { _id, ...fields } = toDocument(run);
  const cleared = Object.fromEntries(NULLABLE.filter((key) => !(key in fields)).map((key) => [key, 1]));
  return {
    filter: { _id, rev: { $lt: run.rev } },
    update: { $set: fields, ...(Object.keys(cleared).length ? { $unset: cleared } : {}) },
  };
}

/** An event document at `index`, carrying its outbox delivery when the run wants one. */
function eventDocument(run: OpRun, id: string, index: number, draft: RunEventDraft, now: Date): EventDocument {
  const doc: EventDocument = {
    _id: id,
    run_id: run.id,
    index,
    attempt: draft.attempt,
    type: draft.type,
    ...(draft.msg?.includes('\u0000')
      ? { msg: null, msg_json: JSON.stringify(draft.msg) }
      : { msg: draft.msg ?? null }),
    payload: draft.payload === undefined ? null : JSON.stringify(draft.payload),
    created_at: now,
  };
  const delivery = deliveryFieldsFor(run, toEvent(doc));
  if (delivery) doc.delivery = delivery;
  return doc;
}

/** The positions an unordered insert lost to duplicate keys; any other failure is rethrown. */
function duplicateIndexes(error: unknown): number[] {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  if (writeErrors === undefined || writeErrors === null) throw error;
  const list = (Array.isArray(writeErrors) ? writeErrors : [writeErrors]) as { index: number; code?: number }[];
  if (list.some((e) => e.code !== 11000)) throw error;
  return list.map((e) => e.index);
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
    private readonly claimState: { shapes: Model<RunShapeDocument>; versions: ClaimVersions },
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
      await this.runs.create({ ...toDocument(run), created_events: JSON.stringify(transition.events) });
    } catch (error) {
      if (key === undefined || !isDuplicateKey(error)) throw error;
      // Another request with the same key won the insert.
      const winner = await this.runs.findOne({ idempotency_key: key }).lean();
      if (!winner) throw error;
      return { run: decodeRun(winner.doc, winner.rev), created: false };
    }
    await this.insertEvents(run, transition.events, now, run.rev, 1);
    await this.claimState.versions.bump(run.state === 'PENDING');
    return { run, created: true };
  }

  async getRunByIdempotencyKey(key: string): Promise<OpRun | null> {
    const doc = await this.runs.findOne({ idempotency_key: key }, { _id: 1 }).lean();
    return doc ? this.getRun(doc._id) : null;
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
   * Brings these runs up to their newest committed revisions, and fences the ones still
   * PENDING: each gets a revision of its own (the run unchanged), the one a claimer that
   * planned them would need next, so a claimer that stalled past its lock and commits them
   * late loses them. Point reads by id: FerretDB pushes `_id` equality down but scans the
   * collection for `$in`.
   */
  async settleAndFence(ids: readonly string[], now: Date): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        const run = await this.getRun(id);
        // Lost to another writer: that one changed it, which fences it as well.
        if (run?.state === 'PENDING') await this.commit({ run, events: [] }, now);
      }),
    );
  }

  async listRuns(query: RunQuery): Promise<RunPage> {
    const limit = pageSize(query.limit);
    const filter: QueryFilter<RunDocument> = {};
    const states = statesOf(query.state);
    if (states) filter.state = { $in: states };
    if (query.definition_id !== undefined) filter.definition_id = query.definition_id;
    if (query.worker_id !== undefined) filter.worker_id = query.worker_id;
    if (query.due_before !== undefined) filter.not_before = { $ne: null, $lte: query.due_before };
    if (query.created_after !== undefined || query.created_before !== undefined) {
      filter.created_at = {
        ...(query.created_after !== undefined ? { $gte: query.created_after } : {}),
        ...(query.created_before !== undefined ? { $lt: query.created_before } : {}),
      };
    }
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

  async appendEvents(
    runId: string,
    events: RunEventDraft[],
    now: Date,
    check?: (run: OpRun) => void,
  ): Promise<RunEvent[]> {
    // getRun, not a bare existence check: a committed transition's events go in first.
    const run = await this.getRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    check?.(run);
    return this.insertEvents(run, events, now);
  }

  async listEvents(runId: string, query: EventQuery = {}): Promise<RunEvent[]> {
    const run = await this.getRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    const docs = await this.events
      .find({ run_id: runId, index: { $gt: query.after ?? 0 } })
      .sort({ index: 1 })
      .limit(query.limit ?? 1000)
      .lean();
    // None at all, on a run never changed since its creation: its creator may have died
    // before writing them.
    if (docs.length === 0 && run.rev < 2 && (query.after ?? 0) === 0) {
      return (await this.finishCreationOf(run)).slice(0, query.limit ?? 1000);
    }
    return docs.map(toEvent);
  }

  async listReservations(workerId: string): Promise<Reservation[]> {
    const docs = await this.runs.find({ worker_id: workerId, state: { $in: ['ASSIGNED', 'RUNNING'] } }).lean();
    return docs.map((d) => {
      const run = decodeRun(d.doc, d.rev);
      return reservationOf(run.id, run.constraints, run.gpu_ids);
    });
  }

  /**
   * The reservations of several workers: a read per worker where the server pushes an
   * equality filter down, else one read for all of them (`$in`, a scan either way).
   */
  async reservationsOf(workerIds: readonly string[]): Promise<Map<string, Reservation[]>> {
    const held = new Map<string, Reservation[]>();
    if (await this.equalityPushedDown()) {
      await Promise.all(workerIds.map(async (id) => held.set(id, await this.listReservations(id))));
      return held;
    }
    for (const id of workerIds) held.set(id, []);
    const docs = await this.runs
      .find(
        { worker_id: { $in: [...workerIds] }, state: { $in: ['ASSIGNED', 'RUNNING'] } },
        { doc: 1, rev: 1, worker_id: 1 },
      )
      .lean();
    for (const d of docs) {
      const run = decodeRun(d.doc, d.rev);
      held.get(String(d.worker_id))?.push(reservationOf(run.id, run.constraints, run.gpu_ids));
    }
    return held;
  }

  /**
   * Whether the server answers an equality filter through an index (MongoDB, FerretDB's
   * PostgreSQL handler) rather than by scanning the collection (FerretDB's SQLite handler,
   * which pushes down only `_id`). FerretDB never pushes `$in` down, so a read per key beats
   * one `$in` read only where equality is pushed down. Asked once (explain), on first use.
   */
  private equalityPushedDown(): Promise<boolean> {
    this.pushdown ??= this.events
      .find({ run_id: '' })
      .explain()
      .then((plan) => (plan as { filterPushdown?: boolean }).filterPushdown !== false)
      .catch(() => true);
    return this.pushdown;
  }

  private pushdown?: Promise<boolean>;

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
    const revision = revisionOf(transition, now);
    const next = decodeRun(revision.doc, revision.rev);
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
   * `commit` for several transitions of different runs at once (a claim batch's
   * assignments): the same steps, each one write for all of them. Revisions go in with one
   * unordered insert (each still wins or loses on its own unique key), the winners are
   * applied with one bulk update of `runs`, their events with one read of the last indexes
   * and one unordered insert (a run whose insert collides takes `insertEvents`' retry path),
   * then the newer-revision check of each. Answers per transition, in order: saved, or null
   * where another writer had the revision.
   */
  async commitGrouped(items: readonly { transition: Transition; now: Date }[]): Promise<(SavedTransition | null)[]> {
    if (items.length === 0) return [];
    const heads = new Map<string, number | undefined>();
    await Promise.all(
      items.map(async ({ transition }) => heads.set(transition.run.id, await this.eventsHead(transition.run))),
    );
    const revisions = items.map(({ transition, now }) => revisionOf(transition, now));
    const lost = new Set<number>();
    try {
      await this.revisions.collection.insertMany(revisions as never[], { ordered: false });
    } catch (error) {
      for (const index of duplicateIndexes(error)) lost.add(index);
    }
    const won = revisions.filter((_, i) => !lost.has(i));
    const events = new Map<string, RunEvent[]>();
    if (won.length > 0) {
      await this.runs.collection.bulkWrite(
        won.map((revision) => ({ updateOne: applyUpdate(decodeRun(revision.doc, revision.rev)) })),
        { ordered: false },
      );
      // After `runs` shows the revisions, as `apply` does.
      const [inserted] = await Promise.all([
        this.insertEventsGrouped(won, heads),
        this.claimState.versions.bump(won.some((r) => decodeRun(r.doc, r.rev).state === 'PENDING')),
      ]);
      for (const [id, list] of inserted) events.set(id, list);
      // As in `commit`: a write that raced a newer revision is brought forward again.
      await Promise.all(
        won.map(async (r) => {
          if (await this.revisions.exists({ _id: `${r.run_id}:${r.rev + 1}` })) await this.getRun(r.run_id);
        }),
      );
    }
    return revisions.map((revision, i) =>
      lost.has(i) ? null : { run: decodeRun(revision.doc, revision.rev), events: events.get(revision.run_id) ?? [] },
    );
  }

  /**
   * The events of applied revisions of different runs: one read of their runs' last indexes,
   * one unordered insert. A run whose insert collided (a concurrent appender took its index,
   * or another applier inserted the same event) goes through `insertEvents`, which retries.
   */
  private async insertEventsGrouped(
    revisions: readonly RevisionDocument[],
    heads: ReadonlyMap<string, number | undefined>,
  ): Promise<Map<string, RunEvent[]>> {
    const last = new Map<string, number>();
    for (const [id, head] of heads) if (head !== undefined) last.set(id, head);
    const unknown = revisions.filter((r) => !last.has(r.run_id));
    if (unknown.length === 0) {
      // Every head known by _id: no read of the events collection.
    } else if (await this.equalityPushedDown()) {
      await Promise.all(
        unknown.map(async ({ run_id }) => {
          const doc = await this.events.findOne({ run_id }, { index: 1 }).sort({ index: -1 }).lean();
          last.set(run_id, doc?.index ?? 0);
        }),
      );
    } else {
      const docs = await this.events
        .find({ run_id: { $in: unknown.map((r) => r.run_id) } }, { run_id: 1, index: 1 })
        .lean();
      for (const d of docs) last.set(d.run_id, Math.max(last.get(d.run_id) ?? 0, d.index));
    }
    const docs: EventDocument[] = [];
    const owner: number[] = [];
    revisions.forEach((revision, r) => {
      const run = decodeRun(revision.doc, revision.rev);
      const drafts: RunEventDraft[] = JSON.parse(revision.events);
      let next = (last.get(run.id) ?? 0) + 1;
      for (const [n, draft] of drafts.entries()) {
        docs.push(eventDocument(run, `${run.id}:${revision.rev}:${n}`, next++, draft, revision.created_at));
        owner.push(r);
      }
    });
    const failed = new Set<number>();
    if (docs.length > 0) {
      try {
        await this.events.collection.insertMany(docs as never[], { ordered: false });
      } catch (error) {
        for (const index of duplicateIndexes(error)) failed.add(owner[index]);
      }
    }
    if (docs.some((d, i) => d.delivery && !failed.has(owner[i]))) this.deliveryWritten();
    const result = new Map<string, RunEvent[]>();
    for (const [r, revision] of revisions.entries()) {
      if (failed.has(r)) continue;
      result.set(revision.run_id, docs.filter((_, i) => owner[i] === r).map(toEvent));
    }
    await Promise.all(
      [...failed].map(async (r) => {
        const revision = revisions[r];
        const run = decodeRun(revision.doc, revision.rev);
        const events = await this.insertEvents(run, JSON.parse(revision.events), revision.created_at, revision.rev);
        result.set(revision.run_id, events);
      }),
    );
    return result;
  }

  /**
   * Idempotent: brings `runs` up to the revision (not back, where updates are atomic; see
   * `commit` for FerretDB), then records its events once. `runs` first keeps the moment a
   * committed revision is not yet in `runs` short (readers repair it then); the events a
   * reader of `runs` may build on before they are in are finished by the next `commit`.
   */
  private async apply(revision: RevisionDocument): Promise<RunEvent[]> {
    const run = decodeRun(revision.doc, revision.rev);
    const { filter, update } = applyUpdate(run);
    await this.runs.updateOne(filter, update);
    // After `runs` shows the revision, so a woken claim reads it.
    await this.claimState.versions.bump(run.state === 'PENDING');
    return this.insertEvents(run, JSON.parse(revision.events), revision.created_at, revision.rev);
  }

  /**
   * `finishEventsOf`, answering the index of the last event of the revision `run` is at, read
   * by its fixed `_id` (the one filter both FerretDB backends answer from an index; a read by
   * `run_id` scans the collection on both), or undefined when there is none to read. Event
   * indexes are always 1..last with no gap, so the index after it is never too high: a guess
   * that can only collide (an event appended since), and then `insertEvents` reads and retries.
   */
  private async eventsHead(run: OpRun): Promise<number | undefined> {
    if (run.rev < 2) {
      // The first event of the run's creation (`createRun`), if it is in yet; if not (its
      // creator died between the run and its events), they go in now.
      const created = await this.events.findById(`${run.id}:1:0`, { index: 1 }).lean();
      return created?.index ?? (await this.finishCreationOf(run)).at(-1)?.index;
    }
    const revision = await this.revisions.findById(`${run.id}:${run.rev}`).lean();
    const drafts: RunEventDraft[] = revision ? JSON.parse(revision.events) : [];
    if (!revision || drafts.length === 0) return undefined;
    const last = await this.events.findById(`${run.id}:${run.rev}:${drafts.length - 1}`, { index: 1 }).lean();
    if (last) return last.index;
    const inserted = await this.insertEvents(
      decodeRun(revision.doc, revision.rev),
      drafts,
      revision.created_at,
      revision.rev,
    );
    return inserted.at(-1)?.index;
  }

  /**
   * The events of the revision `run` is at, written if its writer has not yet: a writer can
   * build on a revision as soon as `runs` shows it, before its events are in (or after its
   * writer died between the steps), and the events of the revision it commits must come
   * after them. Without this a claim could assign, and the worker start, a run whose
   * WORKER_LOST or UNASSIGNED was written later: two STARTED with no end between.
   */
  private async finishEventsOf(run: OpRun): Promise<void> {
    if (run.rev < 2) {
      if (!(await this.events.exists({ _id: `${run.id}:1:0` }))) await this.finishCreationOf(run);
      return;
    }
    const revision = await this.revisions.findById(`${run.id}:${run.rev}`).lean();
    const drafts: RunEventDraft[] = revision ? JSON.parse(revision.events) : [];
    if (!revision || drafts.length === 0) return;
    if (await this.events.exists({ _id: `${run.id}:${run.rev}:${drafts.length - 1}` })) return;
    await this.insertEvents(decodeRun(revision.doc, revision.rev), drafts, revision.created_at, revision.rev);
  }

  /**
   * The creation's events of a run at revision 1, inserted from the drafts its document keeps
   * (`created_events`), with their fixed ids: a no-op for those already in. Runs stored before
   * the drafts were kept have none to insert.
   */
  private async finishCreationOf(run: OpRun): Promise<RunEvent[]> {
    const doc = await this.runs.findById(run.id, { created_events: 1 }).lean();
    if (!doc?.created_events) return [];
    return this.insertEvents(run, JSON.parse(doc.created_events), run.created_at, 1);
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
        const doc = eventDocument(run, id, next, draft, now);
        try {
          await this.events.create(doc);
          if (doc.delivery) this.deliveryWritten();
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
