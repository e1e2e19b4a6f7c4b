import { isSilent, retry, timeOut, unassign, workerLost } from '@gyoza/domain';
import { holdingWorkerIdsOf, isPastTimeout, type Store, timedOutRunsOf } from '@gyoza/store';
import { allRuns, applyToSameAssignment as apply } from './run-steps';

export interface ReapResult {
  /** False when another process holds the reaper lease; nothing was done. */
  leader: boolean;
  evicted: string[];
  unassigned: string[];
  lost: string[];
  timed_out: string[];
  retried: string[];
  /** Runs and workers whose step threw; each is logged and the pass goes on without it. */
  failed: { id: string; error: unknown }[];
}

export interface ReapOptions {
  /** Where runs, workers and the lease live (required). */
  store: Store;
  /** The time of this pass (required). */
  now: Date;
  /** This process's name in the reaper lease (required). */
  holderId: string;
  /** Workers silent this long are evicted (required). */
  workerTimeoutSeconds: number;
  /** How long the lease taken for this pass lasts (required). */
  leaseTtlMs: number;
  /**
   * No worker is evicted before this time: the restart grace, so that workers which were
   * silent only because the server was down get a full timeout to heartbeat again.
   * @defaultValue no grace
   */
  evictNotBefore?: Date;
}

/**
 * One pass of the background loop. Only the lease holder acts, and every step is a
 * conditional store update through a domain transition, so a pass that dies half-way or
 * overlaps another is harmless: the next pass finds what is left.
 */
export async function reapOnce(options: ReapOptions): Promise<ReapResult> {
  const { store, now } = options;
  const result: ReapResult = {
    leader: false,
    evicted: [],
    unassigned: [],
    lost: [],
    timed_out: [],
    retried: [],
    failed: [],
  };
  // One bad run or worker (a corrupt document, a bug in a transition) is reported and
  // skipped; it never stops the pass for the others.
  const attempt = async (id: string, step: () => Promise<boolean>, into: string[]) => {
    try {
      if (await step()) into.push(id);
    } catch (error) {
      result.failed.push({ id, error });
    }
  };
  if (!(await store.leases.acquireLease('reaper', options.holderId, options.leaseTtlMs, now))) return result;
  result.leader = true;

  const silentSince = new Date(now.getTime() - options.workerTimeoutSeconds * 1000);
  const inGrace = options.evictNotBefore !== undefined && now < options.evictNotBefore;
  const workers = inGrace ? [] : await store.workers.listWorkers();
  for (const worker of workers) {
    if (worker.status === 'active' && isSilent(worker, now, options.workerTimeoutSeconds)) {
      await attempt(worker.id, () => store.workers.evictWorker(worker.id, silentSince, now), result.evicted);
    }
  }
  const active = new Set((await store.workers.listWorkers('active')).map((w) => w.id));

  // Which workers hold runs, and which runs are past their timeout, are kept data where the
  // store keeps them: a pass reads the runs of gone workers and the due runs, not every held run.
  for (const workerId of await holdingWorkerIdsOf(store.runs)) {
    if (active.has(workerId)) continue;
    for await (const run of allRuns(store, { worker_id: workerId, state: ['ASSIGNED', 'RUNNING'] })) {
      if (run.state === 'ASSIGNED') {
        const reason = `worker ${run.worker_id} lost before start`;
        await attempt(run.id, () => apply(store, run, (r) => unassign(r, now, reason), now), result.unassigned);
      } else if (run.state === 'RUNNING') {
        await attempt(run.id, () => apply(store, run, (r) => workerLost(r, now), now), result.lost);
      }
    }
  }
  for (const run of await timedOutRunsOf(store.runs, now)) {
    // Runs of gone workers were settled above; what is read here is due as of this pass.
    if (run.state !== 'RUNNING' || run.worker_id === undefined || !active.has(run.worker_id)) continue;
    if (!isPastTimeout(run, now)) continue;
    await attempt(run.id, () => apply(store, run, (r) => timeOut(r, now), now), result.timed_out);
  }

  for await (const run of allRuns(store, { state: 'FAILED', due_before: now })) {
    await attempt(run.id, () => apply(store, run, (r) => retry(r, now, { automatic: true }), now), result.retried);
  }
  return result;
}
