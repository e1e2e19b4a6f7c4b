import { randomUUID } from 'node:crypto';
import { type Heartbeat, type ImageLocality, type OpRun, ValidationError, type Worker } from '@gyoza/domain';
import { heldDigestOf, type Store } from '@gyoza/store';
import { ImageHolderCache } from './image-holders';
import { explainPending } from './pending-reason';
import { type ReapResult, reapOnce } from './reaper';
import { type ReconcileResult, reconcileWorker } from './reconcile';
import { bestFitStrategy, type SchedulingStrategy } from './strategy';
import { type Relay, type RunnableChange, runnableChange, type Wait, WaitingClaims } from './waiting-claims';

/** pino-compatible. */
export interface SchedulerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SchedulerOptions {
  /** Where runs, workers and the reaper lease live (required). */
  store: Store;
  /**
   * How GPUs are picked for a run that fits.
   * @defaultValue `bestFitStrategy`
   */
  strategy?: SchedulingStrategy;
  /**
   * The time used for state changes (tests drive it); long-poll waits use real time.
   * @defaultValue `() => new Date()`
   */
  clock?: () => Date;
  /**
   * pino-compatible; gets each reaper pass that did something and each reaper failure.
   * @defaultValue none (nothing is logged)
   */
  logger?: SchedulerLogger;
  /**
   * Workers silent this long are evicted.
   * @defaultValue 60
   */
  workerTimeoutSeconds?: number;
  /**
   * How often a long-poll re-checks the store for work created by other processes. With a
   * store that offers `claimVersion`, waiting claims are woken by `versionPollMs` instead and
   * this is only a safety net (at least 1 s apart).
   * @defaultValue 100
   */
  pollIntervalMs?: number;
  /**
   * How often one shared timer reads the store's `claimVersion` while claims wait; a claim
   * is retried only when the version moved past the one it saw. Unused with stores without one.
   * The fallback for changes no notice told this process about (another server on the same
   * database): this process's own changes wake at once (`notifyRunnable`), and so do those of
   * its peers when `announce` carries them over (`wakeFromPeer`).
   * @defaultValue 50
   */
  versionPollMs?: number;
  /**
   * Called (at most once per event-loop turn) after `notifyRunnable`, with the changes of that
   * turn together (undefined: wake every claim), to tell other processes sharing the store
   * (node:cluster IPC) so they call `wakeFromPeer` with it.
   * @defaultValue none
   */
  announce?: (change: RunnableChange | undefined) => void;
  /**
   * Reaper period; the reaper lease lasts five periods (at least 5 s).
   * @defaultValue 1000
   */
  reaperIntervalMs?: number;
  /**
   * This process's name in the reaper lease.
   * @defaultValue `scheduler-<random UUID>`
   */
  holderId?: string;
  /**
   * Image locality: a worker that lacks a run's image leaves the run, for up to this long
   * after it became PENDING, to another active worker that holds the image and could run it;
   * a worker that holds it takes it at once, and after this anyone does. 0 turns it off.
   * @defaultValue 10
   */
  imageLocalityWaitSeconds?: number;
}

export interface ClaimOptions {
  /**
   * How many runs to take at most (1..`MAX_CLAIM_LIMIT`).
   * @defaultValue 1
   */
  limit?: number;
  /**
   * Long poll: wait up to this long (0..`MAX_WAIT_SECONDS`) for work when none fits now.
   * @defaultValue 0 (answer at once)
   */
  waitSeconds?: number;
  /**
   * Ends a long poll early (the caller hung up).
   * @defaultValue none
   */
  signal?: AbortSignal;
}

/** What a heartbeat did: the worker as stored, and how its runs were reconciled. */
export interface HeartbeatResult extends ReconcileResult {
  worker: Worker;
  /**
   * Set when the heartbeat sent a held digest instead of its run ids: the server's digest of
   * what it holds on the worker, and whether the two differed (then nothing was reconciled
   * and the worker should list its runs in its next heartbeat).
   */
  digest?: { held: string; running_ops_wanted: boolean };
}

export const MAX_CLAIM_LIMIT = 100;
export const MAX_WAIT_SECONDS = 60;

