import { type GpuStrategy, planPlacements } from '@gyoza/domain';
import type { ClaimPlanner } from '@gyoza/store';

/** A reference planner for the contract: the domain's placement walk. */
export function fitPlanner(strategy: GpuStrategy = 'direct'): ClaimPlanner {
  return ({ worker, reservations, candidates, limit }) =>
    planPlacements(worker, reservations, candidates, limit, strategy);
}
