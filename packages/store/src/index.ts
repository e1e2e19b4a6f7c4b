/**
 * gyoza's persistence ports and what every adapter shares.
 *
 * - Ports: `Store` = `DefinitionStore` + `RunStore` + `WorkerStore` + `ClaimStore` + `LeaseStore` (`ports.ts`).
 * - Held runs: `heldDigestOf`, `holdingWorkerIdsOf`, `timedOutRunsOf` (kept by the adapter or computed from the runs).
 * - `updateRun`: applies a domain transition to the stored run with an optimistic revision check.
 * - Claims: `planClaim`/`planClaimAsync` (the paging loop over pending runs), `checkClaimChoices`, `claimPageSize`, `candidateBounds`.
 * - Webhook outbox: `DeliveryStore`, `outboxEntryFor` (what an event's delivery is), `claimDeliveries` (leases on the deliveries themselves).
 * - Demand shapes: `shapeKey` (pending runs grouped by what they need), `shapeFits`, `mergeClaimOrder`, `totalsAsReservations`.
 * - Codecs and paging: `encodeRun`/`decodeRun` and friends, `encodeRunCursor`, `runPage`.
 */
export * from './claim-plan';
export * from './codec';
export * from './cursor';
export * from './delivery-claim';
export * from './held-runs';
export * from './outbox';
export * from './ports';
export * from './shape';
export * from './update-run';
