import {
  type Constraints,
  type FreeCapacity,
  type OpRun,
  placeRun,
  type Reservation,
  type Worker,
} from '@gyoza/domain';

/**
 * A run's demand shape: everything `placeRun` looks at (CPU in milli-cores, RAM, GPU count,
 * VRAM, worker tags, GPU tags), as a JSON array text. Pending runs are grouped by it, so a
 * claim reads only the groups that fit the worker's free capacity, however many pending runs
 * of other shapes are ahead of them. Tags are sorted, so one demand has one key.
 */
export function shapeKey(constraints: Constraints): string {
  return JSON.stringify([
    Math.round(constraints.cpu_cores * 1000),
    constraints.ram_mb,
    constraints.gpu_count,
    constraints.vram_mb,
    [...constraints.worker_tags].sort(),
    [...constraints.gpu_tags].sort(),
  ]);
}

type ShapeFields = Pick<Constraints, 'cpu_cores' | 'ram_mb' | 'gpu_count' | 'vram_mb' | 'worker_tags' | 'gpu_tags'>;

const decoded = new Map<string, ShapeFields | null>();

/** The constraints a shape key stands for; null for a key this code cannot read. */
export function shapeConstraints(key: string): ShapeFields | null {
  let shape = decoded.get(key);
  if (shape !== undefined) return shape;
  try {
    const [cpu, ram, gpus, vram, workerTags, gpuTags] = JSON.parse(key) as [
      number,
      number,
      number,
      number,
      string[],
      string[],
    ];
    shape = {
      cpu_cores: cpu / 1000,
      ram_mb: ram,
      gpu_count: gpus,
      vram_mb: vram,
      worker_tags: workerTags,
      gpu_tags: gpuTags,
    };
  } catch {
    shape = null;
  }
  // Shapes are few in practice; the cap only guards against a flood of distinct ones.
  if (decoded.size > 10_000) decoded.clear();
  decoded.set(key, shape);
  return shape;
}

/**
 * Whether runs of this shape can fit `free` on the worker now. A key that cannot be read
 * counts as fitting: the planner then decides on the runs themselves.
 */
export function shapeFits(key: string, worker: Pick<Worker, 'tags'>, free: FreeCapacity): boolean {
  const shape = shapeConstraints(key);
  if (!shape) return true;
  return placeRun({ ...shape, timeout_seconds: 0 }, worker.tags, free, 'direct').fits;
}

/** Claim order: priority desc, created_at asc, id asc. */
export function compareClaimOrder(a: OpRun, b: OpRun): number {
  return (
    b.priority - a.priority ||
    a.created_at.getTime() - b.created_at.getTime() ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** Merges pages that are each in claim order into the first `size` runs in claim order. */
export function mergeClaimOrder(pages: readonly OpRun[][], size: number): OpRun[] {
  if (pages.length === 1) return (pages[0] as OpRun[]).slice(0, size);
  return pages.flat().sort(compareClaimOrder).slice(0, size);
}

/**
 * What a worker holds, as kept by an adapter beside the runs (maintained by the transitions
 * that assign and free them): totals, and VRAM per GPU.
 */
export interface HeldTotals {
  cpu_milli: number;
  ram_mb: number;
  /** GPU id -> VRAM held on it. */
  vram_by_gpu: ReadonlyMap<number, number>;
}

/**
 * Held totals as reservations `freeCapacity` understands: one for CPU and RAM, one per GPU
 * holding VRAM. Their `run_id` is empty: they stand for all the worker's runs together.
 */
export function totalsAsReservations(held: HeldTotals): Reservation[] {
  const reservations: Reservation[] = [
    { run_id: '', cpu_cores: held.cpu_milli / 1000, ram_mb: held.ram_mb, vram_mb: 0, gpu_ids: [] },
  ];
  for (const [gpu, vram] of held.vram_by_gpu) {
    reservations.push({ run_id: '', cpu_cores: 0, ram_mb: 0, vram_mb: vram, gpu_ids: [gpu] });
  }
  return reservations;
}
