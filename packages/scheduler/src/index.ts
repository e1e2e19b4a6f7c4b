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
