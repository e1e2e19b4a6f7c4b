import {
  InvalidTransitionError,
  MaxAttemptsReachedError,
  RunLockedError,
  StaleAssignmentError,
  ValidationError,
} from './errors';
import { addSeconds, backoffSeconds, hasAttemptsLeft } from './retry';
import {
  isFinished,
  newAssignmentId,
  type OpAttempt,
  type OpRun,
  type RunEventDraft,
  type RunState,
  type Transition,
} from './run';
import { ensureWorker, event, update, withoutUndefined } from './transition-parts';

/**
 * Every state change of a run lives here. Each function is pure: it returns the new
 * aggregate and the events to append, or throws a typed error and changes nothing.
 *
 *   PENDING -> ASSIGNED -> RUNNING -> COMPLETED | FAILED | CANCELLED
 *   ASSIGNED -> PENDING               (unassign; release, asked by the worker)
 *   FAILED | CANCELLED -> PENDING     (retry: new attempt)
 *   PENDING | ASSIGNED -> CANCELLED   (cancel before start)
 */

export type TransitionName =
  | 'assign'
  | 'unassign'
  | 'release'
  | 'start'
  | 'progress'
  | 'complete'
  | 'fail'
  | 'cancel'
  | 'retry'
  | 'timeOut'
  | 'workerLost';

/** The states each transition may leave from. */
export const ALLOWED_FROM: Readonly<Record<TransitionName, readonly RunState[]>> = {
  assign: ['PENDING'],
  unassign: ['ASSIGNED'],
  release: ['ASSIGNED'],
  start: ['ASSIGNED'],
  progress: ['RUNNING'],
  complete: ['RUNNING'],
  fail: ['RUNNING'],
  cancel: ['PENDING', 'ASSIGNED', 'RUNNING'],
  retry: ['FAILED', 'CANCELLED'],
  timeOut: ['RUNNING'],
  workerLost: ['RUNNING'],
};

/** Transitions a worker reports; on a finished attempt they answer "run is locked". */
const WORKER_REPORTED: readonly TransitionName[] = ['start', 'progress', 'complete', 'fail'];

function ensureAllowed(run: OpRun, transition: TransitionName): void {
  if (ALLOWED_FROM[transition].includes(run.state)) return;
  if (WORKER_REPORTED.includes(transition) && isFinished(run.state)) throw new RunLockedError(run.id, run.state);
  throw new InvalidTransitionError(run.state, transition);
}

export interface Assignment {
  worker_id: string;
  gpu_ids: number[];
  /** @defaultValue a new one (`newAssignmentId`) */
  assignment_id?: string;
}

/** PENDING -> ASSIGNED: the scheduler reserved room on a worker, under a new assignment id. */
export function assign(run: OpRun, assignment: Assignment, now: Date): Transition {
  ensureAllowed(run, 'assign');
  const gpu_ids = [...assignment.gpu_ids];
  const held = { assigned_at: now, assignment_id: assignment.assignment_id ?? newAssignmentId() };
  return {
    run: update(
      run,
      now,
      { state: 'ASSIGNED', worker_id: assignment.worker_id, gpu_ids, not_before: undefined, ...held },
      {
        state: 'ASSIGNED',
        worker_id: assignment.worker_id,
        gpu_ids,
        ...held,
      },
    ),
    events: [
      event(run, 'ASSIGNED', undefined, {
        worker_id: assignment.worker_id,
        gpu_ids,
        assignment_id: held.assignment_id,
      }),
    ],
  };
}

/** ASSIGNED -> PENDING: the worker went away before starting; the same attempt waits again. */
export function unassign(run: OpRun, now: Date, reason = 'worker lost before start'): Transition {
  ensureAllowed(run, 'unassign');
  const from = run.worker_id;
  return {
    run: update(
      run,
      now,
      { state: 'PENDING', worker_id: undefined, gpu_ids: [], assigned_at: undefined, assignment_id: undefined },
      {
        state: 'PENDING',
        worker_id: undefined,
        gpu_ids: [],
        assigned_at: undefined,
        assignment_id: undefined,
      },
    ),
    events: [event(run, 'UNASSIGNED', reason, { worker_id: from })],
  };
}

