/**
 * gyoza's scheduler: `Scheduler` (claims with long polls, pending reasons, the reaper loop),
 * the GPU-picking strategies (`bestFitStrategy`, `directStrategy`, `strategyByName`) and one
 * reaper pass on its own (`reapOnce`).
 */
export { type ReapResult, reapOnce } from './reaper';
export {
  type ClaimOptions,
  MAX_CLAIM_LIMIT,
  MAX_WAIT_SECONDS,
  Scheduler,
  type SchedulerLogger,
  type SchedulerOptions,
} from './scheduler';
export { bestFitStrategy, directStrategy, type SchedulingStrategy, strategyByName } from './strategy';
