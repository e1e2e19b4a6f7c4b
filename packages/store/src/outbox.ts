import type { OpRun, RunEvent } from '@gyoza/domain';

/**
 * The webhook outbox: one delivery per event that a run's `event_delivery` asks for, written
 * by the adapter in the same step as the event itself (SQLite: the same transaction; MongoDB:
 * the same document), so no committed event is ever without its delivery.
 */

/**
 * `pending`: not tried yet; `failing`: tried, failed, retried at `next_attempt_at`;
 * `delivered`: a 2xx answer; `dead`: retries exhausted or 410 Gone (redeliver to try again).
 */
export const DELIVERY_STATUSES = ['pending', 'failing', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** The statuses a delivery loop still has work for. */
export const OPEN_DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'failing'];

/** A delivery as the API shows it: never the secret, never the body. */
export interface Delivery {
  /** Also the `webhook-id` header, the same on every attempt: `<run id>-<event index>`. */
  id: string;
  run_id: string;
  event_index: number;
  event_type: string;
  url: string;
  status: DeliveryStatus;
  /** Attempts made so far (a redelivery starts again from 0). */
  attempts: number;
  /** When the loop may send it next (open deliveries). */
  next_attempt_at: Date;
  last_attempt_at?: Date;
  last_status_code?: number;
  /** The last failure, short (never a whole response body). */
  last_error?: string;
  delivered_at?: Date;
  created_at: Date;
  updated_at: Date;
}

/** What the adapter stores and the delivery loop sends. */
export interface OutboxEntry extends Delivery {
  /** The JSON body, fixed when the event was written: every attempt sends the same bytes. */
  body: string;
  secret?: string;
}

/** The result of one attempt, recorded by the process that held the delivery's lease. */
export interface DeliveryOutcome {
  status: Exclude<DeliveryStatus, 'pending'>;
  attempts: number;
  attempted_at: Date;
  /** For `failing`: when to try again. */
  next_attempt_at?: Date;
  status_code?: number;
  error?: string;
}

export interface DeliveryQuery {
  run_id?: string;
  status?: DeliveryStatus | DeliveryStatus[];
  /** Default 100, capped at 1000. */
  limit?: number;
}

/** What `claimDue` takes: at most `limit` deliveries, each leased to `holder` for `leaseMs`. */
export interface DeliveryLeaseRequest {
  limit: number;
  /** Longer than one attempt can take (its timeout), so a live sender never loses its lease. */
  leaseMs: number;
  now: Date;
  /** Names this claim; give a delivery back early with `releaseClaim(id, holder)`. */
  holder: string;
  /** Deliveries this process is already sending (never claimed twice by one process). */
  skip?: ReadonlySet<string>;
  /**
   * The receivers (`receiverOf` a URL) held to at most `perReceiver` deliveries in flight, with
   * how many this process is sending to each now: deliveries past the cap are passed over, not
   * claimed, and later ones to other receivers are taken instead. @defaultValue none
   */
  capped?: ReadonlyMap<string, number>;
  perReceiver?: number;
}

/**
 * Who a delivery is sent to, for the per-receiver cap: its URL's origin (scheme, host, port),
 * so every path of one service shares it. A URL that does not parse is its own receiver.
 */
export function receiverOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** The receivers at their cap already: an adapter may leave their deliveries unread. */
export function cappedReceivers(request: DeliveryLeaseRequest): string[] {
  const { perReceiver, capped } = request;
  if (perReceiver === undefined || !capped) return [];
  return [...capped].filter(([, sending]) => sending >= perReceiver).map(([receiver]) => receiver);
}

/**
 * What an adapter's `claimDue` takes from its claimable deliveries, offered in order: not
 * those in `skip`, at most `limit`, at most `perReceiver` to each receiver in `capped`.
 */
export class DeliveryPicker {
  private readonly taken = new Map<string, number>();
  private count = 0;
  private passed = false;

  constructor(private readonly request: DeliveryLeaseRequest) {}

  /** Whether to claim this one (it is then counted against the limit and its receiver). */
  offer(entry: { id: string; url: string }): boolean {
    const { limit, skip, perReceiver, capped } = this.request;
    if (this.count >= limit || skip?.has(entry.id)) return false;
    if (perReceiver !== undefined && capped?.size) {
      const receiver = receiverOf(entry.url);
      const sending = capped.get(receiver);
      if (sending !== undefined) {
        const taken = this.taken.get(receiver) ?? 0;
        if (sending + taken >= perReceiver) {
          this.passed = true;
          return false;
        }
        this.taken.set(receiver, taken + 1);
      }
    }
    this.count++;
    return true;
  }

  /** `limit` deliveries taken: read no further. */
  get full(): boolean {
    return this.count >= this.request.limit;
  }

  /** A receiver's cap passed a delivery over: others may be due past what was read. */
  get passedOver(): boolean {
    return this.passed;
  }
}

/** What `recover` repaired. */
export interface OutboxRecovery {
  /** Committed transitions applied that a writer had left unapplied (their deliveries now listed). */
  applied: number;
  /** Claim state dropped that a crashed sender had left behind. */
  swept: number;
}

