import { freeCapacity, type OpRun, type RunEvent, type Worker } from '@gyoza/domain';

/** A run as the API shows it: no storage revision; `pending_reason` while it waits. */
export function runJson(run: OpRun, pendingReason?: string): Record<string, unknown> {
  const { rev: _rev, ...rest } = run;
  return pendingReason === undefined ? rest : { ...rest, pending_reason: pendingReason };
}

export function eventJson(event: RunEvent): Record<string, unknown> {
  const { run_id: _run, ...rest } = event;
  return rest;
}

export function workerJson(worker: Worker, reservations: Parameters<typeof freeCapacity>[1]): Record<string, unknown> {
  return { ...worker, free: freeCapacity(worker, reservations) };
}

/** What a claim hands a worker: what it needs to run the op. */
export function workerOpJson(run: OpRun): Record<string, unknown> {
  const op: Record<string, unknown> = {
    id: run.id,
    attempt: run.current_attempt,
    image: run.image,
    inputs: run.inputs,
    constraints: run.constraints,
    gpu_ids: run.gpu_ids,
  };
  if (run.definition_id !== undefined) op.definition_id = run.definition_id;
  if (run.definition_version !== undefined) op.definition_version = run.definition_version;
  return op;
}
