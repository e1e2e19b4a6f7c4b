import { freeCapacity, type GpuStrategy, placeRun, reservationOf, reserve } from '@gyoza/domain';
import type { ClaimChoice, ClaimPlanner } from '../ports';

/** A reference planner for the contract: walk candidates in order, keep what fits. */
export function fitPlanner(strategy: GpuStrategy = 'direct'): ClaimPlanner {
  return ({ worker, reservations, candidates, limit }) => {
    let free = freeCapacity(worker, reservations);
    const choices: ClaimChoice[] = [];
    for (const run of candidates) {
      if (choices.length >= limit) break;
      const placement = placeRun(run.constraints, worker.tags, free, strategy);
      if (!placement.fits) continue;
      choices.push({ run_id: run.id, gpu_ids: placement.gpu_ids });
      free = reserve(free, reservationOf(run.id, run.constraints, placement.gpu_ids));
    }
    return choices;
  };
}
