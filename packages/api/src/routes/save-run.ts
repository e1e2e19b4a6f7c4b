import type { OpRun, Transition } from '@gyoza/domain';
import { type SavedTransition, updateRun } from '@gyoza/store';
import type { ApiContext } from '../route';

/**
 * Saves a transition of run `id` (read, `mutate`, conditional save, retried on a concurrent
 * change) and wakes the waiting claims it concerns: a re-queued run wakes claims that can
 * take it, a run that left a worker wakes that worker's claims (`Scheduler.notifySaved`).
 */
export async function saveRun(
  ctx: ApiContext,
  id: string,
  mutate: (run: OpRun) => Transition,
): Promise<SavedTransition> {
  let before: OpRun | undefined;
  const saved = await updateRun(
    ctx.store.runs,
    id,
    (run) => {
      before = run;
      return mutate(run);
    },
    ctx.clock,
  );
  if (before) ctx.scheduler.notifySaved(before, saved.run);
  return saved;
}
