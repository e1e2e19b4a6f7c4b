import type { OpAttempt, OpDefinition, OpRun, RunEvent, Worker } from '@gyoza/domain';

/**
 * Row <-> domain conversion. Documents are JSON; the Date fields of each type are listed
 * explicitly (as ISO strings in JSON) so user data that merely looks like a date stays a string.
 */
type Dated<T> = {
  [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | undefined ? string | undefined : T[K];
};

function toIso<T extends object>(value: T, keys: readonly string[]): Record<string, unknown> {
  const out = { ...value } as Record<string, unknown>;
  for (const key of keys) if (out[key] instanceof Date) out[key] = (out[key] as Date).toISOString();
  return out;
}

function fromIso<T>(value: Record<string, unknown>, keys: readonly string[]): T {
  for (const key of keys) if (typeof value[key] === 'string') value[key] = new Date(value[key] as string);
  return value as T;
}

const RUN_DATES = ['created_at', 'updated_at', 'started_at', 'finished_at', 'not_before'] as const;
const ATTEMPT_DATES = ['created_at', 'started_at', 'finished_at'] as const;
const DEFINITION_DATES = ['created_at', 'updated_at'] as const;
const WORKER_DATES = ['created_at', 'last_heartbeat_at', 'evicted_at'] as const;

export function encodeRun(run: OpRun): string {
  const { rev: _rev, ...rest } = run;
  const doc = toIso(rest, RUN_DATES);
  doc.attempts = run.attempts.map((a) => toIso(a, ATTEMPT_DATES));
  return JSON.stringify(doc);
}

export function decodeRun(doc: string, rev: number): OpRun {
  const raw = JSON.parse(doc) as Dated<OpRun> & Record<string, unknown>;
  const run = fromIso<OpRun>(raw, RUN_DATES);
  run.attempts = (raw.attempts as unknown as Record<string, unknown>[]).map((a) =>
    fromIso<OpAttempt>(a, ATTEMPT_DATES),
  );
  run.rev = rev;
  return run;
}

export function encodeDefinition(definition: OpDefinition): string {
  return JSON.stringify(toIso(definition, DEFINITION_DATES));
}

export function decodeDefinition(doc: string): OpDefinition {
  return fromIso<OpDefinition>(JSON.parse(doc), DEFINITION_DATES);
}

export function encodeWorker(worker: Worker): string {
  return JSON.stringify(toIso(worker, WORKER_DATES));
}

export function decodeWorker(doc: string): Worker {
  return fromIso<Worker>(JSON.parse(doc), WORKER_DATES);
}

export interface EventRow {
  run_id: string;
  idx: number;
  attempt: number;
  type: string;
  msg: string | null;
  payload: string | null;
  created_at: number;
}

export function decodeEvent(row: EventRow): RunEvent {
  const event: RunEvent = {
    run_id: row.run_id,
    index: row.idx,
    attempt: row.attempt,
    type: row.type as RunEvent['type'],
    created_at: new Date(row.created_at),
  };
  if (row.msg !== null) event.msg = row.msg;
  if (row.payload !== null) event.payload = JSON.parse(row.payload);
  return event;
}
