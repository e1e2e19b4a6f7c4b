import type {
  Heartbeat,
  ImageLocality,
  OpDefinition,
  OpRun,
  Reservation,
  RunEvent,
  RunEventDraft,
  RunState,
  Transition,
  Worker,
  WorkerStatus,
} from '@gyoza/domain';
import type { DeliveryStore } from './outbox';

/**
 * Persistence ports. Adapters (SQLite, MongoDB) implement these; the scheduler and the API
 * use nothing else. Every time is passed in (`now`) so tests drive the clock.
 */

export interface DefinitionStore {
  /**
   * Inserts, or replaces the entry with the same (id, version) while keeping its stored
   * `created_at` (so re-deploying an old version does not make it "latest"). Returns what is stored.
   */
  putDefinition(definition: OpDefinition): Promise<OpDefinition>;
  /** A version, or the latest (most recently created; ties: greatest version string). */
  getDefinition(id: string, version?: string): Promise<OpDefinition | null>;
  /** The latest version of every definition id, ordered by id. */
  listDefinitions(): Promise<OpDefinition[]>;
  /** Every version of one id, newest first. */
  listDefinitionVersions(id: string): Promise<OpDefinition[]>;
  /** Deletes one version, or every version when `version` is omitted; returns how many went. */
  deleteDefinition(id: string, version?: string): Promise<number>;
}

export interface RunQuery {
  state?: RunState | RunState[];
  definition_id?: string;
  worker_id?: string;
  /** Only runs whose `not_before` is set and <= this time (due retries). */
  due_before?: Date;
  /** Only runs created at or after this time. */
  created_after?: Date;
  /** Only runs created before this time. */
  created_before?: Date;
  /** Page size; adapters cap it at 1000. Default 100. */
  limit?: number;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string;
}

/** Newest first (created_at desc, id desc). `next_cursor` is absent on the last page. */
export interface RunPage {
  runs: OpRun[];
  next_cursor?: string;
}

export interface CreatedRun {
  run: OpRun;
  /** False when a run with the same idempotency key already existed; `run` is that run. */
  created: boolean;
}

export interface SavedTransition {
  run: OpRun;
  events: RunEvent[];
}

export interface EventQuery {
  /** Only events with index > after. */
  after?: number;
  /** Default 1000. */
  limit?: number;
}

export interface RunStore {
  /** Inserts a new run (rev 0 -> stored as 1) and its events. Honors `run.idempotency_key`. */
  createRun(transition: Transition, now: Date): Promise<CreatedRun>;
  getRun(id: string): Promise<OpRun | null>;
  /** The run created with this idempotency key, or null. */
  getRunByIdempotencyKey(key: string): Promise<OpRun | null>;
  listRuns(query: RunQuery): Promise<RunPage>;
  /**
   * Saves a transition computed from the run at `transition.run.rev`: the write happens
   * only if the stored rev is still that one (then rev + 1), and its events are appended in
   * the same step. Otherwise throws ConcurrentModificationError and writes nothing.
   * Unknown run -> NotFoundError.
   */
  saveTransition(transition: Transition, now: Date): Promise<SavedTransition>;
  /**
   * Appends events that do not change the run (LOG, INFO) without touching its rev. `check`
   * sees the run as the events are written and refuses them by throwing (a report on a run
   * that finished meanwhile): on SQLite in the same transaction, on MongoDB just before.
   */
  appendEvents(runId: string, events: RunEventDraft[], now: Date, check?: (run: OpRun) => void): Promise<RunEvent[]>;
  /** Events in index order. Unknown run -> NotFoundError. */
  listEvents(runId: string, query?: EventQuery): Promise<RunEvent[]>;
  /** What ASSIGNED and RUNNING runs hold on a worker (server truth for fit). */
  listReservations(workerId: string): Promise<Reservation[]>;
  /**
   * The same capacity as `listReservations`, summed (`totalsAsReservations`: one entry for
   * CPU and RAM, one per GPU holding VRAM, `run_id` empty), for callers that need what is
   * free, not which run holds it. Costs about the worker's GPU count, not its runs.
   */
  reservedTotals(workerId: string): Promise<Reservation[]>;
  /** Ids of the worker's ASSIGNED and RUNNING runs (nothing decoded). */
  listHeldRunIds(workerId: string): Promise<string[]>;
  /**
   * Optional: `heldRunsDigest` of the same ids (count and XOR of their hashes), what a
   * heartbeat's `held_digest` is compared with, kept with the runs so that it costs O(1).
   * Callers go through `heldDigestOf`, which computes it from the ids when it is absent.
   */
  heldDigest?(workerId: string): Promise<string>;
  /**
   * Optional: the ids of the workers holding ASSIGNED or RUNNING runs, from kept data
   * (O(workers), no run read). Callers go through `holdingWorkerIdsOf`, which scans held runs
   * when it is absent.
   */
  listHoldingWorkerIds?(): Promise<string[]>;
  /**
   * Optional: the RUNNING runs whose `constraints.timeout_seconds` has passed since
   * `started_at` at `now` (strictly), read from kept data (only the due runs). Callers go
   * through `timedOutRunsOf`, which scans RUNNING runs when it is absent.
   */
  listTimedOutRuns?(now: Date): Promise<OpRun[]>;
  countRunsByState(): Promise<Record<RunState, number>>;
}

