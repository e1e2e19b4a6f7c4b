import type { Constraints } from './constraints';
import type { Worker } from './worker';

/** Resources held on a worker by one ASSIGNED or RUNNING run. */
export interface Reservation {
  run_id: string;
  cpu_cores: number;
  ram_mb: number;
  /** VRAM held on each of `gpu_ids`. */
  vram_mb: number;
  gpu_ids: number[];
}

export interface FreeGpu {
  id: number;
  vram_mb: number;
  free_vram_mb: number;
  tags: string[];
}

export interface FreeCapacity {
  cpu_cores: number;
  ram_mb: number;
  gpus: FreeGpu[];
}

export type GpuStrategy = 'direct' | 'best-fit';
export const GPU_STRATEGIES: readonly GpuStrategy[] = ['direct', 'best-fit'];

export type Placement = { fits: true; gpu_ids: number[] } | { fits: false; reason: string };

// CPU is fractional; compare in milli-cores so 0.1 + 0.2 fits in 0.3.
const milli = (cores: number) => Math.round(cores * 1000);

export function reservationOf(runId: string, constraints: Constraints, gpuIds: number[]): Reservation {
  return {
    run_id: runId,
    cpu_cores: constraints.cpu_cores,
    ram_mb: constraints.ram_mb,
    vram_mb: gpuIds.length > 0 ? constraints.vram_mb : 0,
    gpu_ids: [...gpuIds],
  };
}

/** The worker's totals minus what the server has reserved on it (server truth). */
export function freeCapacity(worker: Pick<Worker, 'resources'>, reservations: readonly Reservation[]): FreeCapacity {
  let cpu = milli(worker.resources.cpu_cores);
  let ram = worker.resources.ram_mb;
  const gpus = worker.resources.gpus.map((g) => ({
    id: g.id,
    vram_mb: g.vram_mb,
    free_vram_mb: g.vram_mb,
    tags: g.tags,
  }));
  for (const r of reservations) {
    cpu -= milli(r.cpu_cores);
    ram -= r.ram_mb;
    for (const id of r.gpu_ids) {
      const gpu = gpus.find((g) => g.id === id);
      if (gpu) gpu.free_vram_mb -= r.vram_mb;
    }
  }
  return { cpu_cores: cpu / 1000, ram_mb: ram, gpus };
}

export function hasAllTags(have: readonly string[], want: readonly string[]): boolean {
  return want.every((t) => have.includes(t));
}

/**
 * Picks `gpu_count` distinct GPUs that carry the tags and have the VRAM free.
 * `direct` takes them in the worker's order; `best-fit` takes those with the least free
 * VRAM that still fits, which leaves large GPUs whole for large runs.
 */
export function chooseGpus(
  constraints: Constraints,
  gpus: readonly FreeGpu[],
  strategy: GpuStrategy,
): number[] | undefined {
  if (constraints.gpu_count === 0) return [];
  const candidates = gpus.filter(
    (g) => g.free_vram_mb >= constraints.vram_mb && hasAllTags(g.tags, constraints.gpu_tags),
  );
  if (candidates.length < constraints.gpu_count) return undefined;
  if (strategy === 'best-fit') {
    candidates.sort((a, b) => a.free_vram_mb - b.free_vram_mb || a.id - b.id);
  }
  return candidates.slice(0, constraints.gpu_count).map((g) => g.id);
}

/** Whether a run with `constraints` fits `free` on a worker carrying `workerTags`, and on which GPUs. */
export function placeRun(
  constraints: Constraints,
  workerTags: readonly string[],
  free: FreeCapacity,
  strategy: GpuStrategy,
): Placement {
  if (!hasAllTags(workerTags, constraints.worker_tags)) {
    return {
      fits: false,
      reason: `worker lacks tags ${constraints.worker_tags.filter((t) => !workerTags.includes(t)).join(', ')}`,
    };
  }
  if (milli(constraints.cpu_cores) > milli(free.cpu_cores)) {
    return { fits: false, reason: `needs ${constraints.cpu_cores} CPU cores, ${free.cpu_cores} free` };
  }
  if (constraints.ram_mb > free.ram_mb) {
    return { fits: false, reason: `needs ${constraints.ram_mb} MB RAM, ${free.ram_mb} free` };
  }
  const gpuIds = chooseGpus(constraints, free.gpus, strategy);
  if (!gpuIds) {
    const tags = constraints.gpu_tags.length ? ` tagged ${constraints.gpu_tags.join(', ')}` : '';
    return {
      fits: false,
      reason: `needs ${constraints.gpu_count} GPU(s)${tags} with ${constraints.vram_mb} MB VRAM free`,
    };
  }
  return { fits: true, gpu_ids: gpuIds };
}

/** Subtracts one placement from free capacity (used while planning several claims at once). */
export function reserve(free: FreeCapacity, reservation: Reservation): FreeCapacity {
  return {
    cpu_cores: (milli(free.cpu_cores) - milli(reservation.cpu_cores)) / 1000,
    ram_mb: free.ram_mb - reservation.ram_mb,
    gpus: free.gpus.map((g) =>
      reservation.gpu_ids.includes(g.id) ? { ...g, free_vram_mb: g.free_vram_mb - reservation.vram_mb } : g,
    ),
  };
}

/** Whether the run could ever fit this worker when it is empty (for `pending_reason`). */
export function placeOnEmptyWorker(constraints: Constraints, worker: Pick<Worker, 'resources' | 'tags'>): Placement {
  return placeRun(constraints, worker.tags, freeCapacity(worker, []), 'best-fit');
}

/** True when no GPU, CPU or RAM is over-committed. */
export function isWithinCapacity(free: FreeCapacity): boolean {
  return free.cpu_cores >= 0 && free.ram_mb >= 0 && free.gpus.every((g) => g.free_vram_mb >= 0);
}

/**
 * True when `reservation`, already subtracted into `free`, over-commits nothing it takes: the
 * CPU and RAM it asks for and the GPUs it was given. A deficit elsewhere (a GPU that shrank
 * under a run holding it, as a worker's heartbeat may report) does not refuse placements
 * that do not touch it.
 */
export function overCommitsNothingItTakes(free: FreeCapacity, reservation: Reservation): boolean {
  if (reservation.cpu_cores > 0 && free.cpu_cores < 0) return false;
  if (reservation.ram_mb > 0 && free.ram_mb < 0) return false;
  return free.gpus.every((g) => !reservation.gpu_ids.includes(g.id) || g.free_vram_mb >= 0);
}

/** One placement decided by `planPlacements`. */
export interface PlannedPlacement {
  run_id: string;
  gpu_ids: number[];
}

/**
 * Walks runs in the given (claim) order and keeps each that fits what is still free,
 * reserving as it goes, until `limit` runs are placed. Runs that do not fit are skipped,
 * so a large run at the head of the queue does not block smaller ones behind it.
 */
export function planPlacements(
  worker: Pick<Worker, 'resources' | 'tags'>,
  reservations: readonly Reservation[],
  runs: readonly { id: string; constraints: Constraints }[],
  limit: number,
  strategy: GpuStrategy,
): PlannedPlacement[] {
  let free = freeCapacity(worker, reservations);
  const placements: PlannedPlacement[] = [];
  for (const run of runs) {
    if (placements.length >= limit) break;
    const placement = placeRun(run.constraints, worker.tags, free, strategy);
    if (!placement.fits) continue;
    placements.push({ run_id: run.id, gpu_ids: placement.gpu_ids });
    free = reserve(free, reservationOf(run.id, run.constraints, placement.gpu_ids));
  }
  return placements;
}
