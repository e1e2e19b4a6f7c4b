import { ConcurrentModificationError, NotFoundError, type OpRun, type Transition } from '@gyoza/domain';
import type { RunStore, SavedTransition } from './ports';

/**
 * Loads a run, applies a pure domain transition and saves it with optimistic concurrency,
 * re-reading and re-applying when another writer got there first. Domain errors from
 * `mutate` propagate unchanged and nothing is written.
 */
export async function updateRun(
  runs: RunStore,
  id: string,
  mutate: (run: OpRun) => Transition,
  now: () => Date,
  attempts = 8,
): Promise<SavedTransition> {
  for (let i = 0; i < attempts; i++) {
    const run = await runs.getRun(id);
    if (!run) throw new NotFoundError('run', id);
    const transition = mutate(run);
    if (transition.run === run && transition.events.length === 0) return { run, events: [] };
    try {
      return await runs.saveTransition(transition, now());
    } catch (error) {
      if (!(error instanceof ConcurrentModificationError)) throw error;
    }
  }
  throw new ConcurrentModificationError(id);
}