export interface ReleaseRequest {
  /** The worker handing the run back; it must be the run's. */
  worker_id: string;
  /** The attempt it was given; a stale one is refused as locked. */
  attempt?: number;
  /** The assignment it was given; a stale one is refused (STALE_ASSIGNMENT). */
  assignment_id?: string;
  /** Why, recorded on the UNASSIGNED event. @defaultValue 'released by worker <id>' */
  reason?: string;
}

/**
 * ASSIGNED -> PENDING, asked by the worker it was assigned to: it claimed the run but will
 * not start it (it is stopping), so the same attempt waits again at once, not at eviction.
 */
export function release(run: OpRun, request: ReleaseRequest, now: Date): Transition {
  if (request.attempt !== undefined && request.attempt !== run.current_attempt)
    throw new RunLockedError(run.id, `attempt ${request.attempt} finished`);
  if (request.assignment_id !== undefined && request.assignment_id !== run.assignment_id)
    throw new StaleAssignmentError(run.id, request.assignment_id, run.assignment_id);
  ensureAllowed(run, 'release');
  ensureWorker(run, request.worker_id);
  const reason = request.reason ?? `released by worker ${request.worker_id}`;
  const { run: next, events } = unassign(run, now, reason);
  return { run: next, events: events.map((e) => ({ ...e, payload: { ...e.payload, released: true } })) };
}

export interface StartReport {
  worker_id?: string;
  gpu_id?: number;
}

/** ASSIGNED -> RUNNING, reported by the worker it was assigned to. */
export function start(run: OpRun, report: StartReport, now: Date): Transition {
  ensureAllowed(run, 'start');
  ensureWorker(run, report.worker_id);
  const payload: Record<string, unknown> = { worker_id: run.worker_id };
  if (report.gpu_id !== undefined) payload.gpu_id = report.gpu_id;
  return {
    run: update(run, now, { state: 'RUNNING', started_at: now }, { state: 'RUNNING', started_at: now }),
    events: [event(run, 'STARTED', undefined, payload)],
  };
}

/** Parses a PROGRESS value (number or numeric string) into 0..100. */
export function parseProgress(value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 100) {
    throw ValidationError.field('msg', 'PROGRESS must be a number from 0 to 100');
  }
  return n;
}

/** RUNNING -> RUNNING with new progress (0..100). */
export function progress(run: OpRun, value: unknown, now: Date): Transition {
  ensureAllowed(run, 'progress');
  const p = parseProgress(value);
  return {
    run: update(run, now, { progress: p }, { progress: p }),
    events: [event(run, 'PROGRESS', String(p))],
  };
}

/** RUNNING -> COMPLETED with the op's outputs. */
export function complete(run: OpRun, outputs: Record<string, unknown> | undefined, now: Date): Transition {
  ensureAllowed(run, 'complete');
  const out = outputs ?? {};
  return {
    run: update(
      run,
      now,
      { state: 'COMPLETED', outputs: out, progress: 100, finished_at: now },
      {
        state: 'COMPLETED',
        outputs: out,
        progress: 100,
        finished_at: now,
      },
    ),
    events: [event(run, 'COMPLETED', undefined, { outputs: out })],
  };
}

export interface FailOptions {
  /**
   * False when retrying cannot help (the image does not exist, the registry refuses the
   * worker): the run stays FAILED whatever its retry policy; a manual retry still may.
   * @defaultValue true
   */
  retryable?: boolean;
}

/**
 * RUNNING -> FAILED. With attempts left (and a retryable failure) the run gets `not_before`,
 * after which the scheduler's retry loop moves it back to PENDING (see `retry`).
 */
export function fail(run: OpRun, errorMessage: string | undefined, now: Date, options: FailOptions = {}): Transition {
  ensureAllowed(run, 'fail');
  return failWith(run, errorMessage ?? 'failed', now, [], options.retryable ?? true);
}

