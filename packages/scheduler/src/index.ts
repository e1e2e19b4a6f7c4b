/**
 * gyoza's scheduler: `Scheduler` (claims with long polls, pending reasons, the reaper loop,
 * heartbeats with reconciliation; `RunnableChange` says whom a change wakes), the GPU-picking
 * strategies (`bestFitStrategy`, `directStrategy`, `strategyByName`; image locality:
 * `localCandidates`), one reaper pass on its own (`reapOnce`) and one worker's reconciliation
 * (`reconcileWorker`), and the webhook sender: `DeliveryLoop` (claims and sends the outbox,
 * retries, dead letters), `sendWebhook`, `TargetGuard` (the internal-address refusal),
 * `parseNetworks`.
 */
export {
  DeliveryLoop,
  type DeliveryLoopOptions,
  type DeliveryObserver,
  retryDelayMs,
} from './delivery-loop';
export { type ReapResult, reapOnce } from './reaper';
export { type ReconcileOptions, type ReconcileResult, reconcileWorker } from './reconcile';
export {
  type ClaimOptions,
  type HeartbeatResult,
  MAX_CLAIM_LIMIT,
  MAX_WAIT_SECONDS,
  Scheduler,
  type SchedulerLogger,
  type SchedulerOptions,
} from './scheduler';
export {
  bestFitStrategy,
  directStrategy,
  localCandidates,
  type SchedulingStrategy,
  strategyByName,
} from './strategy';
export { type RunnableChange, runnableChange } from './waiting-claims';
export { parseNetworks, type SendResult, sendWebhook, TargetGuard, webhookHeaders } from './webhook-send';
