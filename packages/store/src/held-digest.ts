import { heldRunsDigest } from '@gyoza/domain';
import type { RunStore } from './ports';

/**
 * A worker's held digest (`heldRunsDigest` of the runs it holds): kept by the adapter when it
 * offers `heldDigest` (O(1)), otherwise computed from `listHeldRunIds` (O(ids)).
 */
export async function heldDigestOf(runs: RunStore, workerId: string): Promise<string> {
  return runs.heldDigest ? runs.heldDigest(workerId) : heldRunsDigest(await runs.listHeldRunIds(workerId));
}
