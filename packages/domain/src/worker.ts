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
  /**
   * Images the worker holds (repo tags and digests, at most MAX_WORKER_IMAGES), as its last
   * heartbeat that carried them said; absent until one did.
   */
  images?: string[];
}

export interface Heartbeat {
  worker_id: string;
  resources: WorkerResources;
  tags: string[];
  /**
   * The run ids the worker runs. Absent: it runs what the server holds on it (the worker sent
   * a `held_digest` instead); the store then reads the worker's `running_ops` as its held runs.
   */
  running_ops?: string[];
  /** The images the worker holds; absent: unchanged since the last heartbeat that listed them. */
  images?: string[];
}

/** How many image references a heartbeat may carry. */
export const MAX_WORKER_IMAGES = 200;

export const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** Applies a heartbeat: a new worker is registered, an evicted one re-enters the pool. */
export function applyHeartbeat(existing: Worker | null | undefined, hb: Heartbeat, now: Date): Worker {
  const worker: Worker = {
    id: hb.worker_id,
    resources: hb.resources,
    tags: [...new Set(hb.tags)],
    running_ops: [...(hb.running_ops ?? [])],
    status: 'active',
    created_at: existing?.created_at ?? now,
    last_heartbeat_at: now,
  };
  const images = hb.images ?? existing?.images;
  if (images !== undefined) worker.images = [...new Set(images)].slice(0, MAX_WORKER_IMAGES);
  return worker;
}

export function isSilent(worker: Worker, now: Date, timeoutSeconds: number): boolean {
  return now.getTime() - worker.last_heartbeat_at.getTime() > timeoutSeconds * 1000;
}
