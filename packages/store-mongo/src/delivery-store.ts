import { NotFoundError, type OpRun, type RunEvent } from '@gyoza/domain';
import {
  type DeliveryLeaseRequest,
  type DeliveryOutcome,
  DeliveryPicker,
  type DeliveryQuery,
  type DeliveryStatus,
  type DeliveryStore,
  deliveryId,
  deliveryStatusesOf,
  emptyDeliveryCounts,
  OPEN_DELIVERY_STATUSES,
  type OutboxEntry,
  type OutboxRecovery,
  outboxEntryFor,
  parseDeliveryId,
} from '@gyoza/store';
import type { Model, QueryFilter } from 'mongoose';
import { MongoDeliveryClaims } from './delivery-claims';
import type { DeliveryFields } from './models/delivery.schema';
import type { DeliveryClaimDocument } from './models/delivery-claim.model';
import type { EventDocument } from './models/event.model';
import type { RevisionDocument } from './models/revision.model';
import type { RunDocument } from './models/run.model';

/**
 * The most due heads a claim lists (each read by id) when a capped receiver's deliveries filled
 * its first, narrower listing: others further back wait until that backlog's failures move behind them.
 */
const PAST_CAPPED = 256;

/** The `delivery` field of the event document, or undefined when the run does not want this event. */
export function deliveryFieldsFor(run: OpRun, event: RunEvent): DeliveryFields | undefined {
  const entry = outboxEntryFor(run, event);
  if (!entry) return undefined;
  return {
    event_type: entry.event_type,
    url: entry.url,
    body: entry.body,
    status: entry.status,
    attempts: entry.attempts,
    next_attempt_at: entry.next_attempt_at,
    created_at: entry.created_at,
    updated_at: entry.updated_at,
    ...(entry.secret !== undefined ? { secret: entry.secret } : {}),
  };
}

type WithDelivery = EventDocument & { delivery: DeliveryFields };

function decode(doc: WithDelivery): OutboxEntry {
  const d = doc.delivery;
  const entry: OutboxEntry = {
    id: deliveryId(doc.run_id, doc.index),
    run_id: doc.run_id,
    event_index: doc.index,
    event_type: d.event_type,
    url: d.url,
    body: d.body,
    status: d.status as DeliveryStatus,
    attempts: d.attempts,
    next_attempt_at: d.next_attempt_at,
    created_at: d.created_at,
    updated_at: d.updated_at,
  };
  if (d.secret) entry.secret = d.secret;
  if (d.last_attempt_at) entry.last_attempt_at = d.last_attempt_at;
  if (typeof d.last_status_code === 'number') entry.last_status_code = d.last_status_code;
  if (d.last_error) entry.last_error = d.last_error;
  if (d.delivered_at) entry.delivered_at = d.delivered_at;
  return entry;
}

export interface OutboxModels {
  events: Model<EventDocument>;
  claims: Model<DeliveryClaimDocument>;
  revisions: Model<RevisionDocument>;
  runs: Model<RunDocument>;
}

const OPEN = { $in: [...OPEN_DELIVERY_STATUSES] };

/** Event document ids remembered per delivery id, so later reads and writes go by `_id`. */
const REMEMBERED_IDS = 10_000;

/**
 * The outbox lives in the event documents (`delivery`); claims are documents of their own
 * (`delivery_claims`, see `delivery-claims.ts`). Only the process holding a delivery's claim
 * writes its outcome, so the plain updates here need no compare-and-set. Deliveries listed
 * are read and written again by their event document's `_id` (FerretDB answers `_id`
 * equality from its primary key and scans the collection for any other filter).
 */
export class MongoDeliveryStore implements DeliveryStore {
  private readonly claimDocs: MongoDeliveryClaims;
  private readonly docIds = new Map<string, string>();
  /** The claim document each delivery claimed through this object holds (deleted by `_id` after its attempt). */
  private readonly heldClaims = new Map<string, string>();
  private readonly listeners = new Set<() => void>();

  /** `settleRun` applies a run's committed revisions that are not applied yet (the run store's `getRun`). */
  constructor(
    private readonly models: OutboxModels,
    private readonly settleRun: (runId: string) => Promise<unknown>,
  ) {
    this.claimDocs = new MongoDeliveryClaims(models.claims);
  }

  /** Called by the run store after it inserted an event document carrying a delivery. */
  written(): void {
    for (const listener of this.listeners) listener();
  }

