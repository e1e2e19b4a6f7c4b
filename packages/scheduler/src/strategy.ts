import { GPU_STRATEGIES, type GpuStrategy, planPlacements, ValidationError } from '@gyoza/domain';
import type { ClaimChoice, ClaimContext } from '@gyoza/store';

/**
 * Decides which pending runs a worker takes and on which GPUs. Pure and synchronous: the
 * store calls it inside its claim, with the candidates in claim order (priority, then age).
 */
export interface SchedulingStrategy {
  readonly name: string;
  plan(context: ClaimContext): ClaimChoice[];
}

function fitStrategy(name: GpuStrategy): SchedulingStrategy {
  return {
    name,
    plan: ({ worker, reserved, candidates, limit }) => planPlacements(worker, reserved, candidates, limit, name),
  };
}

/** First fit: the first pending runs that fit, GPUs taken in the worker's order. */
export const directStrategy: SchedulingStrategy = fitStrategy('direct');

/** Same order, but each run gets the GPUs with the least free VRAM that still fit. */
export const bestFitStrategy: SchedulingStrategy = fitStrategy('best-fit');

/**
 * The strategy of that name (one of `GPU_STRATEGIES`). Throws a ValidationError on the field
 * `strategy`; where the name came from (a setting, a flag) is the caller's to say.
 */
export function strategyByName(name: string): SchedulingStrategy {
  if (name === 'direct') return directStrategy;
  if (name === 'best-fit') return bestFitStrategy;
  throw ValidationError.field('strategy', `must be one of ${GPU_STRATEGIES.join(', ')}, got '${name}'`);
}
