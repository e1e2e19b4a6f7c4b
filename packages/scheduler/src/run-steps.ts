import { InvalidTransitionError, isGyozaError, type OpRun, type Transition } from '@gyoza/domain';
import { type Store, updateRun } from '@gyoza/store';

// Another writer changing the run first (it finished, was cancelled, already reaped) is fine.
const RACE_CODES = new Set(['INVALID_TRANSITION', 'RUN_LOCKED', 'NOT_FOUND', 'MAX_ATTEMPTS_REACHED']);

/**
 * Applies `transition` to the run as stored now, but only if it is still the assignment this
 * pass looked at: same attempt, same worker, same assignment id (it may have been handed back
 * and claimed again since, even by the same worker). Returns false when another writer got
 * there first; any other error propagates.
 */
export async function applyToSameAssignment(
  store: Store,
  run: OpRun,
  transition: (run: OpRun) => Transition,
  now: Date,
): Promise<boolean> {
  const sameAssignment = (current: OpRun) => {
    if (
      current.current_attempt !== run.current_attempt ||
      current.worker_id !== run.worker_id ||
      current.assignment_id !== run.assignment_id
    ) {
      throw new InvalidTransitionError(current.state, 'take back a changed assignment of');
    }
    return transition(current);
  };
  try {
    await updateRun(store.runs, run.id, sameAssignment, () => now);
    return true;
  } catch (error) {
    if (isGyozaError(error) && RACE_CODES.has(error.code)) return false;
    throw error;
  }
}

/** Every run matching the query, page by page. */
export async function* allRuns(store: Store, query: Parameters<Store['runs']['listRuns']>[0]): AsyncGenerator<OpRun> {
  let cursor: string | undefined;
  do {
    const page = await store.runs.listRuns({ ...query, limit: 500, cursor });
    yield* page.runs;
    cursor = page.next_cursor;
  } while (cursor);
}
