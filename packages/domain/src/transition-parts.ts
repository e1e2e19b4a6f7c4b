/**
 * What the transitions share: patching a run and its current attempt, drafting an event and
 * checking the reporting worker. Internal to the domain package (not exported by its index).
 */
import { WorkerMismatchError } from './errors';
import type { OpAttempt, OpRun, RunEventDraft } from './run';

export type Patch<T> = { [K in keyof T]?: T[K] | undefined };

/** Applies patches to the run and its current attempt; `undefined` removes an optional field. */
export function update(run: OpRun, now: Date, runPatch: Patch<OpRun>, attemptPatch: Patch<OpAttempt>): OpRun {
  const next = withoutUndefined({ ...run, ...runPatch, updated_at: now }) as OpRun;
  next.attempts = run.attempts.map((a) =>
    a.attempt === run.current_attempt ? (withoutUndefined({ ...a, ...attemptPatch }) as OpAttempt) : a,
  );
  return next;
}

/**
 * `value` without the keys whose value is `undefined` (a copy when there are some, `value`
 * itself when there are none). Copied, not deleted in place: V8 turns an object that loses a
 * property into a slow dictionary, and every later read, spread and JSON.stringify of the run
 * (the store encodes it at each transition) paid for it.
 */
export function withoutUndefined<T extends object>(value: T): T {
  const keys = Object.keys(value) as (keyof T)[];
  if (!keys.some((key) => value[key] === undefined)) return value;
  const copy = {} as T;
  for (const key of keys) if (value[key] !== undefined) copy[key] = value[key];
  return copy;
}

export function event(
  run: OpRun,
  type: RunEventDraft['type'],
  msg?: string,
  payload?: Record<string, unknown>,
): RunEventDraft {
  const draft: RunEventDraft = { attempt: run.current_attempt, type };
  if (msg !== undefined) draft.msg = msg;
  if (payload !== undefined) draft.payload = payload;
  return draft;
}

export function ensureWorker(run: OpRun, workerId: string | undefined): void {
  if (workerId !== undefined && run.worker_id !== workerId)
    throw new WorkerMismatchError(run.id, run.worker_id, workerId);
}
