import {
  freeCapacity,
  imageDeferral,
  indexImageHolders,
  type OpRun,
  placeOnEmptyWorker,
  placeRun,
} from '@gyoza/domain';
import type { Store } from '@gyoza/store';

/** Image locality as `explainPending` applies it (both default to none: no locality). */
export interface PendingLocality {
  now: Date;
  /** `SchedulerOptions.imageLocalityWaitSeconds`. */
  waitSeconds: number;
}

/**
 * Why a PENDING run has no worker yet, in words for `GET /runs/{id}`; undefined when a
 * worker has room for it now (it goes with that worker's next claim). While the run is left
 * to a worker that holds its image (`imageDeferral`), says so and for how long at most.
 */
export async function explainPending(
  store: Store,
  run: OpRun,
  locality?: PendingLocality,
): Promise<string | undefined> {
  if (run.state !== 'PENDING') return undefined;
  const workers = await store.workers.listWorkers('active');
  if (workers.length === 0) return 'no active worker';
  if (locality && locality.waitSeconds > 0) {
    const holders = indexImageHolders(workers);
    const deferral = imageDeferral(run, '', () => new Set(), { holders, ...locality });
    if (deferral) {
      const seconds = Math.ceil((deferral.until.getTime() - locality.now.getTime()) / 1000);
      return `waiting up to ${seconds}s for worker ${deferral.holder.id}, which has image ${deferral.image}`;
    }
  }
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
