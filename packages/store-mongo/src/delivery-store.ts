import { NotFoundError, type OpRun, type RunEvent } from '@gyoza/domain';
import {
  type DeliveryOutcome,
  type DeliveryQuery,
  type DeliveryStatus,
  type DeliveryStore,
  deliveryId,
  deliveryStatusesOf,
  emptyDeliveryCounts,
  OPEN_DELIVERY_STATUSES,
  type OutboxEntry,
  outboxEntryFor,
  parseDeliveryId,
} from '@gyoza/store';
import type { Model, QueryFilter } from 'mongoose';
import type { DeliveryFields } from './models/delivery.schema';
import type { EventDocument } from './models/event.model';

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

/**
 * The outbox lives in the event documents (`delivery`). Only the process holding a
 * delivery's lease writes its outcome, so the plain updates here need no compare-and-set.
 */
export class MongoDeliveryStore implements DeliveryStore {
  constructor(private readonly events: Model<EventDocument>) {}

  async listDue(now: Date, limit: number): Promise<OutboxEntry[]> {
    const open = { $in: [...OPEN_DELIVERY_STATUSES] };
    const docs = (await this.events
      .find({ 'delivery.status': open, 'delivery.next_attempt_at': { $lte: now } })
      .sort({ 'delivery.next_attempt_at': 1 })
      .limit(limit * 4)
      .lean()) as WithDelivery[];
    const due: OutboxEntry[] = [];
    const heads = new Map<string, number | undefined>();
    for (const doc of docs) {
      if (due.length >= limit) break;
      // Per-run order: only the run's earliest open delivery may go.
      if (!heads.has(doc.run_id)) {
        const head = await this.events
          .findOne({ run_id: doc.run_id, 'delivery.status': open }, { index: 1 })
          .sort({ index: 1 })
          .lean();
        heads.set(doc.run_id, head?.index);
      }
      if (heads.get(doc.run_id) === doc.index) due.push(decode(doc));
    }
    return due;
  }

  async getDelivery(id: string): Promise<OutboxEntry | null> {
    const doc = await this.find(id);
    return doc ? decode(doc) : null;
  }

  async recordAttempt(id: string, outcome: DeliveryOutcome, now: Date): Promise<void> {
    const key = this.key(id);
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
    const result = await this.events.updateOne({ ...key, delivery: { $exists: true } }, { $set: set });
    if (result.matchedCount === 0) throw new NotFoundError('delivery', id);
  }

  async listDeliveries(query: DeliveryQuery): Promise<OutboxEntry[]> {
    const filter: QueryFilter<EventDocument> = { delivery: { $exists: true } };
    if (query.run_id !== undefined) filter.run_id = query.run_id;
    const statuses = deliveryStatusesOf(query.status);
    if (statuses) filter['delivery.status'] = { $in: statuses };
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const sort: Record<string, 1 | -1> =
      query.run_id !== undefined ? { index: 1 } : { 'delivery.updated_at': -1, run_id: -1, index: -1 };
    const docs = (await this.events.find(filter).sort(sort).limit(limit).lean()) as WithDelivery[];
    return docs.map(decode);
  }

  async redeliver(id: string, now: Date): Promise<OutboxEntry> {
    const key = this.key(id);
    const result = await this.events.updateOne(
      { ...key, delivery: { $exists: true } },
      {
        $set: {
          'delivery.status': 'pending',
          'delivery.attempts': 0,
          'delivery.next_attempt_at': now,
          'delivery.updated_at': now,
        },
      },
    );
    if (result.matchedCount === 0) throw new NotFoundError('delivery', id);
    return (await this.getDelivery(id)) as OutboxEntry;
  }

  async countDeliveries(): Promise<Record<DeliveryStatus, number>> {
    const counts = emptyDeliveryCounts();
    const rows = await this.events.aggregate<{ _id: DeliveryStatus; n: number }>([
      { $match: { delivery: { $exists: true } } },
      { $group: { _id: '$delivery.status', n: { $sum: 1 } } },
    ]);
    for (const row of rows) if (row._id in counts) counts[row._id] = row.n;
    return counts;
  }

  private async find(id: string): Promise<WithDelivery | null> {
    const parsed = parseDeliveryId(id);
    if (!parsed) return null;
    const doc = await this.events.findOne({ run_id: parsed.run_id, index: parsed.event_index }).lean();
    return doc?.delivery ? (doc as WithDelivery) : null;
  }

  private key(id: string): { run_id: string; index: number } {
    const parsed = parseDeliveryId(id);
    if (!parsed) throw new NotFoundError('delivery', id);
    return { run_id: parsed.run_id, index: parsed.event_index };
  }
}
