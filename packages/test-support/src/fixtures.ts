import { type CreateRunInput, createRun, type Heartbeat, type OpRun, type Transition } from '@gyoza/domain';
import type { Store } from '@gyoza/store';

/** What a test worker has. */
export interface WorkerShape {
  /** @defaultValue 8 */
  cpuCores?: number;
  /** @defaultValue 16000 */
  ramMb?: number;
  /** Each GPU's VRAM in MB; a GPU's id is its index. @defaultValue [] (no GPU) */
  gpus?: number[];
  /** Each GPU's tags, by index. @defaultValue no tags on any GPU */
  gpuTags?: string[][];
  /** The worker's tags. @defaultValue [] */
  tags?: string[];
}

/** A heartbeat from an idle worker of the given shape. */
export function heartbeat(workerId: string, shape: WorkerShape = {}): Heartbeat {
  const { cpuCores = 8, ramMb = 16000, gpus = [], gpuTags = [], tags = [] } = shape;
  return {
    worker_id: workerId,
    resources: {
      cpu_cores: cpuCores,
      ram_mb: ramMb,
      gpus: gpus.map((vram, i) => ({ id: i, vram_mb: vram, tags: gpuTags[i] ?? [] })),
    },
    tags,
    running_ops: [],
  };
}

/** An ad hoc run's creation (image `busybox` unless given), not yet stored. */
export function newRun(input: CreateRunInput = {}, at: Date = new Date()): Transition {
  return createRun({ image: 'busybox', ...input }, null, at);
}

/** Creates an ad hoc run in the store and returns it, PENDING. */
export async function addRun(store: Store, input: CreateRunInput = {}, at: Date = new Date()): Promise<OpRun> {
  return (await store.runs.createRun(newRun(input, at), at)).run;
}
