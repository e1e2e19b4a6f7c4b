/**
 * gyoza's domain: entities and rules, pure (no I/O, nothing else of gyoza's).
 *
 * - Definitions: `OpDefinition`, `defineOp`, `latestVersion`; inputs: `InputSpecs`, `validateInputs`.
 * - Runs: `OpRun`, `OpAttempt`, `RUN_STATES`, `FINISHED_STATES`, `WORKER_EVENT_TYPES`, `SERVER_EVENT_TYPES`, `createRun`.
 * - Transitions, one function per edge: `assign`, `start`, `progress`, `complete`, `fail`, `cancel`,
 *   `retry`, `unassign`, `release`, `timeOut`, `workerLost`; the allowed edges in `ALLOWED_FROM`;
 *   a worker's report mapped to them: `applyWorkerEvent`, `note`.
 * - Capacity: `Constraints`, `freeCapacity`, `placeRun`, `chooseGpus`, `planPlacements`; `RetryPolicy`, `backoffSeconds`.
 * - Workers: `Worker`, `applyHeartbeat`, `isSilent`, `heldRunsDigest` (what a heartbeat sends instead of its run ids); image locality: `canonicalImageRef`, `imageDeferral`; `EventDelivery`; webhook signatures: `signWebhook`, `webhookKey`, `webhookSecretProblem`.
 * - Errors: `GyozaError` and its subclasses, `ERROR_CODES` with the HTTP status of each.
 */
export * from './constraints';
export * from './definition';
export * from './errors';
export * from './event-delivery';
export * from './fit';
export * from './held-digest';
export * from './image-locality';
export * from './inputs';
export * from './retry';
export * from './run';
export * from './transitions';
export * from './webhook-signature';
export * from './worker';
export * from './worker-events';
