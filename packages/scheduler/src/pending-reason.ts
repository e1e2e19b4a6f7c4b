import { freeCapacity, type OpRun, placeOnEmptyWorker, placeRun } from '@gyoza/domain';
import type { Store } from '@gyoza/store';

/**
 * Why a PENDING run has no worker yet, in words for `GET /runs/{id}`; undefined when a
 * worker has room for it now (it goes with that worker's next claim).
 */
export async function explainPending(store: Store, run: OpRun): Promise<string | undefined> {
  if (run.state !== 'PENDING') return undefined;
  const workers = await store.workers.listWorkers('active');
  if (workers.length === 0) return 'no active worker';
  const never: string[] = [];
  for (const worker of workers) {
    const empty = placeOnEmptyWorker(run.constraints, worker);
    if (!empty.fits) {
      never.push(`${worker.id}: ${empty.reason}`);
      continue;
    }
    const free = freeCapacity(worker, await store.runs.reservedTotals(worker.id));
    if (placeRun(run.constraints, worker.tags, free, 'best-fit').fits) return undefined;
  }
  if (never.length === workers.length) return `no active worker can run it (${never.slice(0, 5).join('; ')})`;
  return 'waiting for capacity: every worker that can run it is busy';
}