export interface DeliveryStore {
  /**
   * Open deliveries due at `now`, each the earliest open delivery of its run (so a later
   * event waits for an earlier one to be delivered or dead), soonest due first. Leases are
   * not looked at: `claimDue` is how a sender takes them.
   */
  listDue(now: Date, limit: number): Promise<OutboxEntry[]>;
  /**
   * Leases due deliveries to `request.holder`, atomically on every adapter (SQLite: one
   * IMMEDIATE transaction; MongoDB: a claim document inserted against a unique key), so
   * several processes sending one outbox each send an attempt once. The lease is state on
   * the delivery (or, on MongoDB, one claim document per attempt) that `recordAttempt`
   * ends: nothing per delivery is left once it is done. A delivery whose lease ran out (a
   * crashed sender) is claimable again. Per-run order as in `listDue`: a leased delivery
   * holds back its run's later ones.
   */
  claimDue(request: DeliveryLeaseRequest): Promise<OutboxEntry[]>;
  /** Gives a claimed delivery back without recording an attempt (no-op when `holder` does not hold it). */
  releaseClaim(id: string, holder: string): Promise<void>;
  getDelivery(id: string): Promise<OutboxEntry | null>;
  /**
   * Writes an attempt's outcome and ends the delivery's lease; true when written. With
   * `claimedAt` (the claimed entry's `updated_at`), only if the delivery is still as it was
   * claimed: after a redelivery (or another sender's outcome, its lease having run out) the
   * attempt's outcome is dropped, answers false, and the delivery goes as it now says.
   * Unknown id -> NotFoundError.
   */
  recordAttempt(id: string, outcome: DeliveryOutcome, now: Date, claimedAt?: Date): Promise<boolean>;
  /** A run's deliveries in event order, or (no run) the newest first. */
  listDeliveries(query: DeliveryQuery): Promise<OutboxEntry[]>;
  /**
   * Queues the delivery again now, from attempt 0, whatever its status; an attempt in flight
   * then records nothing (see `recordAttempt`). Unknown id -> NotFoundError.
   */
  redeliver(id: string, now: Date): Promise<OutboxEntry>;
  countDeliveries(): Promise<Record<DeliveryStatus, number>>;
  /** Per-delivery claim state held right now (leases, claim documents); 0 once every claim is recorded or swept. */
  countClaims(): Promise<number>;
  /**
   * Calls `listener` after this store object commits events that have deliveries (not
   * other processes' writes: those are found by polling), so a sender can wake at once.
   * Returns the unsubscribe function.
   */
  onDeliveriesWritten(listener: () => void): () => void;
  /**
   * Repairs what a crashed process can leave: applies the transitions committed since
   * `since` but never applied (MongoDB commits in two steps; until applied, their events and
   * deliveries are missing), and drops expired claim state of attempts already recorded.
   * Idempotent; a sender calls it at start and now and then. SQLite: nothing to repair.
   */
  recover(since: Date, now: Date): Promise<OutboxRecovery>;
}

/** The delivery id of a run's event (also its `webhook-id`). */
export function deliveryId(runId: string, index: number): string {
  return `${runId}-${index}`;
}

/** The run id and event index a delivery id names, or null when it is not one. */
export function parseDeliveryId(id: string): { run_id: string; event_index: number } | null {
  const match = /^(run_[A-Za-z0-9]{1,64})-([1-9]\d{0,9})$/.exec(id);
  return match ? { run_id: match[1], event_index: Number(match[2]) } : null;
}

/** Whether the run's `event_delivery` asks for this event (no types listed: every event). */
export function wantsDelivery(run: OpRun, type: string): boolean {
  const delivery = run.event_delivery;
  if (!delivery?.webhook_url) return false;
  return !delivery.event_types?.length || delivery.event_types.includes(type);
}

/**
 * The outbox entry for an event of `run` (the run as this event leaves it), or null when the
 * run's `event_delivery` does not want it. The body follows the Standard Webhooks shape
 * (`type`, `timestamp`, `data`).
 */
export function outboxEntryFor(run: OpRun, event: RunEvent): OutboxEntry | null {
  if (!wantsDelivery(run, event.type)) return null;
  const data: Record<string, unknown> = {
    run_id: run.id,
    definition_id: run.definition_id,
    definition_version: run.definition_version,
    state: run.state,
    attempt: event.attempt,
    progress: run.progress,
    event: {
      index: event.index,
      attempt: event.attempt,
      type: event.type,
      msg: event.msg,
      payload: event.payload,
      created_at: event.created_at.toISOString(),
    },
  };
  if (run.state === 'COMPLETED') data.outputs = run.outputs;
  if (run.error_message !== undefined) data.error_message = run.error_message;
  const body = JSON.stringify({
    type: `run.${event.type.toLowerCase()}`,
    timestamp: event.created_at.toISOString(),
    data,
  });
  const entry: OutboxEntry = {
    id: deliveryId(run.id, event.index),
    run_id: run.id,
    event_index: event.index,
    event_type: event.type,
    url: run.event_delivery.webhook_url as string,
    status: 'pending',
    attempts: 0,
    next_attempt_at: event.created_at,
    created_at: event.created_at,
    updated_at: event.created_at,
    body,
  };
  if (run.event_delivery.secret !== undefined) entry.secret = run.event_delivery.secret;
  return entry;
}

/** The API's view of an entry: the body and the secret left out. */
export function publicDelivery(entry: OutboxEntry): Delivery {
  const { body: _body, secret: _secret, ...delivery } = entry;
  return delivery;
}

export function deliveryStatusesOf(status: DeliveryQuery['status']): DeliveryStatus[] | undefined {
  if (status === undefined) return undefined;
  return Array.isArray(status) ? status : [status];
}

export function emptyDeliveryCounts(): Record<DeliveryStatus, number> {
  return Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
}
