import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  type ClaimedDelivery,
  claimDeliveries,
  type DeliveryOutcome,
  type OutboxEntry,
  receiverOf,
  type Store,
} from '@gyoza/store';
import type { SchedulerLogger } from './scheduler';
import { type SendResult, sendWebhook, TargetGuard } from './webhook-send';

/** The wait before retry n (1-based) at `retryBaseSeconds` = 1; the last step repeats. */
const RETRY_STEPS = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800].map((s) => s / 5);

/** Hooks for metrics; every one is optional. */
export interface DeliveryObserver {
  delivered?(entry: OutboxEntry, latencyMs: number): void;
  failed?(entry: OutboxEntry, error: string): void;
  dead?(entry: OutboxEntry): void;
}

export interface DeliveryLoopOptions {
  store: Store;
  logger?: SchedulerLogger;
  /** Resolved targets in these CIDRs are allowed even when loopback/private/link-local. @defaultValue [] */
  allowNetworks?: readonly string[];
  /** @defaultValue 10000 */
  timeoutMs?: number;
  /**
   * The first retry waits about this long (with jitter); later ones 6x, 24x, 120x, 360x ... it
   * (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then 8 h at the default).
   * @defaultValue 5000
   */
  retryBaseMs?: number;
  /** Attempts before a delivery is dead. @defaultValue 20 */
  maxAttempts?: number;
  /** A delivery whose next try would fall later than this after its event is dead. @defaultValue 86400000 (24 h) */
  maxAgeMs?: number;
  /** Deliveries sent at once by this process. @defaultValue 16 */
  concurrency?: number;
  /**
   * Deliveries sent at once by this process to one slow receiver (a URL's origin), so a
   * receiver that hangs holds at most these slots and the others go on. @defaultValue half of `concurrency`
   */
  perSlowReceiver?: number;
  /**
   * A receiver is slow while a request to it has waited this long for its answer, or since its
   * last request did; a faster answer makes it fast again. Fast receivers may use every slot.
   * @defaultValue 1000, or half of `timeoutMs` when that is shorter
   */
  slowReceiverMs?: number;
  /**
   * How often the outbox is read when idle, for events other processes write (this process's
   * own writes wake the loop at once through `DeliveryStore.onDeliveriesWritten`).
   * @defaultValue 500
   */
  pollIntervalMs?: number;
  /**
   * How often `DeliveryStore.recover` runs (first at start): it applies transitions a crashed
   * writer committed but never applied, whose deliveries would otherwise wait for a reader.
   * @defaultValue 60000
   */
  recoverIntervalMs?: number;
  /** @defaultValue 4096 */
  maxResponseBytes?: number;
  observer?: DeliveryObserver;
  /** @defaultValue () => new Date() */
  clock?: () => Date;
}

type LoopState = 'stopped' | 'idle' | 'polling' | 'stopping';

/** The most receivers remembered slow (each a URL origin) before the set starts afresh. */
const MAX_SLOW_RECEIVERS = 1000;

const silent: SchedulerLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Sends the outbox. Runs in every server process: each delivery attempt is claimed through
 * a lease on the delivery itself, so processes sharing a database send each attempt once; a
 * process that dies mid-attempt leaves a lease that runs out, and the attempt is made again
 * (at least once). Wakes when this process writes a delivery, polls for other processes'.
 */
export class DeliveryLoop {
  private state: LoopState = 'stopped';
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Each attempt whose request is under way: its receiver and when it started (ms). */
  private readonly sending = new Map<string, { receiver: string; since: number }>();
  /** Receivers whose last answered request took `slowReceiverMs` or more. */
  private readonly slow = new Set<string>();
  private poll: Promise<void> | undefined;
  /** Aborted by `stop`: requests under way are given up, not waited for. */
  private stopping = new AbortController();
  private again = false;
  /**
   * The last read claimed all the room there was: more may be due, so the outbox is read
   * again once half the room is free (each read costs the same, a scan on FerretDB, whether
   * it claims one delivery or eight), not after every attempt. The room counted is what the
   * attempts hanging at slow receivers leave: they hold back no read.
   */
  private backlog = false;
  private readonly guard: TargetGuard;
  private readonly holder = randomUUID();
  private unsubscribe: (() => void) | undefined;
  /** When `recover` runs next, and from when the one after it reads (0: at the first poll, from `maxAgeMs` ago). */
  private nextRecoverAt = 0;
  private recoverSince: Date | undefined;
  private readonly o: Required<Omit<DeliveryLoopOptions, 'observer' | 'allowNetworks'>> & {
    observer: DeliveryObserver;
  };

