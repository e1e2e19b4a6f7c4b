import type { RunState } from '@gyoza/domain';
import type { ListRunsFilter } from './types';

/** GET /stats: what an overview shows. */
export interface StatsJson {
  runs_by_state: Record<RunState, number>;
  /** PENDING runs. */
  queue_depth: number;
  workers: { active: number; evicted: number };
  /** GPUs of active workers; busy means some VRAM is reserved on it. */
  gpus: { total: number; busy: number; free: number; vram_total_mb: number; vram_free_mb: number };
}

export interface ThroughputBucketJson {
  /** ISO time the minute starts. */
  start: string;
  created: number;
  completed: number;
  failed: number;
}

/** GET /stats/throughput: one bucket per minute, oldest first. */
export interface ThroughputJson {
  bucket_seconds: number;
  buckets: ThroughputBucketJson[];
  /** How many recent runs the server looked at. */
  scanned: number;
}

/** GET /search/runs: the filters of GET /runs and a creation-time range. */
export interface SearchRunsFilter extends ListRunsFilter {
  /** Inclusive. */
  created_after?: Date | string;
  /** Exclusive. */
  created_before?: Date | string;
}