function failWith(run: OpRun, errorMessage: string, now: Date, before: RunEventDraft[], retryable = true): Transition {
  const retries = retryable && hasAttemptsLeft(run.retry_policy, run.current_attempt);
  const not_before = retries ? addSeconds(now, backoffSeconds(run.retry_policy, run.current_attempt)) : undefined;
  const payload: Record<string, unknown> = { error_message: errorMessage };
  if (not_before) payload.retry_at = not_before.toISOString();
  if (!retryable) payload.retryable = false;
  return {
    run: update(
      run,
      now,
      { state: 'FAILED', error_message: errorMessage, finished_at: now, not_before },
      {
        state: 'FAILED',
        error_message: errorMessage,
        finished_at: now,
      },
    ),
    events: [...before, event(run, 'FAILED', errorMessage, payload)],
  };
}

/** RUNNING -> FAILED because the attempt ran past `constraints.timeout_seconds`. */
export function timeOut(run: OpRun, now: Date): Transition {
  ensureAllowed(run, 'timeOut');
  const message = `timed out after ${run.constraints.timeout_seconds}s`;
  return failWith(run, message, now, [event(run, 'TIMED_OUT', message)]);
}

/** RUNNING -> FAILED because its worker stopped heartbeating, or no longer lists the run. */
export function workerLost(run: OpRun, now: Date, reason?: string): Transition {
  ensureAllowed(run, 'workerLost');
  const message = reason ?? `worker ${run.worker_id} lost`;
  return failWith(run, message, now, [event(run, 'WORKER_LOST', message, { worker_id: run.worker_id })]);
}

/** PENDING | ASSIGNED | RUNNING -> CANCELLED. A running worker learns of it from its heartbeat. */
export function cancel(run: OpRun, now: Date, reason?: string): Transition {
  // A FAILED run with an automatic retry scheduled is not over yet: cancelling it stops the
  // retry; the attempt that failed stays FAILED.
  const retryScheduled = run.state === 'FAILED' && run.not_before !== undefined;
  if (!retryScheduled) ensureAllowed(run, 'cancel');
  const patch = { state: 'CANCELLED' as const, finished_at: now, error_message: reason };
  return {
    run: update(run, now, { ...patch, not_before: undefined }, retryScheduled ? {} : patch),
    events: [event(run, 'CANCELLED', reason)],
  };
}

export interface RetryOptions {
  /** True when the retry loop acts on the policy; false for the manual retry endpoint. */
  automatic: boolean;
}

/**
 * FAILED | CANCELLED -> PENDING as a new attempt. The automatic retry only takes FAILED
 * runs whose backoff has passed; a manual retry may come early and may revive a cancel.
 */
export function retry(run: OpRun, now: Date, options: RetryOptions = { automatic: false }): Transition {
  ensureAllowed(run, 'retry');
  if (!hasAttemptsLeft(run.retry_policy, run.current_attempt)) {
    throw new MaxAttemptsReachedError(run.id, run.retry_policy.max_attempts);
  }
  if (options.automatic && (run.state !== 'FAILED' || !run.not_before || run.not_before > now)) {
    throw new InvalidTransitionError(run.state, 'retry automatically');
  }
  const attempt = run.current_attempt + 1;
  const fresh: OpAttempt = { attempt, state: 'PENDING', gpu_ids: [], progress: 0, outputs: {}, created_at: now };
  const next = withoutUndefined({
    ...run,
    state: 'PENDING' as const,
    current_attempt: attempt,
    progress: 0,
    outputs: {},
    gpu_ids: [],
    worker_id: undefined,
    assigned_at: undefined,
    assignment_id: undefined,
    error_message: undefined,
    started_at: undefined,
    finished_at: undefined,
    not_before: undefined,
    updated_at: now,
    attempts: [...run.attempts, fresh],
  });
  return {
    run: next,
    events: [
      { attempt, type: 'RETRIED', payload: { automatic: options.automatic, previous_attempt: run.current_attempt } },
    ],
  };
}

/** Priority may change until the run finishes. */
export function reprioritize(run: OpRun, priority: number, now: Date): Transition {
  if (isFinished(run.state)) throw new RunLockedError(run.id, run.state);
  if (!Number.isSafeInteger(priority)) throw ValidationError.field('priority', 'must be an integer');
  return { run: update(run, now, { priority }, {}), events: [] };
}