export interface WorkerStore {
  /**
   * Registers or refreshes a worker; an evicted worker becomes active again. A heartbeat
   * without `running_ops` says the worker runs what the server holds on it: the worker's
   * `running_ops` then reads as its held runs (`listHeldRunIds`), at this heartbeat or later.
   */
  heartbeat(heartbeat: Heartbeat, now: Date): Promise<Worker>;
  getWorker(id: string): Promise<Worker | null>;
  listWorkers(status?: WorkerStatus): Promise<Worker[]>;
  /**
   * Evicts the worker only if it is active and its last heartbeat is older than
   * `silentSince` (a conditional update, so concurrent reapers and a fresh heartbeat are
   * safe). Returns true when this call evicted it.
   */
  evictWorker(id: string, silentSince: Date, now: Date): Promise<boolean>;
}

/** One choice of the planner: assign this run to the worker on these GPUs. */
export interface ClaimChoice {
  run_id: string;
  gpu_ids: number[];
}

export interface ClaimContext {
  worker: Worker;
  /**
   * What the worker already holds, summed (`totalsAsReservations`, or one entry per run),
   * read in the same critical section as the candidates: what a planner computes free
   * capacity from.
   */
  reserved: Reservation[];
  /**
   * The same, one entry per run, read (in the same critical section) only when a planner
   * asks for it: it costs a read of every run the worker holds.
   */
  readonly reservations: Reservation[];
  /** PENDING runs in claim order: priority desc, created_at asc, id asc. */
  candidates: OpRun[];
  limit: number;
  /** `ClaimRequest.locality`, passed through for the planner. */
  locality?: ImageLocality;
}

/** Pure and synchronous: the scheduler's strategy, called inside the adapter's claim. */
export type ClaimPlanner = (context: ClaimContext) => ClaimChoice[];

export interface ClaimRequest {
  worker_id: string;
  limit: number;
  now: Date;
  plan: ClaimPlanner;
  /** How many candidates to consider at most per claim (bounds the cost). Default 500. */
  scan?: number;
  /**
   * Which other workers hold which images, for a planner that leaves a run for a while to a
   * worker that holds its image; the store only hands it to the planner.
   */
  locality?: ImageLocality;
}

export interface ClaimStore {
  /**
   * Atomically moves the chosen PENDING runs to ASSIGNED with their reservations and
   * appends their ASSIGNED events. Two concurrent claims, from any processes sharing the
   * database, never get the same run and never over-commit the worker or a GPU. Candidates
   * that cannot fit the worker's free CPU, RAM, GPU count or largest free VRAM may be
   * filtered out by the query. Unknown worker -> NotFoundError; evicted ->
   * WorkerNotActiveError. Returns the runs as assigned (possibly fewer than chosen if a
   * race took some).
   */
  claimRuns(request: ClaimRequest): Promise<OpRun[]>;
  /**
   * Optional: a cheap value that changes whenever a claim could find something new (a run
   * created or changing state, a worker written) by another connection sharing the database,
   * and does not change for this connection's own writes: the process announces those itself
   * (both adapters have it; the store contract holds them to it). Waiting claims poll it and
   * claim again only when it moved; without it they claim on every poll.
   */
  claimVersion?(): Promise<number>;
}

export interface LeaseStore {
  /**
   * Takes or renews the named lease for `holder` until now + ttl. Returns true when
   * `holder` holds it afterwards (used to elect one reaper among server processes).
   */
  acquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
}

export interface Store {
  readonly kind: string;
  definitions: DefinitionStore;
  runs: RunStore;
  workers: WorkerStore;
  claims: ClaimStore;
  leases: LeaseStore;
  /** The webhook outbox (`outbox.ts`). */
  deliveries: DeliveryStore;
  close(): Promise<void>;
}
