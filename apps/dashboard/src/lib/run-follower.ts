import type { EventJson, GyozaClient } from '@gyoza/client';

/** Events that do not move a run from one state to another. */
const NOT_LIFECYCLE = new Set(['LOG', 'INFO']);
/** Events reach the page at most this often: a long history arrives in a few renders, not one per event. */
const BATCH_MS = 100;
/** The first pause before following again after a failure; each failure in a row doubles it. */
export const FIRST_PAUSE_MS = 1000;
/** The longest pause between two tries. */
export const MAX_PAUSE_MS = 15_000;

export interface RunFollowerHandlers {
  /** Events after the last one seen, in order, a batch at a time. */
  events(fresh: EventJson[]): void;
  /** A batch held a state change, or the follow ended (the run is final): read the run again. */
  lifecycle(): void;
  /** The follow failed (it is tried again after a pause), or, with `undefined`, it works again. */
  error(error: unknown): void;
}

/**
 * Follows one run's events until it is final, through `client.followEvents`. When the follow
 * fails (the server restarted, the network dropped) it starts again after a pause that grows
 * from 1 s to 15 s, after the last event seen, so no event is shown twice or missed.
 * `seen.last` is shared with the page: a follower started later resumes where this one stopped.
 */
export class RunFollower {
  private readonly abort = new AbortController();
  private batch: EventJson[] = [];
  private lifecycleInBatch = false;
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pauseMs = FIRST_PAUSE_MS;
  private failed = false;

  constructor(
    private readonly client: GyozaClient,
    private readonly runId: string,
    private readonly seen: { last: number },
    private readonly handlers: RunFollowerHandlers,
  ) {}

  start(): void {
    this.follow().catch((error: unknown) => this.failedWith(error));
  }

  /** Stops following; what was read is handed over first. */
  stop(): void {
    this.flush();
    this.abort.abort();
    clearTimeout(this.retryTimer);
  }

  private async follow(): Promise<void> {
    const { signal } = this.abort;
    if (this.failed) {
      // The server answers again: say so now, even if the run has nothing new to show yet.
      await this.client.getRun(this.runId, signal);
      this.recovered();
    }
    for await (const event of this.client.followEvents(this.runId, {
      signal,
      after: this.seen.last,
      outages: 'throw',
    })) {
      if (event.index <= this.seen.last) continue;
      this.seen.last = event.index;
      this.recovered();
      this.batch.push(event);
      if (!NOT_LIFECYCLE.has(event.type)) this.lifecycleInBatch = true;
      this.batchTimer ??= setTimeout(() => {
        if (this.flush()) this.handlers.lifecycle();
      }, BATCH_MS);
    }
    this.flush();
    this.recovered();
    this.handlers.lifecycle();
  }

  /** Hands the batch over; true when it held a state change. */
  private flush(): boolean {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const fresh = this.batch;
    const lifecycle = this.lifecycleInBatch;
    this.batch = [];
    this.lifecycleInBatch = false;
    if (fresh.length === 0 || this.abort.signal.aborted) return false;
    this.handlers.events(fresh);
    return lifecycle;
  }

  private failedWith(error: unknown): void {
    if (this.abort.signal.aborted) return;
    // Events read before the failure are shown; the next try starts after them.
    if (this.flush()) this.handlers.lifecycle();
    this.failed = true;
    this.handlers.error(error);
    this.retryTimer = setTimeout(() => this.start(), this.pauseMs);
    this.pauseMs = Math.min(this.pauseMs * 2, MAX_PAUSE_MS);
  }

  private recovered(): void {
    if (!this.failed) return;
    this.failed = false;
    this.pauseMs = FIRST_PAUSE_MS;
    this.handlers.error(undefined);
  }
}
