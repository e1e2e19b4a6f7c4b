import { type Heartbeat, NotFoundError, unassign, ValidationError, WORKER_ID_PATTERN } from '@gyoza/domain';
import { heldDigestOf } from '@gyoza/store';
import { ClaimQuery } from '../dto/run.dto';
import { HeartbeatDto } from '../dto/worker.dto';
import { uncleanTextReason } from '../json-limits';
import type { RouteSpec } from '../route';
import { workerJson, workerJsonWithoutRuns, workerOpJson } from '../serialize';
import { parseDto } from '../validation';
import { saveRun } from './save-run';

function workerId(value: unknown, field = 'worker_id'): string {
  if (typeof value !== 'string' || !WORKER_ID_PATTERN.test(value)) {
    throw ValidationError.field(field, `must match ${WORKER_ID_PATTERN.source}`);
  }
  return value;
}

function runningOpIds(ops: unknown[] | undefined): string[] {
  return (ops ?? []).map((op, i) => {
    const id = typeof op === 'string' ? op : (op as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || id === '')
      throw ValidationError.field(`running_ops.${i}`, 'must be a run id or {id}');
    const unclean = uncleanTextReason(id);
    if (unclean) throw ValidationError.field(`running_ops.${i}`, unclean);
    return id;
  });
}

export const workerRoutes: RouteSpec[] = [
  {
    method: 'get',
    path: '/workers',
    tag: 'workers',
    summary: 'Every registered worker (active and evicted), with its free capacity as the server reserves it',
    success: { status: 200, description: 'Workers', schema: 'WorkerList' },
    async handler(_req, res, { store }) {
      const workers = await store.workers.listWorkers();
      res.json(await Promise.all(workers.map(async (w) => workerJson(w, await store.runs.reservedTotals(w.id)))));
    },
  },
  {
    method: 'post',
    path: '/workers/heartbeat',
    tag: 'workers',
    summary:
      "Register or refresh a worker and reconcile its runs with `running_ops`: runs it does not list are taken back, `stop_runs` lists reported runs it must stop; `held_digest` instead of the list costs O(1) and asks for the list (`running_ops_wanted`) only when it differs from the server's",
    body: HeartbeatDto,
    success: { status: 200, description: 'The worker, its free capacity and stop_runs', schema: 'HeartbeatAnswer' },
    async handler(req, res, ctx) {
      const dto = parseDto(HeartbeatDto, req.body, 'body');
      const heartbeat: Heartbeat = {
        worker_id: workerId(dto.worker_id),
        resources: {
          cpu_cores: dto.resources.cpu_cores,
          ram_mb: dto.resources.ram_mb,
          gpus: (dto.resources.gpus ?? []).map((g) => ({ id: g.id, vram_mb: g.vram_mb, tags: g.tags ?? [] })),
        },
        tags: dto.tags ?? [],
      };
      // A digest alone stands for the list; neither means an empty list, as it always did.
      const byDigest = dto.running_ops === undefined && dto.held_digest !== undefined;
      if (!byDigest) heartbeat.running_ops = runningOpIds(dto.running_ops);
      if (dto.images !== undefined) heartbeat.images = dto.images;
      const ids = heartbeat.resources.gpus.map((g) => g.id);
      if (new Set(ids).size !== ids.length) throw ValidationError.field('resources.gpus', 'GPU ids must be unique');
      // Reconciles the worker's runs with its running_ops: unlisted runs are taken back,
      // listed runs that are not its own are answered in stop_runs.
      const { worker, stop_runs, digest } = await ctx.scheduler.heartbeat(
        heartbeat,
        byDigest ? { heldDigest: dto.held_digest } : {},
      );
      const reservations = await ctx.store.runs.reservedTotals(worker.id);
      // The server's digest in every answer: an agent sends digests only to a server that answers one.
      const held = digest?.held ?? (await heldDigestOf(ctx.store.runs, worker.id));
      res.json({
        ...(byDigest ? workerJsonWithoutRuns(worker, reservations) : workerJson(worker, reservations)),
        stop_runs,
        held_digest: held,
        running_ops_wanted: digest?.running_ops_wanted ?? false,
      });
    },
  },
  {
    method: 'post',
    path: '/workers/:id/claim',
    tag: 'workers',
    summary:
      'Claim pending runs that fit this worker (?limit=1..100); with ?wait_seconds= long-polls until work appears',
    params: { id: WORKER_ID_PATTERN },
    query: ClaimQuery,
    success: { status: 200, description: 'The claimed runs (none when nothing fits in time)', schema: 'ClaimAnswer' },
    async handler(req, res, ctx) {
      const query = parseDto(ClaimQuery, req.query, 'query');
      const id = workerId(req.params.id, 'id');
      if (!(await ctx.store.workers.getWorker(id))) throw new NotFoundError('worker', id);
      const abort = new AbortController();
      let claimed = false;
      // Only a hang-up during the claim matters; aborting after it would only build an unused
      // AbortError (a DOMException, with its stack: ~30 us a claim).
      res.on('close', () => {
        if (!claimed) abort.abort();
      });
      const runs = await ctx.scheduler.claim(id, {
        limit: query.limit ?? 1,
        waitSeconds: query.wait_seconds ?? 0,
        signal: abort.signal,
      });
      claimed = true;
      if (abort.signal.aborted && runs.length > 0) {
        // The worker hung up while we claimed: put its runs back rather than strand them
        // (saveRun wakes the claims that can take them again).
        for (const run of runs) await saveRun(ctx, run.id, (r) => unassign(r, ctx.clock(), 'claim not delivered'));
        return;
      }
      ctx.metrics.claims.inc({ result: runs.length > 0 ? 'claimed' : 'empty' });
      ctx.metrics.claimedRuns.inc(runs.length);
      res.json({ ops: runs.map(workerOpJson) });
    },
  },
];
