import type {
  Constraints,
  ConstraintsInput,
  EventDelivery,
  FreeCapacity,
  FreeGpu,
  Gpu,
  ImagePullPolicy,
  Inputs,
  OpAttempt,
  OpDefinition,
  OpDefinitionInput,
  OpRun,
  RetryPolicyInput,
  RunEventDraft,
  RunState,
  Worker,
  WorkerEvent,
} from '@gyoza/domain';

// The API's answers are the domain's types as JSON carries them: dates become ISO-8601
// strings. Deriving them keeps the client from drifting away from the server.

export type { OpDefinitionInput, RunState };

/** A domain value after JSON.stringify: dates are strings, everything else as it was. */
export type Json<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/** Event delivery as answers show it: the webhook secret is never sent back, only whether one is set. */
export type EventDeliveryJson = Omit<EventDelivery, 'secret'> & { has_secret: boolean };

export type DefinitionJson = Json<Omit<OpDefinition, 'event_delivery'>> & { event_delivery: EventDeliveryJson };
export type AttemptJson = Json<OpAttempt>;

/**
 * A run without its storage revision or webhook secret; `pending_reason` is set while it waits
 * for room, `phase: 'pulling'` and `pull_progress` while its worker pulls the image.
 */
export type RunJson = Json<Omit<OpRun, 'rev' | 'event_delivery' | 'pull_progress'>> & {
  event_delivery: EventDeliveryJson;
  pending_reason?: string;
  phase?: 'pulling';
  pull_progress?: { image: string; done_bytes: number; total_bytes: number; percent: number };
};

/** An event; `run_id` is present where events of several runs are mixed. */
export type EventJson = Json<RunEventDraft> & { index: number; created_at: string; run_id?: string };

export interface EventsPage {
  events: EventJson[];
  state: RunState;
}

export type GpuJson = Json<Gpu>;
export type FreeGpuJson = Json<FreeGpu>;

/** A worker with what is left of its capacity after the runs reserved on it. */
export type WorkerJson = Json<Worker> & { free: Json<FreeCapacity> };

export type HeartbeatResponse = WorkerJson & {
  /** Runs the worker reported that it must stop (cancelled or reassigned). */
  stop_runs: string[];
  /** The server's digest of the runs it holds on the worker (absent from older servers). */
  held_digest?: string;
  /** The `held_digest` sent differed from the server's: list `running_ops` in the next heartbeat. */
  running_ops_wanted?: boolean;
};

/** What a claim hands a worker. */
export interface WorkerOpRun {
  id: string;
  attempt: number;
  image: string;
  /** Absent: the worker's own default applies. */
  image_pull_policy?: ImagePullPolicy;
  inputs: Inputs;
  constraints: Constraints;
  gpu_ids: number[];
  /** This assignment of the run; name it with `attempt` in every report (`PostEventBody`). */
  assignment_id: string;
  definition_id?: string;
  definition_version?: string;
}

export interface HeartbeatInput {
  worker_id: string;
  resources: { cpu_cores: number; ram_mb: number; gpus: Array<{ id: number; vram_mb: number; tags?: string[] }> };
  tags?: string[];
  running_ops?: Array<string | { id: string; [key: string]: unknown }>;
  /**
   * Instead of `running_ops`: `heldRunsDigest` of the run ids the worker runs (ignored when
   * `running_ops` is sent). Send it only to a server whose answers carry `held_digest`.
   */
  held_digest?: string;
  /** Image references this worker holds (repo tags and digests, at most 200). */
  images?: string[];
}

export interface RunFromDefinitionInput {
  image_pull_policy?: ImagePullPolicy;
  inputs?: Inputs;
  priority?: number;
  constraints?: ConstraintsInput;
}

export interface CreateRunBody {
  definition_id?: string;
  version?: string;
  image?: string;
  image_pull_policy?: ImagePullPolicy;
  inputs?: Inputs;
  priority?: number;
  constraints?: ConstraintsInput;
  retry_policy?: RetryPolicyInput;
  event_delivery?: EventDelivery;
}

export interface UpdateRunBody {
  state?: 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
  outputs?: Record<string, unknown>;
  priority?: number;
}

/**
 * A worker's report on a run, as `POST /runs/{id}/events` takes it: the domain's `WorkerEvent`.
 * Workers always send the claim's `assignment_id`: the server refuses (409 STALE_ASSIGNMENT)
 * a report on an assignment it has taken back, even on the same attempt.
 */
export type PostEventBody = WorkerEvent;

/** One report of `reportEvents`: a `PostEventBody` and the run it is for (`worker_id` is the worker's own). */
export interface ReportedEvent extends Omit<PostEventBody, 'worker_id'> {
  run_id: string;
}

/** The outcome of one `ReportedEvent`: the run's state after it (status 200), or its error. */
export type ReportResult =
  | { run_id: string; status: 200; state: RunState; current_attempt: number }
  | {
      run_id: string | null;
      status: number;
      error: { code: string; message: string; details?: Array<{ field: string; message: string }> };
    };

export interface ListRunsFilter {
  state?: RunState | RunState[];
  definition_id?: string;
  worker_id?: string;
  /** Page size, 1..1000 (server default 100). */
  limit?: number;
  cursor?: string;
}

export interface RunsPage {
  runs: RunJson[];
  next_cursor?: string;
}

export interface HealthJson {
  status: string;
  [key: string]: unknown;
}