  onDeliveriesWritten(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The head of each run (its earliest open delivery) from one projected read of every open
   * delivery, the due heads soonest first, then those documents by id. It costs the open
   * backlog, as a correct answer must: a head that failed and waits for its retry is due later
   * than the events behind it, so no window of soonest-due deliveries is sure to hold the heads
   * (paged windows starved healthy runs behind ~25 runs to a receiver that was down).
   */
  async listDue(now: Date, limit: number): Promise<OutboxEntry[]> {
    const open = (await this.models.events
      .find({ 'delivery.status': OPEN }, { run_id: 1, index: 1, 'delivery.next_attempt_at': 1 })
      .lean()) as Pick<WithDelivery, '_id' | 'run_id' | 'index' | 'delivery'>[];
    const heads = new Map<string, { id: string; index: number; due: number }>();
    for (const doc of open) {
      const head = heads.get(doc.run_id);
      if (head && head.index < doc.index) continue;
      heads.set(doc.run_id, { id: doc._id as string, index: doc.index, due: doc.delivery.next_attempt_at.getTime() });
    }
    const due = [...heads.values()]
      .filter((head) => head.due <= now.getTime())
      .sort((a, b) => a.due - b.due || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    // Point reads: FerretDB pushes `_id` equality down but scans the collection for `$in`.
    const docs = (await Promise.all(
      due.map((head) => this.models.events.findById(head.id).lean()),
    )) as (WithDelivery | null)[];
    // Closed since the read (delivered by another process): not listed.
    const listed = docs.filter(
      (doc): doc is WithDelivery =>
        doc?.delivery !== undefined && OPEN_DELIVERY_STATUSES.includes(doc.delivery.status as DeliveryStatus),
    );
    if (this.docIds.size > REMEMBERED_IDS) this.docIds.clear();
    for (const doc of listed) this.docIds.set(deliveryId(doc.run_id, doc.index), doc._id as string);
    return listed.map(decode);
  }

  async claimDue(request: DeliveryLeaseRequest): Promise<OutboxEntry[]> {
    // Listed again with a wider window (once or twice, bounded) when a capped receiver's
    // deliveries filled the first one and left room for others further back.
    let window = request.limit + (request.skip?.size ?? 0);
    let picked: OutboxEntry[];
    for (;;) {
      const listed = await this.listDue(request.now, window);
      const picker = new DeliveryPicker(request);
      picked = listed.filter((entry) => picker.offer(entry));
      if (picker.full || !picker.passedOver || listed.length < window || window >= PAST_CAPPED) break;
      window = Math.min(window * 8, PAST_CAPPED);
    }
    const claimed = await Promise.all(picked.map((entry) => this.claimOne(entry, request)));
    return claimed.filter((entry): entry is OutboxEntry => entry !== null);
  }

  /**
   * The delivery is read again after the claim is won: another process may have finished this
   * attempt (and cleared its claims) between our listing and our insert, and then its
   * `attempts` or `status` differ from what we listed.
   */
  private async claimOne(listed: OutboxEntry, request: DeliveryLeaseRequest): Promise<OutboxEntry | null> {
    const { holder, leaseMs, now } = request;
    const claimId = await this.claimDocs.take(listed.id, listed.attempts, holder, leaseMs, now);
    if (claimId === null) return null;
    const fresh = await this.getDelivery(listed.id);
    const unchanged =
      fresh !== null &&
      OPEN_DELIVERY_STATUSES.includes(fresh.status) &&
      fresh.attempts === listed.attempts &&
      fresh.next_attempt_at.getTime() <= now.getTime();
    if (unchanged) {
      this.heldClaims.set(listed.id, claimId);
      return fresh;
    }
    await this.claimDocs.release(listed.id, holder);
    return null;
  }

  async releaseClaim(id: string, holder: string): Promise<void> {
    this.heldClaims.delete(id);
    await this.claimDocs.release(id, holder);
  }

  async getDelivery(id: string): Promise<OutboxEntry | null> {
    const doc = await this.find(id);
    return doc ? decode(doc) : null;
  }

  async recordAttempt(id: string, outcome: DeliveryOutcome, now: Date, claimedAt?: Date): Promise<boolean> {
    const set: Record<string, unknown> = {
      'delivery.status': outcome.status,
      'delivery.attempts': outcome.attempts,
      'delivery.last_attempt_at': outcome.attempted_at,
      'delivery.next_attempt_at': outcome.next_attempt_at ?? now,
      'delivery.last_status_code': outcome.status_code ?? null,
      'delivery.last_error': outcome.error ?? null,
      'delivery.updated_at': now,
    };
    if (outcome.status === 'delivered') set['delivery.delivered_at'] = now;
    const result = await this.models.events.updateOne(
      {
        ...this.filter(id),
        delivery: { $exists: true },
        ...(claimedAt ? { 'delivery.updated_at': claimedAt } : {}),
      },
      { $set: set },
    );
    const held = this.heldClaims.get(id);
    this.heldClaims.delete(id);
    if (result.matchedCount === 0) {
      if (!claimedAt || !(await this.find(id))) throw new NotFoundError('delivery', id);
      // Redelivered (or recorded by another sender) since the claim: nothing is written, and
      // this sender's claim goes, so the delivery can be claimed as it now is.
      if (held) await this.claimDocs.dropClaim(held);
      return false;
    }
    // After the outcome: a sender that listed the old attempt and claims it now reads it back changed.
    await this.claimDocs.clear(id, outcome.attempts, held);
    if (!OPEN_DELIVERY_STATUSES.includes(outcome.status)) this.docIds.delete(id);
    return true;
  }

  async listDeliveries(query: DeliveryQuery): Promise<OutboxEntry[]> {
    const filter: QueryFilter<EventDocument> = { delivery: { $exists: true } };
    if (query.run_id !== undefined) filter.run_id = query.run_id;
    const statuses = deliveryStatusesOf(query.status);
    if (statuses) filter['delivery.status'] = { $in: statuses };
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const sort: Record<string, 1 | -1> =
      query.run_id !== undefined ? { index: 1 } : { 'delivery.updated_at': -1, run_id: -1, index: -1 };
    const docs = (await this.models.events.find(filter).sort(sort).limit(limit).lean()) as WithDelivery[];
    return docs.map(decode);
  }

  async redeliver(id: string, now: Date): Promise<OutboxEntry> {
    const before = await this.getDelivery(id);
    if (!before) throw new NotFoundError('delivery', id);
    // updated_at always moves: an attempt in flight compares it (recordAttempt's claimedAt).
    const updatedAt = new Date(Math.max(now.getTime(), before.updated_at.getTime() + 1));
    const result = await this.models.events.updateOne(
      { ...this.filter(id), delivery: { $exists: true } },
      {
        $set: {
          'delivery.status': 'pending',
          'delivery.attempts': 0,
          'delivery.next_attempt_at': now,
          'delivery.updated_at': updatedAt,
        },
      },
    );
    if (result.matchedCount === 0) throw new NotFoundError('delivery', id);
    return (await this.getDelivery(id)) as OutboxEntry;
  }

  async countDeliveries(): Promise<Record<DeliveryStatus, number>> {
    const counts = emptyDeliveryCounts();
    const rows = await this.models.events.aggregate<{ _id: DeliveryStatus; n: number }>([
      { $match: { delivery: { $exists: true } } },
      { $group: { _id: '$delivery.status', n: { $sum: 1 } } },
    ]);
    for (const row of rows) if (row._id in counts) counts[row._id] = row.n;
    return counts;
  }

  async countClaims(): Promise<number> {
    return this.claimDocs.count();
  }

  async recover(since: Date, now: Date): Promise<OutboxRecovery> {
    const applied = await this.rollForward(since);
    const swept = await this.claimDocs.sweep(now, async (id) => {
      const entry = await this.getDelivery(id);
      return entry && OPEN_DELIVERY_STATUSES.includes(entry.status) ? entry.attempts : null;
    });
    return { applied, swept };
  }

  /**
   * Applies the revisions committed since `since` that `runs` does not show yet: a writer
   * that died between committing and applying left their events, and so their deliveries,
   * unwritten, and nothing else would write them until someone reads that run.
   */
  private async rollForward(since: Date): Promise<number> {
    const revisions = await this.models.revisions.find({ created_at: { $gte: since } }, { run_id: 1, rev: 1 }).lean();
    const newest = new Map<string, number>();
    for (const { run_id, rev } of revisions) newest.set(run_id, Math.max(rev, newest.get(run_id) ?? 0));
    let applied = 0;
    for (const [runId, rev] of newest) {
      const run = await this.models.runs.findById(runId, { rev: 1 }).lean();
      if (!run || run.rev >= rev) continue;
      await this.settleRun(runId);
      applied += 1;
    }
    return applied;
  }

  private async find(id: string): Promise<WithDelivery | null> {
    if (!parseDeliveryId(id)) return null;
    const doc = await this.models.events.findOne(this.filter(id)).lean();
    return doc?.delivery ? (doc as WithDelivery) : null;
  }

  /** The event document of a delivery: by `_id` when it was listed here, else by (run, index). */
  private filter(id: string): QueryFilter<EventDocument> {
    const docId = this.docIds.get(id);
    if (docId !== undefined) return { _id: docId };
    const parsed = parseDeliveryId(id);
    if (!parsed) throw new NotFoundError('delivery', id);
    return { run_id: parsed.run_id, index: parsed.event_index };
  }
}
