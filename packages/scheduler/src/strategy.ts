import {
  GPU_STRATEGIES,
  type GpuStrategy,
  heldImageSet,
  imageDeferral,
  type OpRun,
  planPlacements,
  ValidationError,
} from '@gyoza/domain';
import type { ClaimChoice, ClaimContext } from '@gyoza/store';

/**
 * Decides which pending runs a worker takes and on which GPUs. Pure and synchronous: the
 * store calls it inside its claim, with the candidates in claim order (priority, then age).
 * The built-in strategies first leave out runs another worker holds the image of, for a
 * bounded time (`localCandidates`), then take the first that fit.
 */
export interface SchedulingStrategy {
  readonly name: string;
  plan(context: ClaimContext): ClaimChoice[];
}

/**
 * The candidates this worker should take now: those it holds the image of, those no other
 * active worker that could run them holds the image of, and those pending longer than the
 * locality wait (`imageDeferral`). The others are left to their image's holder for a while.
 */
export function localCandidates({ worker, candidates, locality }: ClaimContext): OpRun[] {
  if (!locality || locality.waitSeconds <= 0 || locality.holders.size === 0) return candidates;
  let own: ReadonlySet<string> | undefined;
  const workerImages = () => {
    own ??= heldImageSet(worker.images);
    return own;
  };
  return candidates.filter((run) => !imageDeferral(run, worker.id, workerImages, locality));
}

function fitStrategy(name: GpuStrategy): SchedulingStrategy {
  return {
    name,
    plan: (context) => planPlacements(context.worker, context.reserved, localCandidates(context), context.limit, name),
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
