import type { OpAttempt, OpDefinition, OpRun, Worker } from '@gyoza/domain';
import { shapeKey } from './shape';

/**
 * Document <-> domain conversion shared by the adapters. Aggregates are stored as JSON text
 * (beside the scalar columns each adapter indexes), which keeps user data such as inputs with
 * dotted or `$` keys out of the database's own rules. The Date fields of each type are listed
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

const RUN_DATES = ['created_at', 'updated_at', 'assigned_at', 'started_at', 'finished_at', 'not_before'] as const;
const ATTEMPT_DATES = ['created_at', 'assigned_at', 'started_at', 'finished_at'] as const;
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

/** The scalar fields adapters index beside a run's JSON document. */
export interface RunColumns {
  id: string;
  state: string;
  priority: number;
  created_at: Date;
  definition_id: string | null;
  worker_id: string | null;
  not_before: Date | null;
  idempotency_key: string | null;
  rev: number;
  cpu_milli: number;
  ram_mb: number;
  vram_mb: number;
  gpu_count: number;
  /** `shapeKey` of the constraints: pending runs are grouped by it. */
  shape: string;
  doc: string;
}

export function runColumns(run: OpRun): RunColumns {
  return {
    id: run.id,
    state: run.state,
    priority: run.priority,
    created_at: run.created_at,
    definition_id: run.definition_id ?? null,
    worker_id: run.worker_id ?? null,
    not_before: run.not_before ?? null,
    idempotency_key: run.idempotency_key ?? null,
    rev: run.rev,
    // Milli-cores, so numeric pre-filters compare integers.
    cpu_milli: Math.round(run.constraints.cpu_cores * 1000),
    ram_mb: run.constraints.ram_mb,
    vram_mb: run.constraints.vram_mb,
    gpu_count: run.constraints.gpu_count,
    shape: shapeKey(run.constraints),
    doc: encodeRun(run),
  };
}
