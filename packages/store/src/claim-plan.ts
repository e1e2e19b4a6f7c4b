import {
  type FreeCapacity,
  freeCapacity,
  hasAllTags,
  isWithinCapacity,
  type OpRun,
  type Reservation,
  reservationOf,
  reserve,
  type Worker,
} from '@gyoza/domain';
import type { ClaimChoice } from './ports';

/**
 * The adapters' last line of defence around a planner: keeps only choices that are real
 * candidates, not chosen twice, within the limit, on matching tags, and that leave no CPU, RAM or GPU
 * over-committed given what the worker already holds.
 */
export function checkClaimChoices(
  worker: Worker,
  reservations: readonly Reservation[],
  candidates: readonly OpRun[],
  choices: readonly ClaimChoice[],
  limit: number,
): { run: OpRun; gpu_ids: number[] }[] {
  const byId = new Map(candidates.map((run) => [run.id, run]));
  const gpuTags = new Map(worker.resources.gpus.map((g) => [g.id, g.tags]));
  let free = freeCapacity(worker, reservations);
  const accepted: { run: OpRun; gpu_ids: number[] }[] = [];
  for (const choice of choices) {
    if (accepted.length >= limit) break;
    const run = byId.get(choice.run_id);
    if (!run) continue;
    byId.delete(choice.run_id);
    const gpus = [...new Set(choice.gpu_ids)];
    if (!hasAllTags(worker.tags, run.constraints.worker_tags)) continue;
    if (gpus.length !== run.constraints.gpu_count) continue;
    if (gpus.some((id) => !hasAllTags(gpuTags.get(id) ?? [], run.constraints.gpu_tags) || !gpuTags.has(id))) continue;
    const next = reserve(free, reservationOf(run.id, run.constraints, gpus));
    if (!isWithinCapacity(next)) continue;
    free = next;
    accepted.push({ run, gpu_ids: gpus });
  }
  return accepted;
}

/** At most this many candidates are read per claim unless the request says otherwise. */
export const DEFAULT_CLAIM_SCAN = 500;

/**
 * Candidates are read in small pages, so a claim costs about its limit, not the backlog;
 * the next page is read only when the planner could not fill the limit from the first.
 */
export function claimPageSize(limit: number): number {
  return Math.max(limit * 2, 16);
}

/** Whether a claim should read another page of candidates. */
export function wantsMoreCandidates(
  choices: number,
  limit: number,
  pageLength: number,
  pageSize: number,
  read: number,
  scan: number,
): boolean {
  return choices < limit && pageLength === pageSize && read < scan;
}

/** Upper bounds a candidate's constraints must be within to have any chance on the worker. */
export interface CandidateBounds {
  cpu_milli: number;
  ram_mb: number;
  gpu_count: number;
  vram_mb: number;
}

export function candidateBounds(free: FreeCapacity): CandidateBounds {
  return {
    cpu_milli: Math.round(free.cpu_cores * 1000),
    ram_mb: free.ram_mb,
    gpu_count: free.gpus.length,
    vram_mb: Math.max(0, ...free.gpus.map((g) => g.free_vram_mb)),
  };
}