export class Scheduler {
  readonly strategy: SchedulingStrategy;
  private readonly store: Store;
  private readonly clock: () => Date;
  private readonly logger?: SchedulerLogger;
  private readonly workerTimeoutSeconds: number;
  private readonly pollIntervalMs: number;
  private readonly versionPollMs: number;
  private readonly announce?: (change: RunnableChange | undefined) => void;
  /** The changes of this event-loop turn not yet announced; `all` when one did not say. */
  private unannounced?: { all: boolean; runs: number; freedOn: Set<string> };
  private readonly waiting = new WaitingClaims();
  private versionTimer?: NodeJS.Timeout;
  private readonly reaperIntervalMs: number;
  private readonly holderId: string;
  private readonly imageLocalityWaitSeconds: number;
  private readonly imageHolders: ImageHolderCache;
  private timer?: NodeJS.Timeout;
  private reaping?: Promise<unknown>;
  private stopped = false;
  /**
   * Since when this process has been watching workers without a gap: silence before it
   * may be the server's own outage, so evictions wait a full timeout past it.
   */
  private watchingSince: Date;
  /** Monotonic time of the last pass that completed, to notice gaps in the loop. */
  private lastPassMs?: number;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.strategy = options.strategy ?? bestFitStrategy;
    this.clock = options.clock ?? (() => new Date());
    this.logger = options.logger;
    this.workerTimeoutSeconds = options.workerTimeoutSeconds ?? 60;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.versionPollMs = options.versionPollMs ?? 50;
    this.announce = options.announce;
    this.reaperIntervalMs = options.reaperIntervalMs ?? 1000;
    this.holderId = options.holderId ?? `scheduler-${randomUUID()}`;
    this.imageLocalityWaitSeconds = options.imageLocalityWaitSeconds ?? 10;
    this.imageHolders = new ImageHolderCache(this.store, 2000, (error) =>
      this.logger?.warn({ err: error }, 'could not read which workers hold which images'),
    );
    this.watchingSince = this.clock();
  }

  /**
   * Claims up to `limit` pending runs for the worker. With `waitSeconds`, waits until work
   * that fits appears: at once when this process or a peer that announces creates or frees
   * something (`notifyRunnable`, `wakeFromPeer`); when another server does, within
   * `versionPollMs` with a store that has `claimVersion`, else within `pollIntervalMs`.
   */
  async claim(workerId: string, options: ClaimOptions = {}): Promise<OpRun[]> {
    const limit = options.limit ?? 1;
    const waitSeconds = options.waitSeconds ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM_LIMIT) {
      throw ValidationError.field('limit', `must be an integer from 1 to ${MAX_CLAIM_LIMIT}`);
    }
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
      throw ValidationError.field('wait_seconds', `must be a number from 0 to ${MAX_WAIT_SECONDS}`);
    }
    const deadline = Date.now() + waitSeconds * 1000;
    const versioned = waitSeconds > 0 && this.store.claims.claimVersion !== undefined;
    const recheckMs = versioned ? Math.max(this.pollIntervalMs, 1000) : this.pollIntervalMs;
    /** Set when this claim was woken to look at announced runs (see WaitingClaims). */
    let relay: Relay | undefined;
    for (;;) {
      let wait: Wait | undefined;
      let runs: OpRun[] = [];
      try {
        // Read and armed before the claim, so a change or a notify that lands while the claim
        // runs is not missed.
        const seen = versioned ? await this.store.claims.claimVersion?.() : undefined;
        wait = this.waiting.arm(workerId, limit, options.signal, seen);
        const now = this.clock();
        runs = await this.store.claims.claimRuns({
          worker_id: workerId,
          limit,
          now,
          plan: (context) => this.strategy.plan(context),
          locality: await this.imageLocality(now),
        });
      } catch (error) {
        if (wait) this.waiting.abandon(wait);
        throw error;
      } finally {
        // Also when the claim failed: a wake it was given passes on rather than being lost.
        this.waiting.claimed(runs.length, relay);
      }
      const left = deadline - Date.now();
      if (runs.length > 0 || left <= 0 || this.stopped || options.signal?.aborted) {
        // Woken for runs while claiming and answering now: the next waiting claim looks instead.
        this.waiting.abandon(wait);
        return runs;
      }
      if (versioned) this.watchVersion();
      let recheck: NodeJS.Timeout | undefined;
      await Promise.race([
        wait.promise,
        new Promise<void>((resolve) => {
          recheck = setTimeout(resolve, Math.min(left, recheckMs));
        }),
      ]);
      // Woken before it: the timer goes now rather than live on for up to recheckMs.
      clearTimeout(recheck);
      relay = this.waiting.disarm(wait);
      if (options.signal?.aborted) {
        // The worker hung up while waiting: nothing is claimed for it, and a wake it was given
        // passes on to the next waiting claim.
        this.waiting.claimed(0, relay);
        return [];
      }
    }
  }

  /**
   * Records a heartbeat and reconciles the worker's runs with its `running_ops`
   * (`reconcileWorker`): runs it no longer holds are taken back, runs it should not run are
   * answered in `stop_runs`. Wakes the worker's own waiting claims (it may be back from
   * eviction or have more room) and, for runs it gave back, as many others as can take them.
   */
  async heartbeat(heartbeat: Heartbeat, options: { heldDigest?: string } = {}): Promise<HeartbeatResult> {
    if (heartbeat.running_ops === undefined && options.heldDigest !== undefined) {
      return this.heartbeatWithDigest(heartbeat, options.heldDigest);
    }
    const previous = await this.store.workers.getWorker(heartbeat.worker_id);
    const now = this.clock();
    const worker = await this.store.workers.heartbeat(heartbeat, now);
    const result = await reconcileWorker({
      store: this.store,
      worker,
      previousHeartbeatAt: previous?.last_heartbeat_at,
      now,
    });
    for (const { id, error } of result.failed) {
      this.logger?.error({ err: error, id, worker: worker.id }, 'reconciliation skipped a run');
    }
    if (result.unassigned.length + result.lost.length > 0) {
      this.logger?.warn(
        { worker: worker.id, unassigned: result.unassigned, lost: result.lost },
        'took back runs the worker did not list in its heartbeat',
      );
    }
    this.imageHolders.noteWorker(worker);
    this.notifyRunnable({ runs: result.unassigned.length, freedOn: [worker.id] });
    return { worker, ...result };
  }

  /**
   * A heartbeat that sends the digest of the runs the worker runs (`heldRunsDigest`) instead
   * of their ids. Equal to the server's: the worker runs what the server holds on it, nothing
   * to reconcile, O(1) whatever it holds; its `running_ops` read as the held runs. Different:
   * nothing is taken back on a digest (a claim's answer may still be on its way) and its
   * `running_ops` are empty, unknown, rather than the held runs it may not have; the answer
   * asks for the list, which the next heartbeat brings and `reconcileWorker` settles as always.
   */
  private async heartbeatWithDigest(heartbeat: Heartbeat, digest: string): Promise<HeartbeatResult> {
    const now = this.clock();
    const held = await heldDigestOf(this.store.runs, heartbeat.worker_id);
    const worker = await this.store.workers.heartbeat(
      { ...heartbeat, running_ops: held === digest ? undefined : [] },
      now,
    );
    this.imageHolders.noteWorker(worker);
    this.notifyRunnable({ freedOn: [worker.id] });
    return {
      worker,
      stop_runs: [],
      unassigned: [],
      lost: [],
      failed: [],
      digest: { held, running_ops_wanted: held !== digest },
    };
  }

  /**
   * Wakes the waiting claims a change concerns, this process's and, through `announce`, its
   * peers': runs created or re-queued wake as many claims as can take them, capacity freed on
   * a worker wakes that worker's claims; without a change, every claim wakes.
   */
  notifyRunnable(change?: RunnableChange): void {
    this.wakeFromPeer(change);
    if (!this.announce || this.stopped) return;
    // Changes of one turn (creates arriving together) make one notice, not one each.
    const pending = this.unannounced ?? { all: false, runs: 0, freedOn: new Set<string>() };
    const first = pending !== this.unannounced;
    this.unannounced = pending;
    if (!change) pending.all = true;
    pending.runs += change?.runs ?? 0;
    for (const id of change?.freedOn ?? []) pending.freedOn.add(id);
    if (!first) return;
    setImmediate(() => {
      const { all, runs, freedOn } = pending;
      this.unannounced = undefined;
      try {
        this.announce?.(all ? undefined : { runs, freedOn: [...freedOn] });
      } catch (error) {
        this.logger?.warn({ err: error }, 'could not tell the other processes');
      }
    });
  }

  /**
   * `notifyRunnable` for a saved transition, from the run before and after it: wakes nothing
   * when the transition made nothing claimable.
   */
  notifySaved(before: Pick<OpRun, 'state' | 'worker_id'>, after: OpRun): void {
    const change = runnableChange(before, after);
    if (change) this.notifyRunnable(change);
  }

  /** Wakes this process's waiting claims only: another process created or freed something. */
  wakeFromPeer(change?: RunnableChange): void {
    this.waiting.notify(change);
  }

  /**
   * One timer for all waiting claims of this process: reads the store's version every
   * `versionPollMs` while any wait, and wakes those that saw an older one.
   */
  private watchVersion(): void {
    if (this.versionTimer || this.stopped) return;
    const tick = async () => {
      let versioned = 0;
      try {
        versioned = this.waiting.wakeStale(await this.store.claims.claimVersion?.());
      } catch (error) {
        this.logger?.warn({ err: error }, 'could not read the claim version');
        versioned = 1;
      }
      this.versionTimer = undefined;
      if (versioned > 0 && !this.stopped) this.versionTimer = setTimeout(tick, this.versionPollMs);
    };
    this.versionTimer = setTimeout(tick, this.versionPollMs);
  }

  pendingReason(run: OpRun): Promise<string | undefined> {
    return explainPending(this.store, run, { now: this.clock(), waitSeconds: this.imageLocalityWaitSeconds });
  }

  /** Which other workers hold which images, for the claim's planner; none when locality is off. */
  private async imageLocality(now: Date): Promise<ImageLocality | undefined> {
    if (this.imageLocalityWaitSeconds <= 0) return undefined;
    return { holders: await this.imageHolders.current(), waitSeconds: this.imageLocalityWaitSeconds, now };
  }

  /**
   * One reaper pass. No worker is evicted until a full worker timeout has passed since this
   * scheduler started watching (its creation, or the end of a gap in its loop): after a
   * server outage, heartbeat times in the store are old through no fault of the workers.
   */
  async reap(): Promise<ReapResult> {
    const result = await reapOnce({
      store: this.store,
      now: this.clock(),
      holderId: this.holderId,
      workerTimeoutSeconds: this.workerTimeoutSeconds,
      leaseTtlMs: Math.max(this.reaperIntervalMs * 5, 5000),
      evictNotBefore: new Date(this.watchingSince.getTime() + this.workerTimeoutSeconds * 1000),
    });
    for (const { id, error } of result.failed) this.logger?.error({ err: error, id }, 'reaper skipped a run or worker');
    const changed = result.evicted.length + result.unassigned.length + result.lost.length + result.timed_out.length;
    if (changed + result.retried.length > 0) {
      this.logger?.info({ ...result }, 'reaper pass');
      this.notifyRunnable();
    }
    return result;
  }

  /** Starts the reaper loop. */
  start(): void {
    if (this.timer || this.stopped) return;
    // A pass that could not run for this long (event loop stalled, process suspended, store
    // unreachable) is a gap: heartbeats were likely not recorded either, so the grace restarts.
    const gapMs = Math.max(this.reaperIntervalMs * 5, 5000);
    const tick = () => {
      if (this.lastPassMs !== undefined && performance.now() - this.lastPassMs > gapMs) {
        this.watchingSince = this.clock();
        this.logger?.warn({ gap_ms: Math.round(performance.now() - this.lastPassMs) }, 'reaper resumed after a gap');
      }
      this.reaping = this.reap()
        .then(() => {
          this.lastPassMs = performance.now();
        })
        .catch((error: unknown) => this.logger?.error({ err: error }, 'reaper pass failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.reaperIntervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  /** Stops the loop and answers waiting claims with nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.versionTimer) clearTimeout(this.versionTimer);
    this.notifyRunnable();
    await this.reaping;
    await this.store.leases.releaseLease('reaper', this.holderId).catch(() => undefined);
  }
}
