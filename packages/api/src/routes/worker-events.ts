import {
  applyWorkerEvent,
  httpStatusOf,
  isGyozaError,
  NotFoundError,
  type OpRun,
  type RunEventDraft,
  ValidationError,
  WORKER_ID_PATTERN,
  type WorkerEvent,
} from '@gyoza/domain';
import { ReportEventsDto, ReportedEventDto } from '../dto/worker-events.dto';
import type { ApiContext, RouteSpec } from '../route';
import { parseDto } from '../validation';
import { saveRun } from './save-run';

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
      // Checked again on the run as the events are written: a terminal report (or a retry)
      // that got in since refuses them, as it would have before.
      await ctx.store.runs.appendEvents(runId, noted.events, ctx.clock(), (current) => {
        applyWorkerEvent(current, event, ctx.clock());
      });
      return run;
    }
  }
  // A finished run frees its worker's capacity and a re-queued one is work: saveRun wakes claims for it.
  return (await saveRun(ctx, runId, (run) => applyWorkerEvent(run, event, ctx.clock()))).run;
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
      const errorResult = (runId: string | null, error: unknown): ReportResult => {
        if (!isGyozaError(error)) throw error;
        const body = {
          code: error.code,
          message: error.message,
          ...(error.details?.length ? { details: error.details } : {}),
        };
        return { run_id: runId, status: httpStatusOf(error.code), error: body };
      };
      const parse = (i: number): { run_id: string; event: WorkerEvent } => {
        const { run_id, ...event } = parseDto(ReportedEventDto, events[i], `events.${i}`);
        if (event.worker_id !== undefined && event.worker_id !== workerId) {
          throw ValidationError.field(`events.${i}.worker_id`, `must be the worker of the path (${workerId})`);
        }
        return { run_id, event: { ...event, worker_id: workerId } };
      };
      const apply = async (i: number): Promise<ReportResult> => {
        const item = events[i] as Record<string, unknown>;
        const runId = typeof item.run_id === 'string' ? item.run_id : null;
        try {
          const { run_id, event } = parse(i);
          const run = await reportEvent(ctx, run_id, event);
          return { run_id, status: 200, state: run.state, current_attempt: run.current_attempt };
        } catch (error) {
          return errorResult(runId, error);
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
          if (indexes.length > 1 && (await applyTogether(ctx, indexes, parse, errorResult, results))) return;
          for (const i of indexes) results[i] = await apply(i);
        }),
      );
      res.json({ results });
    },
  },
];

/**
 * Several reports on one run in one batch (an agent's STARTED and COMPLETED), applied in
 * order to one read of the run and saved as one transition: each report's events are
 * appended as they would be one by one and each still gets its own result, but the run is
 * read, written and committed once. Reports that fail (stale, wrong state) leave the run as
 * the one before them left it, as they would alone. Answers false, having applied nothing,
 * where one by one is the only faithful way: a report that does not parse (its own 400),
 * only free-form lines (LOG and INFO are appended without a revision), or a run with a
 * webhook (each delivery carries the run as its own event left it).
 */
async function applyTogether(
  ctx: ApiContext,
  indexes: number[],
  parse: (i: number) => { run_id: string; event: WorkerEvent },
  errorResult: (runId: string | null, error: unknown) => ReportResult,
  results: ReportResult[],
): Promise<boolean> {
  let reports: { i: number; run_id: string; event: WorkerEvent }[];
  try {
    reports = indexes.map((i) => ({ i, ...parse(i) }));
  } catch {
    return false;
  }
  if (reports.every(({ event }) => event.type === 'LOG' || event.type === 'INFO')) return false;
  const runId = reports[0]?.run_id as string;
  let outcomes: ReportResult[] = [];
  let oneByOne = false;
  try {
    await saveRun(ctx, runId, (run) => {
      outcomes = [];
      if (run.event_delivery.webhook_url !== undefined) {
        oneByOne = true;
        return { run, events: [] };
      }
      const now = ctx.clock();
      let current = run;
      const events: RunEventDraft[] = [];
      for (const { event } of reports) {
        try {
          const step = applyWorkerEvent(current, event, now);
          current = step.run;
          events.push(...step.events);
          outcomes.push({
            run_id: runId,
            status: 200,
            state: current.state,
            current_attempt: current.current_attempt,
          });
        } catch (error) {
          outcomes.push(errorResult(runId, error));
        }
      }
      return { run: current, events };
    });
    if (oneByOne) return false;
  } catch (error) {
    outcomes = reports.map(() => errorResult(runId, error));
  }
  reports.forEach(({ i }, k) => {
    results[i] = outcomes[k] as ReportResult;
  });
  return true;
}
