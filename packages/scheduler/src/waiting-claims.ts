import type { OpRun, RunState } from '@gyoza/domain';

/**
 * What a change made claimable, for `Scheduler.notifyRunnable`: runs that became PENDING
 * (any waiting claim may take them) and workers on which capacity was freed (only their own
 * claims can use it).
 */
export interface RunnableChange {
  /** How many runs became PENDING. */
  runs?: number;
  /** Workers that stopped holding a run. */
  freedOn?: readonly string[];
}

const holds = (state: RunState) => state === 'ASSIGNED' || state === 'RUNNING';

/**
 * The change a saved transition made, from the run before and after it; undefined when it
 * made nothing claimable (progress, a log line, a cancelled PENDING run).
 */
export function runnableChange(before: Pick<OpRun, 'state' | 'worker_id'>, after: OpRun): RunnableChange | undefined {
  const runs = after.state === 'PENDING' && before.state !== 'PENDING' ? 1 : 0;
  const freed = holds(before.state) && !(holds(after.state) && after.worker_id === before.worker_id);
  if (runs === 0 && !freed) return undefined;
  return { runs, freedOn: freed && before.worker_id !== undefined ? [before.worker_id] : [] };
}

/**
 * A waiting claim woken to look at newly announced runs, and how many other waiting claims
 * it may pass the wake on to when it finds none it can take (it does not fit them, or
 * another claim was first).
 */
export interface Relay {
  hops: number;
  limit: number;
}

/** One armed wait of a long-polling claim. */
export interface Wait {
  readonly promise: Promise<void>;
}

interface Waiter extends Wait {
  readonly workerId: string;
  readonly limit: number;
  /** The store's claim version the claim saw before it claimed (undefined: no version). */
  readonly seenVersion?: number;
  relay?: Relay;
  wake(): void;
  signal?: AbortSignal;
}

/**
 * The long-polling claims of one process, and whom to wake for what.
 *
 * Runs that become PENDING wake only as many waiting claims as their limits cover, longest
 * waiting first (a create wakes one claim, not all of them); a woken claim that finds nothing
 * it can take passes the wake on to the next, at most once around, while announced runs are
 * left that no woken claim is about to look at. Capacity freed on a worker wakes only that
 * worker's claims. A notice that does not say what changed (the reaper's, `stop`'s, an
 * unreadable peer message) wakes every claim. The counts are a guide, not a ledger: runs another process
 * claims are not subtracted here, which costs a few claims that find nothing, never a run
 * left waiting, since an exhausted relay resets the count and the claims' own re-checks
 * remain the safety net.
 */
export class WaitingClaims {
  /** In arming order: the first is the claim that has waited longest. */
  private readonly waiting = new Set<Waiter>();
  /** Runs announced as PENDING and not yet seen taken by a claim of this process. */
  private unclaimed = 0;
  /** The limits of claims woken for announced runs that have not claimed yet. */
  private promised = 0;

  /** Arms a wait before a claim, so a change that lands while the claim runs is not missed. */
  arm(workerId: string, limit: number, signal?: AbortSignal, seenVersion?: number): Wait {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    const waiter: Waiter = { workerId, limit, seenVersion, promise, signal, wake: resolve };
    this.waiting.add(waiter);
    signal?.addEventListener('abort', resolve, { once: true });
    return waiter;
  }

  /** Ends a wait; answers the relay it was woken with, which the caller's next claim settles. */
  disarm(wait: Wait): Relay | undefined {
    const waiter = wait as Waiter;
    this.waiting.delete(waiter);
    waiter.signal?.removeEventListener('abort', waiter.wake);
    const relay = waiter.relay;
    waiter.relay = undefined;
    return relay;
  }

  /** Ends a wait whose claim will not look again (it answers, or failed): a wake it got passes on. */
  abandon(wait: Wait): void {
    this.claimed(0, this.disarm(wait));
  }

  /**
   * Accounts a claim attempt: `took` runs, after being woken with `relay` (if it was). A relayed
   * claim releases what it promised and, when announced runs are still unaccounted for, wakes
   * the next waiting claim.
   */
  claimed(took: number, relay?: Relay): void {
    this.unclaimed = Math.max(0, this.unclaimed - took);
    if (!relay) return;
    this.promised = Math.max(0, this.promised - relay.limit);
    if (took > 0 || relay.hops > 0) {
      this.relay(took > 0 ? this.waiting.size : relay.hops);
      return;
    }
    // Around once and nobody took them: they fit no waiting claim (or were taken elsewhere).
    this.unclaimed = Math.min(this.unclaimed, this.promised);
  }

  /** Wakes claims for a change; without one, every claim. */
  notify(change?: RunnableChange): void {
    if (!change) {
      this.wakeWhere(() => true);
      return;
    }
    const freed = change.freedOn ?? [];
    if (freed.length > 0) this.wakeWhere((waiter) => freed.includes(waiter.workerId));
    const runs = change.runs ?? 0;
    if (runs > 0) {
      this.unclaimed += runs;
      this.relay(this.waiting.size);
    }
  }

  /** Wakes the claims that saw a claim version other than `version`; answers how many still wait on one. */
  wakeStale(version: number | undefined): number {
    this.wakeWhere((waiter) => waiter.seenVersion !== undefined && waiter.seenVersion !== version);
    let versioned = 0;
    for (const waiter of this.waiting) if (waiter.seenVersion !== undefined) versioned++;
    return versioned;
  }

  /** Wakes waiting claims, longest waiting first, until their limits cover the announced runs. */
  private relay(hops: number): void {
    for (const waiter of this.waiting) {
      if (this.unclaimed <= this.promised || hops <= 0) return;
      hops--;
      this.promised += waiter.limit;
      this.waiting.delete(waiter);
      waiter.relay = { hops, limit: waiter.limit };
      waiter.wake();
    }
  }

  private wakeWhere(test: (waiter: Waiter) => boolean): void {
    for (const waiter of [...this.waiting]) {
      if (!test(waiter)) continue;
      this.waiting.delete(waiter);
      waiter.wake();
    }
  }
}
