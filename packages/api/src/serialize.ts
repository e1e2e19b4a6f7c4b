import {
  currentPullProgress,
  type EventDelivery,
  freeCapacity,
  type OpDefinition,
  type OpRun,
  type RunEvent,
  type Worker,
} from '@gyoza/domain';

/**
 * Event delivery as every answer shows it: the webhook secret is never sent back, only
 * `has_secret`, whether one is set.
 */
export function eventDeliveryJson(delivery: EventDelivery): Record<string, unknown> {
  const { secret, ...rest } = delivery;
  return { ...rest, has_secret: secret !== undefined };
}

export function definitionJson(definition: OpDefinition): Record<string, unknown> {
  return { ...definition, event_delivery: eventDeliveryJson(definition.event_delivery) };
}

/**
 * A run as the API shows it: no storage revision, no webhook secret; `pending_reason` while it
 * waits; `phase: 'pulling'` with `pull_progress` while its worker pulls the image (ASSIGNED,
 * before STARTED).
 */
export function runJson(run: OpRun, pendingReason?: string): Record<string, unknown> {
  const { rev: _rev, pull_progress: _pull, idempotency_fingerprint: _request, ...rest } = run;
  const json: Record<string, unknown> = { ...rest, event_delivery: eventDeliveryJson(run.event_delivery) };
  if (pendingReason !== undefined) json.pending_reason = pendingReason;
  const pull = currentPullProgress(run);
  if (pull) {
    json.phase = 'pulling';
    json.pull_progress = {
      image: pull.image,
      done_bytes: pull.done_bytes,
      total_bytes: pull.total_bytes,
      percent: pull.percent,
    };
  }
  return json;
}

export function eventJson(event: RunEvent): Record<string, unknown> {
  const { run_id: _run, ...rest } = event;
  return rest;
}

export function workerJson(worker: Worker, reservations: Parameters<typeof freeCapacity>[1]): Record<string, unknown> {
  return { ...worker, free: freeCapacity(worker, reservations) };
}

/**
 * The worker without `running_ops`, which is not read: the answer to a heartbeat that sent a
 * held digest, whose run ids are the runs the server holds (`GET /workers` lists them), so
 * that the answer costs the same with thousands of held runs as with none.
 */
export function workerJsonWithoutRuns(
  worker: Worker,
  reservations: Parameters<typeof freeCapacity>[1],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(worker) as (keyof Worker)[]) if (key !== 'running_ops') out[key] = worker[key];
  out.free = freeCapacity(worker, reservations);
  return out;
}

/** What a claim hands a worker: what it needs to run the op, and the assignment its reports name. */
export function workerOpJson(run: OpRun): Record<string, unknown> {
  const op: Record<string, unknown> = {
    id: run.id,
    attempt: run.current_attempt,
    image: run.image,
    inputs: run.inputs,
    constraints: run.constraints,
    gpu_ids: run.gpu_ids,
    // The fencing token's second half: the worker names it in every report on this run.
    assignment_id: run.assignment_id,
  };
  if (run.image_pull_policy !== undefined) op.image_pull_policy = run.image_pull_policy;
  if (run.definition_id !== undefined) op.definition_id = run.definition_id;
  if (run.definition_version !== undefined) op.definition_version = run.definition_version;
  return op;
}
