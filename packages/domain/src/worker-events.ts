/**
 * What a worker posts to `POST /runs/{id}/events`, mapped to the transitions: fencing by
 * attempt, assignment and worker, then one edge of `transitions.ts` per event type, or a
 * LOG/INFO `note` (an INFO pull report is kept on the run as its `pull_progress`).
 */
import { RunLockedError, StaleAssignmentError, ValidationError } from './errors';
import {
  type ImagePullProgress,
  isFinished,
  type OpRun,
  type Transition,
  WORKER_EVENT_TYPES,
  type WorkerEventType,
} from './run';
import { ensureWorker, event } from './transition-parts';
import { cancel, complete, fail, progress, start } from './transitions';

/** A free-form LOG or INFO line on the current attempt; refused once the run is finished. */
export function note(
  run: OpRun,
  type: 'LOG' | 'INFO',
  msg: string | undefined,
  payload: Record<string, unknown> | undefined,
): Transition {
  if (isFinished(run.state)) throw new RunLockedError(run.id, run.state);
  const pull = type === 'INFO' && run.state === 'ASSIGNED' ? pullProgressFrom(run, payload) : undefined;
  return { run: pull ? { ...run, pull_progress: pull } : run, events: [event(run, type, msg, payload)] };
}

/** A worker's pull report (`payload.phase: 'pulling'`, numbers of bytes), kept on the run while it is ASSIGNED. */
function pullProgressFrom(run: OpRun, payload: Record<string, unknown> | undefined): ImagePullProgress | undefined {
  if (payload?.phase !== 'pulling' || typeof payload.image !== 'string') return undefined;
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0);
  const progress: ImagePullProgress = {
    image: payload.image,
    done_bytes: count(payload.done_bytes),
    total_bytes: count(payload.total_bytes),
    percent: Math.min(100, count(payload.percent)),
    attempt: run.current_attempt,
  };
  if (run.assignment_id !== undefined) progress.assignment_id = run.assignment_id;
  return progress;
}

export interface WorkerEvent {
  type: WorkerEventType;
  msg?: string | number;
  payload?: Record<string, unknown>;
  /** The attempt the worker is reporting on; a stale attempt is refused as locked. */
  attempt?: number;
  /** The reporting worker; when given, it must be the run's worker (else WORKER_MISMATCH). */
  worker_id?: string;
  /**
   * The assignment the worker was given (from its claim); when given, it must be the run's
   * current one (else STALE_ASSIGNMENT). Reports without it (curl users) are not fenced.
   */
  assignment_id?: string;
}

/**
 * Maps an event posted by a worker (`POST /runs/{id}/events`) to its transition.
 * Events for an attempt that is not the current one are refused: that attempt is finished.
 * The event's shape (types, PROGRESS's range, each type's payload) is the API DTO's to check,
 * before the run is read; this function applies the state rules only.
 */
export function applyWorkerEvent(run: OpRun, e: WorkerEvent, now: Date): Transition {
  if (e.attempt !== undefined && e.attempt > run.current_attempt)
    throw new RunLockedError(run.id, `on attempt ${run.current_attempt}; attempt ${e.attempt} has not begun`);
  if (e.attempt !== undefined && e.attempt !== run.current_attempt)
    throw new RunLockedError(run.id, `attempt ${e.attempt} finished`);
  // Fencing: a worker whose claim was taken back (and perhaps given out again) is refused,
  // even on the same attempt number.
  if (e.assignment_id !== undefined && e.assignment_id !== run.assignment_id)
    throw new StaleAssignmentError(run.id, e.assignment_id, run.assignment_id);
  // A worker that lost the run (unassigned, then given to another) must not report on it;
  // STARTED checks this in `start`, after its own state check.
  if (e.worker_id !== undefined && e.type !== 'STARTED' && !isFinished(run.state)) ensureWorker(run, e.worker_id);
  const payload = e.payload ?? {};
  const msg = e.msg === undefined || e.msg === null ? undefined : String(e.msg);
  switch (e.type) {
    case 'STARTED': {
      const gpu = (payload.gpu_id ?? undefined) as number | undefined;
      const named = (payload.worker_id ?? undefined) as string | undefined;
      // A worker starts a run for itself: naming its owner in the payload must not let another pass.
      if (named !== undefined && e.worker_id !== undefined && named !== e.worker_id) {
        throw ValidationError.field('payload.worker_id', `must be the reporting worker (${e.worker_id})`);
      }
      const workerId = named ?? e.worker_id;
      // Sent again because its answer was lost: this attempt already runs on this worker under
      // this assignment (checked above), so it is delivered, and changes nothing.
      const repeated =
        run.state === 'RUNNING' &&
        e.attempt !== undefined &&
        e.assignment_id !== undefined &&
        workerId !== undefined &&
        workerId === run.worker_id;
      if (repeated) return { run, events: [] };
      return start(run, { worker_id: workerId, gpu_id: gpu }, now);
    }
    case 'PROGRESS':
      return progress(run, e.msg, now);
    case 'COMPLETED':
      return complete(run, (payload.outputs ?? undefined) as Record<string, unknown> | undefined, now);
    case 'FAILED':
      return fail(run, (payload.error_message as string | undefined) ?? msg, now, {
        retryable: payload.retryable !== false,
      });
    case 'CANCELLED':
      if (isFinished(run.state)) throw new RunLockedError(run.id, run.state);
      return cancel(run, now, msg);
    case 'LOG':
    case 'INFO':
      return note(run, e.type, msg, e.payload);
    default:
      // Exhaustive for typed callers; an untyped one gets a typed refusal, not an undefined transition.
      throw ValidationError.field('type', `must be one of ${WORKER_EVENT_TYPES.join(', ')}`);
  }
}
