export interface Gpu {
  /** The device index the worker uses (nvidia-smi's index). */
  id: number;
  vram_mb: number;
  tags: string[];
}

export interface WorkerResources {
  cpu_cores: number;
  ram_mb: number;
  gpus: Gpu[];
}

export type WorkerStatus = 'active' | 'evicted';

export interface Worker {
  id: string;
  resources: WorkerResources;
  tags: string[];
  /** Run ids the worker said it is running in its last heartbeat. */
  running_ops: string[];
  status: WorkerStatus;
  created_at: Date;
  last_heartbeat_at: Date;
  evicted_at?: Date;
}

export interface Heartbeat {
  worker_id: string;
  resources: WorkerResources;
  tags: string[];
  running_ops: string[];
}

export const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Applies a heartbeat: a new worker is registered, an evicted one re-enters the pool. */
export function applyHeartbeat(existing: Worker | null | undefined, hb: Heartbeat, now: Date): Worker {
  return {
    id: hb.worker_id,
    resources: hb.resources,
    tags: [...new Set(hb.tags)],
    running_ops: [...hb.running_ops],
    status: 'active',
    created_at: existing?.created_at ?? now,
    last_heartbeat_at: now,
  };
}

export function isSilent(worker: Worker, now: Date, timeoutSeconds: number): boolean {
  return now.getTime() - worker.last_heartbeat_at.getTime() > timeoutSeconds * 1000;
}
