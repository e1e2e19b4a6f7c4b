/**
 * gyoza's persistence ports and what every adapter shares.
 *
 * - Ports: `Store` = `DefinitionStore` + `RunStore` + `WorkerStore` + `ClaimStore` + `LeaseStore` (`ports.ts`).
 * - `updateRun`: applies a domain transition to the stored run with an optimistic revision check.
 * - Claims: `checkClaimChoices`, `claimPageSize`, `candidateBounds` (paging through pending runs).
 * - Codecs and paging: `encodeRun`/`decodeRun` and friends, `encodeRunCursor`, `runPage`.
 */
export * from './claim-plan';
export * from './codec';
export * from './cursor';
export * from './ports';
export * from './update-run';