  constructor(options: DeliveryLoopOptions) {
    this.guard = new TargetGuard(options.allowNetworks ?? []);
    this.o = {
      store: options.store,
      logger: options.logger ?? silent,
      timeoutMs: options.timeoutMs ?? 10_000,
      retryBaseMs: options.retryBaseMs ?? 5000,
      maxAttempts: options.maxAttempts ?? 20,
      maxAgeMs: options.maxAgeMs ?? 86_400_000,
      concurrency: options.concurrency ?? 16,
      perSlowReceiver: options.perSlowReceiver ?? Math.max(1, Math.ceil((options.concurrency ?? 16) / 2)),
      slowReceiverMs: options.slowReceiverMs ?? Math.min(1000, (options.timeoutMs ?? 10_000) / 2),
      pollIntervalMs: options.pollIntervalMs ?? 500,
      recoverIntervalMs: options.recoverIntervalMs ?? 60_000,
      maxResponseBytes: options.maxResponseBytes ?? 4096,
      observer: options.observer ?? {},
      clock: options.clock ?? (() => new Date()),
    };
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.state = 'idle';
    this.stopping = new AbortController();
    // One abort listener per request under way: as many as the sending slots.
    setMaxListeners(this.o.concurrency + 1, this.stopping.signal);
    this.unsubscribe = this.o.store.deliveries.onDeliveriesWritten(() => this.notify());
    this.notify();
  }

