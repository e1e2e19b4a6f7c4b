import { freeCapacity, type GpuStrategy, isWithinCapacity, placeRun, type Worker } from '@gyoza/domain';
import type { Store } from '@gyoza/store';

/**
 * Asserts that no worker is over-committed and that no run still PENDING fits on any of them:
 * the claimers really competed for all of the capacity, so a race test that passes has bitten.
 */
export async function expectWorkersFilled(store: Store, workerIds: string[], strategy: GpuStrategy): Promise<void> {
  const pending = (await store.runs.listRuns({ state: 'PENDING', limit: 1000 })).runs;
  for (const id of workerIds) {
    const worker = (await store.workers.getWorker(id)) as Worker;
    const free = freeCapacity(worker, await store.runs.listReservations(id));
    expect(isWithinCapacity(free)).toBe(true);
    for (const run of pending) expect(placeRun(run.constraints, worker.tags, free, strategy).fits).toBe(false);
  }
}
