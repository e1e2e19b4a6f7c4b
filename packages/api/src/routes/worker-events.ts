import {
  applyWorkerEvent,
  httpStatusOf,
  isFinished,
  isGyozaError,
  NotFoundError,
  type OpRun,
  ValidationError,
  WORKER_ID_PATTERN,
  type WorkerEvent,
} from '@gyoza/domain';
import { updateRun } from '@gyoza/store';
import { ReportEventsDto, ReportedEventDto } from '../dto/worker-events.dto';
import type { ApiContext, RouteSpec } from '../route';
import { parseDto } from '../validation';

/**
 * Applies one worker report to a run (POST /runs/{id}/events and each item of POST
 * /workers/{id}/events) and answers the run after it. Free-form lines (LOG, INFO) do not
 * change the run, so they skip the revision check; a pull report (at most one a second)
 * changes its pull_progress and is saved as a change.
 */
export async function reportEvent(ctx: ApiContext, runId: string, event: WorkerEvent): Promise<OpRun> {
  if (event.type === 'LOG' || event.type === 'INFO') {
    const run = await ctx.store.runs.getRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    const noted = applyWorkerEvent(run, event, ctx.clock());
    if (noted.run === run) {
      await ctx.store.runs.appendEvents(runId, noted.events, ctx.clock());
      return run;
    }
  }
  const saved = await updateRun(ctx.store.runs, runId, (run) => applyWorkerEvent(run, event, ctx.clock()), ctx.clock);
  // A finished run frees capacity and a failed one may be retried: wake waiting claims.
  if (saved.run.state === 'PENDING' || isFinished(saved.run.state)) ctx.scheduler.notifyRunnable();
  return saved.run;
}

/** One item of the answer: the run's state after the report, or the error it got (as the error mapping answers it). */
type ReportResult =
  | { run_id: string | null; status: number; state: OpRun['state']; current_attempt: number }
  | { run_id: string | null; status: number; error: { code: string; message: string; details?: unknown } };

export const workerEventRoutes: RouteSpec[] = [
  {
    method: 'post',
    path: '/workers/:id/events',
    tag: 'events',
    summary:
      "Report events for many runs in one request (the worker's batch of POST /runs/{id}/events): applied in order, each validated and fenced by its assignment_id on its own, one result per item",
    params: { id: WORKER_ID_PATTERN },
    body: ReportEventsDto,
    success: {
      status: 200,
      description: 'One result per reported event, in order: its status and the run state after it, or its error',
      schema: 'ReportEventsAnswer',
    },
    async handler(req, res, ctx) {
      const { events } = parseDto(ReportEventsDto, req.body, 'body');
      const workerId = req.params.id as string;
      const results: ReportResult[] = new Array(events.length);
      const apply = async (i: number, item: Record<string, unknown>): Promise<ReportResult> => {
        const runId = typeof item.run_id === 'string' ? item.run_id : null;
        try {
          const { run_id, ...event } = parseDto(ReportedEventDto, item, `events.${i}`);
          if (event.worker_id !== undefined && event.worker_id !== workerId) {
            throw ValidationError.field(`events.${i}.worker_id`, `must be the worker of the path (${workerId})`);
          }
          const run = await reportEvent(ctx, run_id, { ...event, worker_id: workerId });
          return { run_id, status: 200, state: run.state, current_attempt: run.current_attempt };
        } catch (error) {
          if (!isGyozaError(error)) throw error;
          const body = {
            code: error.code,
            message: error.message,
            ...(error.details?.length ? { details: error.details } : {}),
          };
          return { run_id: runId, status: httpStatusOf(error.code), error: body };
        }
      };
      // A run's reports are applied in order; different runs' go side by side, so the store
      // can commit their writes together.
      const byRun = new Map<unknown, number[]>();
      events.forEach((item, i) => {
        const key = typeof item.run_id === 'string' ? item.run_id : i;
        byRun.set(key, [...(byRun.get(key) ?? []), i]);
      });
      await Promise.all(
        [...byRun.values()].map(async (indexes) => {
          for (const i of indexes) results[i] = await apply(i, events[i] as Record<string, unknown>);
        }),
      );
      res.json({ results });
    },
  },
];