  /** Reads the outbox now (e.g. after an event was written), instead of at the next poll. */
  notify(): void {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    if (this.state === 'polling') {
      // Armed while a poll runs, so work that lands during it is not left for the next interval.
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.state = 'polling';
    this.poll = this.pollOnce().finally(() => {
      this.poll = undefined;
      if (this.state !== 'polling') return;
      this.state = 'idle';
      if (this.again) {
        this.again = false;
        this.notify();
      } else this.timer = setTimeout(() => this.notify(), this.o.pollIntervalMs);
    });
  }

  /**
   * Stops claiming, gives up the requests under way (a receiver that never answers must not
   * hold up a shutdown for the webhook timeout) and waits for answered attempts to be
   * recorded. A given-up attempt is not recorded: its lease runs out and it is made again.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearTimeout(this.timer);
    this.stopping.abort();
    await this.poll;
    await Promise.all(this.inFlight.values());
    this.state = 'stopped';
  }

  private async pollOnce(): Promise<void> {
    await this.recoverIfDue();
    const room = this.o.concurrency - this.inFlight.size;
    if (room <= 0) return;
    this.backlog = false;
    const slowBusy = this.slowReceiversBusy();
    let claimed: ClaimedDelivery[];
    try {
      claimed = await claimDeliveries(this.o.store, {
        limit: room,
        // Longer than an attempt can take, so a live sender keeps its lease to the end.
        leaseMs: this.o.timeoutMs * 2 + 5000,
        now: this.o.clock(),
        holder: this.holder,
        skip: new Set(this.inFlight.keys()),
        perReceiver: this.o.perSlowReceiver,
        capped: slowBusy,
      });
    } catch (error) {
      this.o.logger.error({ err: error }, 'reading the webhook outbox failed');
      return;
    }
    for (const claim of claimed) {
      this.sending.set(claim.entry.id, { receiver: receiverOf(claim.entry.url), since: performance.now() });
      const attempt = this.attempt(claim).finally(() => {
        this.inFlight.delete(claim.entry.id);
        this.sending.delete(claim.entry.id);
        // A finished attempt may have unblocked the run's next event.
        if (!this.backlog || this.halfTheRoomFree()) this.notify();
      });
      this.inFlight.set(claim.entry.id, attempt);
    }
    this.backlog = claimed.length === room;
  }

  /**
   * The request of an attempt is answered (or failed): how long it took says whether its
   * receiver is slow. Recording the outcome is not counted: a slow store is not a slow receiver.
   */
  private sent(id: string): void {
    const sending = this.sending.get(id);
    if (!sending) return;
    this.sending.delete(id);
    if (performance.now() - sending.since < this.o.slowReceiverMs) this.slow.delete(sending.receiver);
    // Bounded: past it, receivers are learnt slow again from their next slow attempt.
    else if (this.slow.add(sending.receiver).size > MAX_SLOW_RECEIVERS) this.slow.clear();
  }

  /** Half the slots that attempts to slow receivers leave to the others are free. */
  private halfTheRoomFree(): boolean {
    let slowHeld = 0;
    for (const n of this.slowReceiversBusy().values()) slowHeld += n;
    return this.inFlight.size - slowHeld <= (this.o.concurrency - slowHeld) / 2;
  }

  /** The slow receivers (see `slowReceiverMs`), with how many attempts to each are in flight. */
  private slowReceiversBusy(): Map<string, number> {
    const now = performance.now();
    const slow = new Set(this.slow);
    for (const { receiver, since } of this.sending.values()) {
      if (now - since >= this.o.slowReceiverMs) slow.add(receiver);
    }
    const busy = new Map([...slow].map((receiver) => [receiver, 0]));
    for (const { receiver } of this.sending.values()) {
      const n = busy.get(receiver);
      if (n !== undefined) busy.set(receiver, n + 1);
    }
    return busy;
  }

  private async attempt(claim: ClaimedDelivery): Promise<void> {
    const { entry } = claim;
    const started = this.o.clock();
    const result = await sendWebhook(entry, {
      guard: this.guard,
      timeoutMs: this.o.timeoutMs,
      maxResponseBytes: this.o.maxResponseBytes,
      now: started,
      signal: this.stopping.signal,
    });
    if (result.kind === 'abandoned') {
      this.sending.delete(entry.id);
      this.o.logger.info(
        { delivery_id: entry.id, run_id: entry.run_id, holder: this.holder },
        'webhook attempt given up: stopping (its lease runs out, and it is made again)',
      );
      return;
    }
    this.sent(entry.id);
    const now = this.o.clock();
    const outcome = this.outcome(entry, result, started, now);
    let recorded: boolean;
    try {
      // Also ends the delivery's lease; not if it was redelivered meanwhile (claimed as entry was).
      recorded = await this.o.store.deliveries.recordAttempt(entry.id, outcome, now, entry.updated_at);
    } catch (error) {
      // The lease runs out and the attempt is made again: at least once.
      this.o.logger.error({ err: error, delivery_id: entry.id }, 'recording a webhook attempt failed');
      return;
    }
    const fields = { delivery_id: entry.id, run_id: entry.run_id, attempts: outcome.attempts, holder: this.holder };
    if (!recorded) {
      this.o.logger.info({ ...fields, status: outcome.status }, 'webhook attempt not recorded: redelivered meanwhile');
      this.notify();
      return;
    }
    if (outcome.status === 'delivered') {
      this.o.observer.delivered?.(entry, now.getTime() - entry.created_at.getTime());
      this.o.logger.debug({ ...fields, status_code: outcome.status_code }, 'webhook delivered');
      return;
    }
    this.o.observer.failed?.(entry, outcome.error ?? '');
    if (outcome.status === 'dead') {
      this.o.observer.dead?.(entry);
      this.o.logger.warn({ ...fields, error: outcome.error }, 'webhook delivery dead (redeliver through the API)');
    } else {
      this.o.logger.info(
        { ...fields, error: outcome.error, next_attempt_at: outcome.next_attempt_at },
        'webhook failed',
      );
    }
  }

  /**
   * The first run reads back `maxAgeMs` (an older event's delivery would be dead anyway); each
   * later one from one interval before the previous run, so a revision stamped a little
   * before it was inserted is still seen.
   */
  private async recoverIfDue(): Promise<void> {
    const now = this.o.clock();
    if (now.getTime() < this.nextRecoverAt) return;
    this.nextRecoverAt = now.getTime() + this.o.recoverIntervalMs;
    const since = this.recoverSince ?? new Date(now.getTime() - this.o.maxAgeMs);
    try {
      const repaired = await this.o.store.deliveries.recover(since, now);
      this.recoverSince = new Date(now.getTime() - this.o.recoverIntervalMs);
      if (repaired.applied > 0 || repaired.swept > 0)
        this.o.logger.info({ ...repaired, holder: this.holder }, 'webhook outbox repaired after a crashed process');
    } catch (error) {
      this.o.logger.error({ err: error }, 'repairing the webhook outbox failed');
    }
  }

  private outcome(
    entry: OutboxEntry,
    result: Exclude<SendResult, { kind: 'abandoned' }>,
    started: Date,
    now: Date,
  ): DeliveryOutcome {
    const attempts = entry.attempts + 1;
    if (result.kind === 'delivered') {
      return { status: 'delivered', attempts, attempted_at: started, status_code: result.status };
    }
    const failure = { attempts, attempted_at: started, status_code: result.status, error: result.error };
    if (result.permanent || attempts >= this.o.maxAttempts) return { status: 'dead', ...failure };
    const next = new Date(now.getTime() + retryDelayMs(attempts, this.o.retryBaseMs));
    if (next.getTime() - entry.created_at.getTime() > this.o.maxAgeMs) return { status: 'dead', ...failure };
    return { status: 'failing', ...failure, next_attempt_at: next };
  }
}

/** The wait after failed attempt n (1-based): the step for n, scaled, +-20% jitter. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const step = RETRY_STEPS[Math.min(attempt, RETRY_STEPS.length) - 1];
  return Math.round(step * baseMs * (0.8 + 0.4 * random()));
}
