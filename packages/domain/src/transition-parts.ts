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

export function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
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
