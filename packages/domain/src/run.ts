import { randomFillSync } from 'node:crypto';
import { type Constraints, type ConstraintsInput, mergeConstraints, normalizeConstraints } from './constraints';
import type { OpDefinition } from './definition';
import { type ImagePullPolicy, validateImage, validatePullPolicy } from './definition';
import { ValidationError } from './errors';
import type { EventDelivery } from './event-delivery';
import { normalizeEventDelivery } from './event-delivery';
import type { RunEventType } from './event-types';
import { type Inputs, validateInputs } from './inputs';
import { normalizeRetryPolicy, type RetryPolicy, type RetryPolicyInput } from './retry';

export const RUN_STATES = ['PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States an attempt never leaves by itself; events on them are refused with "run is locked". */
export const FINISHED_STATES: readonly RunState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];
/** States that hold a reservation on a worker. */
export const RESERVING_STATES: readonly RunState[] = ['ASSIGNED', 'RUNNING'];

export function isFinished(state: RunState): boolean {
  return FINISHED_STATES.includes(state);
}

/**
 * True when a run will not change by itself any more: COMPLETED, CANCELLED, or FAILED with
 * no automatic retry scheduled (`not_before` unset).
 */
export function isRunFinal(run: { state: RunState; not_before?: unknown }): boolean {
  return isFinished(run.state) && !(run.state === 'FAILED' && run.not_before);
}

export {
  MAX_EVENT_TEXT_LENGTH,
  RUN_EVENT_TYPES,
  type RunEventType,
  SERVER_EVENT_TYPES,
  type ServerEventType,
  WORKER_EVENT_TYPES,
  type WorkerEventType,
} from './event-types';

export interface OpAttempt {
  attempt: number;
  state: RunState;
  worker_id?: string;
  gpu_ids: number[];
  progress: number;
  outputs: Record<string, unknown>;
  error_message?: string;
  created_at: Date;
  /** When this attempt was last assigned (a claim); an attempt handed back and claimed again gets a new one. */
  assigned_at?: Date;
  /** The id of that assignment: with the attempt number, the token the worker's reports must name. */
  assignment_id?: string;
  started_at?: Date;
  finished_at?: Date;
}

export interface OpRun {
  id: string;
  definition_id?: string;
  definition_version?: string;
  image: string;
  /** Copied from the definition unless the request names one; absent: the worker's default. */
  image_pull_policy?: ImagePullPolicy;
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
  created_at: Date;
  updated_at: Date;
  /**
   * When the current assignment was made. Set by a claim, cleared when the run is handed
   * back (unassign) or retried; reconciliation takes back only runs assigned before the
   * worker's previous heartbeat. Runs stored before this field existed have none: they count as old.
   */
  assigned_at?: Date;
  /**
   * The current assignment's id (`asg_` + random), new at every claim: the fencing token that,
   * with `current_attempt`, a worker names in its reports. Cleared with `assigned_at`.
   */
  assignment_id?: string;
  started_at?: Date;
  finished_at?: Date;
  /** A FAILED run with attempts left is retried automatically once this has passed. */
  not_before?: Date;
  idempotency_key?: string;
  /**
   * A digest of the request that created the run under `idempotency_key`, as its creator
   * computed it: a replay with the same key is the same request when it has the same digest.
   */
  idempotency_fingerprint?: string;
  attempts: OpAttempt[];
  /**
   * The worker's latest pull report (an INFO event with `payload.phase: 'pulling'`) while the
   * run was ASSIGNED: what `GET /runs/{id}` shows as `pull_progress` while that assignment holds.
   */
  pull_progress?: ImagePullProgress;
  /** Optimistic-concurrency revision, bumped by the store on every save. */
  rev: number;
}

/** Bytes of the image pulled so far for one assignment, summed over its layers. */
export interface ImagePullProgress {
  image: string;
  done_bytes: number;
  total_bytes: number;
  percent: number;
  attempt: number;
  assignment_id?: string;
}

/** The pull progress that still describes `run`: it is ASSIGNED, under the assignment that reported it. */
export function currentPullProgress(run: OpRun): ImagePullProgress | undefined {
  const p = run.pull_progress;
  if (!p || run.state !== 'ASSIGNED' || p.attempt !== run.current_attempt) return undefined;
  return p.assignment_id === run.assignment_id ? p : undefined;
}

/** An event as a transition emits it; the store gives it its `index` and `run_id`. */
export interface RunEventDraft {
  attempt: number;
  type: RunEventType;
  msg?: string;
  payload?: Record<string, unknown>;
}

export interface RunEvent extends RunEventDraft {
  run_id: string;
  /** Monotonic per run, across attempts, starting at 1. */
  index: number;
  created_at: Date;
}

/** What every transition returns: the new aggregate and the events to append. */
export interface Transition {
  run: OpRun;
  events: RunEventDraft[];
}

export const RUN_ID_PATTERN = /^run_[A-Za-z0-9]{1,64}$/;

