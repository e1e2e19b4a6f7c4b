import { type OpRun, unassign, type Worker, workerLost } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import { applyToSameAssignment } from './run-steps';

export interface ReconcileOptions {
  /** Where runs live (required). */
  store: Store;
  /** The worker as its heartbeat just stored it; its `running_ops` is the worker's truth (required). */
  worker: Worker;
  /**
   * When the worker's previous heartbeat was received, before this one; none for a worker
   * seen for the first time (nothing is taken back then).
   */
  previousHeartbeatAt: Date | undefined;
  /** The time of this heartbeat (required). */
  now: Date;
  /**
   * How long before this heartbeat a run must have been assigned to be taken back, besides
   * before the previous one: the previous heartbeat may itself have been sent before the claim
   * and handled late (a slow store, or the last request of a process that restarted under the
   * same id), so its time alone does not prove the worker had the claim's answer.
   * @defaultValue 1000
   */
  graceMs?: number;
}

/** {@link ReconcileOptions.graceMs}'s default. */
export const RECONCILE_GRACE_MS = 1000;

export interface ReconcileResult {
  /** Runs the worker listed that are not its to run: finished, cancelled, someone else's, unknown. */
  stop_runs: string[];
  /** ASSIGNED runs the worker did not list, handed back to PENDING (same attempt). */
  unassigned: string[];
  /** RUNNING runs the worker did not list, failed as WORKER_LOST (then retried per policy). */
  lost: string[];
  /** Runs whose step threw; the caller logs them, the others are settled all the same. */
  failed: { id: string; error: unknown }[];
}

/**
 * Whether the run was assigned before `since`. A run stored before assignments carried a
 * time has none: it counts as old.
 */
function assignedBefore(run: OpRun, since: Date): boolean {
  return run.assigned_at === undefined || run.assigned_at < since;
}

/**
 * Compares a heartbeat's `running_ops` with the runs the server has ASSIGNED or RUNNING on
 * that worker. A run the worker does not list is taken back (ASSIGNED -> PENDING, RUNNING ->
 * WORKER_LOST -> retry policy) only if it was assigned before the worker's previous heartbeat
 * was received and at least `graceMs` before this one: this heartbeat may have been built while
 * a later claim's answer was still on its way, so such a run waits for a later heartbeat. A run
 * the worker holds but does not list is thus settled within about one heartbeat interval plus
 * the grace. Should a claim's answer be slower than that, fencing refuses the worker's reports
 * on it (STALE_ASSIGNMENT) and its next heartbeat is told to stop it.
 *
 * Each step is a conditional update through a domain transition on the same assignment, so
 * a claim, a report or the reaper acting at the same moment is never overwritten.
 */
export async function reconcileWorker(options: ReconcileOptions): Promise<ReconcileResult> {
  const { store, worker, previousHeartbeatAt, now, graceMs = RECONCILE_GRACE_MS } = options;
  const result: ReconcileResult = { stop_runs: [], unassigned: [], lost: [], failed: [] };
  const listed = new Set(worker.running_ops);
  const step = async (id: string, apply: () => Promise<boolean>, into: string[]) => {
    try {
      if (await apply()) into.push(id);
    } catch (error) {
      result.failed.push({ id, error });
    }
  };

  // Ids only: a worker holding thousands of runs it lists costs one index read, not a decode each.
  const held = await store.runs.listHeldRunIds(worker.id);
  const unlisted = held.filter((id) => !listed.has(id));
  if (previousHeartbeatAt !== undefined) {
    const graceEnd = now.getTime() - graceMs;
    const since = previousHeartbeatAt.getTime() < graceEnd ? previousHeartbeatAt : new Date(graceEnd);
    const reason = `worker ${worker.id} did not list the run in its heartbeat`;
    for (const id of unlisted) {
      const run = await store.runs.getRun(id);
      if (!run || run.worker_id !== worker.id || !assignedBefore(run, since)) continue;
      if (run.state === 'ASSIGNED') {
        await step(
          run.id,
          () => applyToSameAssignment(store, run, (r) => unassign(r, now, reason), now),
          result.unassigned,
        );
      } else if (run.state === 'RUNNING') {
        await step(
          run.id,
          () => applyToSameAssignment(store, run, (r) => workerLost(r, now, reason), now),
          result.lost,
        );
      }
    }
  }

  // Usually the worker lists exactly what it holds: then no second set is built.
  if (held.length - unlisted.length < listed.size) {
    const holds = new Set(held);
    for (const id of listed) if (!holds.has(id)) result.stop_runs.push(id);
  }
  return result;
}
