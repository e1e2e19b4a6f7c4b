import { heldRunsDigest, type OpRun } from '@gyoza/domain';
import type { RunQuery, RunStore } from './ports';

/**
 * What the heartbeat and the reaper read about held runs, each from the adapter's kept data
 * when it offers it, otherwise computed from the runs themselves (the same answers, at a cost
 * that grows with the held runs).
 */

/** A worker's held digest (`heldRunsDigest` of the runs it holds). */
export async function heldDigestOf(runs: RunStore, workerId: string): Promise<string> {
  return runs.heldDigest ? runs.heldDigest(workerId) : heldRunsDigest(await runs.listHeldRunIds(workerId));
}

/** The ids of the workers holding ASSIGNED or RUNNING runs, sorted. */
export async function holdingWorkerIdsOf(runs: RunStore): Promise<string[]> {
  if (runs.listHoldingWorkerIds) return runs.listHoldingWorkerIds();
  const ids = new Set<string>();
  for await (const run of scan(runs, { state: ['ASSIGNED', 'RUNNING'] })) if (run.worker_id) ids.add(run.worker_id);
  return [...ids].sort();
}

/** RUNNING runs past their `timeout_seconds` at `now`. */
export async function timedOutRunsOf(runs: RunStore, now: Date): Promise<OpRun[]> {
  if (runs.listTimedOutRuns) return runs.listTimedOutRuns(now);
  const due: OpRun[] = [];
  for await (const run of scan(runs, { state: 'RUNNING' })) if (isPastTimeout(run, now)) due.push(run);
  return due;
}

/** Whether a RUNNING run's `timeout_seconds` has passed since it started. */
export function isPastTimeout(run: OpRun, now: Date): boolean {
  const limit = run.constraints.timeout_seconds;
  return limit > 0 && run.started_at !== undefined && now.getTime() - run.started_at.getTime() > limit * 1000;
}

async function* scan(runs: RunStore, query: RunQuery): AsyncGenerator<OpRun> {
  let cursor: string | undefined;
  do {
    const page = await runs.listRuns({ ...query, limit: 500, cursor });
    yield* page.runs;
    cursor = page.next_cursor;
  } while (cursor);
}
