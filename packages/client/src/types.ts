import type {
  Constraints,
  ConstraintsInput,
  EventDelivery,
  InputSpecs,
  Inputs,
  OpDefinitionInput,
  RetryPolicy,
  RetryPolicyInput,
  RunEventType,
  RunState,
  WorkerEventType,
  WorkerStatus,
} from '@gyoza/domain';

// The domain types as they travel over the wire: dates are ISO-8601 strings.

export type { OpDefinitionInput, RunState };

export interface DefinitionJson {
  id: string;
  version: string;
  image: string;
  description?: string;
  input_specs: InputSpecs;
  output_specs: Record<string, unknown>;
  constraints: Constraints;
  retry_policy: RetryPolicy;
  event_delivery: EventDelivery;
  created_at: string;
  updated_at: string;
}

export interface AttemptJson {
  attempt: number;
  state: RunState;
  worker_id?: string;
  gpu_ids: number[];
  progress: number;
  outputs: Record<string, unknown>;
  error_message?: string;
  created_at: string;
  started_at?: string;
  finished_at?: string;
}

export interface RunJson {
  id: string;
  definition_id?: string;
  definition_version?: string;
  image: string;
  inputs: Inputs;
  outputs: Record<string, unknown>;
  priority: number;
  constraints: Constraints;
  retry_policy: RetryPolicy;
  event_delivery: EventDelivery;
  state: RunState;
  progress: number;
  current_attempt: number;
  worker_id?: string;
  gpu_ids: number[];
  error_message?: string;
  created_at: string;
  updated_at: string;
  started_at?: string;
  finished_at?: string;
  not_before?: string;
  idempotency_key?: string;
  attempts: AttemptJson[];
  /** Set while PENDING when no active worker can currently take the run. */
  pending_reason?: string;
}

export interface EventJson {
  index: number;
  attempt: number;
  type: RunEventType | string;
  msg?: string;
  payload?: Record<string, unknown>;
  created_at: string;
  run_id?: string;
}

export interface EventsPage {
  events: EventJson[];
  state: RunState;
}

export interface GpuJson {
  id: number;
  vram_mb: number;
  tags: string[];
}

export interface FreeGpuJson extends GpuJson {
  free_vram_mb: number;
}

export interface WorkerJson {
  id: string;
  resources: { cpu_cores: number; ram_mb: number; gpus: GpuJson[] };
  tags: string[];
  running_ops: string[];
  status: WorkerStatus;
  created_at: string;
  last_heartbeat_at: string;
  evicted_at?: string;
  free: { cpu_cores: number; ram_mb: number; gpus: FreeGpuJson[] };
}

export interface HeartbeatResponse extends WorkerJson {
  /** Runs the worker reported that it must stop (cancelled or reassigned). */
  stop_runs: string[];
}

/** What a claim hands a worker. */
export interface WorkerOpRun {
  id: string;
  attempt: number;
  image: string;
  inputs: Inputs;
  constraints: Constraints;
  gpu_ids: number[];
  definition_id?: string;
  definition_version?: string;
}

export interface HeartbeatInput {
  worker_id: string;
  resources: { cpu_cores: number; ram_mb: number; gpus: Array<{ id: number; vram_mb: number; tags?: string[] }> };
  tags?: string[];
  running_ops?: Array<string | { id: string; [key: string]: unknown }>;
}

export interface RunFromDefinitionInput {
  inputs?: Inputs;
  priority?: number;
  constraints?: ConstraintsInput;
}

export interface CreateRunBody {
  definition_id?: string;
  version?: string;
  image?: string;
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

export interface PostEventBody {
  type: WorkerEventType;
  msg?: string | number;
  payload?: Record<string, unknown>;
  attempt?: number;
  worker_id?: string;
}

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