/**
 * `run_`, the creation time (milliseconds, 12 hex digits), then 96 random bits (24 hex
 * digits). Ids made later sort after (by the millisecond), so a store's indexes keyed by
 * run id take new runs at their end rather than on a random page each: a create writes
 * fewer pages (SQLite store alone, 40,000 creates in batches of 16: ~48 -> ~38 us each).
 */
export function newRunId(now = Date.now()): string {
  return `run_${now.toString(16).padStart(12, '0')}${random96()}`;
}

/**
 * 96 random bits as 24 hex digits, from the same CSPRNG as `randomBytes(12)` but drawn 256
 * ids at a time (as node's `randomUUID` does): ~0.3 us an id instead of ~2 us for a
 * `randomBytes(12)` call each.
 */
const RANDOM_POOL_BYTES = 12 * 256;
// Allocated at the first id, not when the module loads: the dashboard bundles this module for
// the browser, which has no Buffer (and makes no ids).
let randomPool: Buffer | undefined;
let randomOffset = RANDOM_POOL_BYTES;
function random96(): string {
  if (randomPool === undefined || randomOffset === RANDOM_POOL_BYTES) {
    randomPool ??= Buffer.alloc(RANDOM_POOL_BYTES);
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const hex = randomPool.toString('hex', randomOffset, randomOffset + 12);
  randomOffset += 12;
  return hex;
}

export const ASSIGNMENT_ID_PATTERN = /^asg_[A-Za-z0-9]{1,64}$/;

/** A new assignment id: every claim of a run makes one, so a report for an older claim can be told apart. */
export function newAssignmentId(): string {
  return `asg_${random96()}`;
}

export interface CreateRunInput {
  image?: string;
  image_pull_policy?: ImagePullPolicy | null;
  inputs?: Inputs | null;
  priority?: number | null;
  constraints?: ConstraintsInput | null;
  retry_policy?: RetryPolicyInput | null;
  event_delivery?: EventDelivery | null;
  idempotency_key?: string;
  idempotency_fingerprint?: string;
}

function validatePriority(priority: unknown): number {
  if (priority === undefined || priority === null) return 0;
  if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) {
    throw ValidationError.field('priority', 'must be an integer');
  }
  return priority;
}

function copyConstraints(c: Constraints): Constraints {
  return { ...c, gpu_tags: [...c.gpu_tags], worker_tags: [...c.worker_tags] };
}

function copyEventDelivery(e: EventDelivery): EventDelivery {
  const copy = { ...e };
  if (e.event_types) copy.event_types = [...e.event_types];
  return copy;
}

/**
 * A new PENDING run. From a definition it copies image, pull policy, constraints, retry policy
 * and event delivery; the request may override priority, pull policy and constraints. Inputs are checked
 * against the definition's `input_specs` and defaults filled in.
 */
export function createRun(
  input: CreateRunInput,
  definition: OpDefinition | null | undefined,
  now: Date,
  id: string = newRunId(),
): Transition {
  const image = definition ? definition.image : validateImage(input.image);
  const pullPolicy = validatePullPolicy(input.image_pull_policy) ?? definition?.image_pull_policy;
  // Copies, so a run never shares an object with the definition it came from.
  const constraints = definition
    ? copyConstraints(mergeConstraints(definition.constraints, input.constraints))
    : normalizeConstraints(input.constraints);
  const retry_policy = definition ? { ...definition.retry_policy } : normalizeRetryPolicy(input.retry_policy);
  const event_delivery = definition
    ? copyEventDelivery(definition.event_delivery)
    : normalizeEventDelivery(input.event_delivery);
  const inputs = validateInputs(definition?.input_specs, input.inputs);
  const run: OpRun = {
    id,
    image,
    inputs,
    outputs: {},
    priority: validatePriority(input.priority),
    constraints,
    retry_policy,
    event_delivery,
    state: 'PENDING',
    progress: 0,
    current_attempt: 1,
    gpu_ids: [],
    created_at: now,
    updated_at: now,
    attempts: [{ attempt: 1, state: 'PENDING', gpu_ids: [], progress: 0, outputs: {}, created_at: now }],
    rev: 0,
  };
  if (definition) {
    run.definition_id = definition.id;
    run.definition_version = definition.version;
  }
  if (pullPolicy !== undefined) run.image_pull_policy = pullPolicy;
  if (input.idempotency_key !== undefined) run.idempotency_key = input.idempotency_key;
  if (input.idempotency_fingerprint !== undefined) run.idempotency_fingerprint = input.idempotency_fingerprint;
  const payload: Record<string, unknown> = { image };
  if (definition) Object.assign(payload, { definition_id: definition.id, definition_version: definition.version });
  return { run, events: [{ attempt: 1, type: 'CREATED', payload }] };
}

export function currentAttempt(run: OpRun): OpAttempt {
  const attempt = run.attempts.find((a) => a.attempt === run.current_attempt);
  if (!attempt) throw new Error(`run ${run.id} has no attempt ${run.current_attempt}`);
  return attempt;
}
