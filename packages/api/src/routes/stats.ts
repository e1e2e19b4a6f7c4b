import { freeCapacity, RUN_STATES } from '@gyoza/domain';
import { pageSize, type Store } from '@gyoza/store';
import { SearchRunsQuery, ThroughputQuery } from '../dto/stats.dto';
import { sendRunPage } from '../pages';
import type { RouteSpec } from '../route';
import { parseDto } from '../validation';
import { statesOf } from './runs';

/** Throughput looks at no more than this many of the most recent runs per request. */
const THROUGHPUT_SCAN_LIMIT = 10_000;
/** ...and stops at runs created this long before the window (longer runs are rare). */
const THROUGHPUT_LOOKBACK_MS = 24 * 3600_000;
const MINUTE_MS = 60_000;

/** Runs per state, queue depth, workers and GPUs: what an overview page shows. */
async function collectStats(store: Store) {
  const [runsByState, workers] = await Promise.all([store.runs.countRunsByState(), store.workers.listWorkers()]);
  const gpus = { total: 0, busy: 0, free: 0, vram_total_mb: 0, vram_free_mb: 0 };
  let active = 0;
  for (const worker of workers) {
    if (worker.status !== 'active') continue;
    active++;
    const free = freeCapacity(worker, await store.runs.reservedTotals(worker.id));
    for (const gpu of free.gpus) {
      gpus.total++;
      if (gpu.free_vram_mb < gpu.vram_mb) gpus.busy++;
      else gpus.free++;
      gpus.vram_total_mb += gpu.vram_mb;
      gpus.vram_free_mb += Math.max(0, gpu.free_vram_mb);
    }
  }
  return {
    runs_by_state: Object.fromEntries(RUN_STATES.map((s) => [s, runsByState[s] ?? 0])),
    queue_depth: runsByState.PENDING ?? 0,
    workers: { active, evicted: workers.length - active },
    gpus,
  };
}

/**
 * Runs created, completed and failed per minute over the last `minutes`, counted among the
 * most recent runs (see the two limits above), oldest bucket first.
 */
async function collectThroughput(store: Store, now: Date, minutes: number) {
  const end = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const start = end - minutes * MINUTE_MS;
  const buckets = Array.from({ length: minutes }, (_, i) => ({
    start: new Date(start + i * MINUTE_MS).toISOString(),
    created: 0,
    completed: 0,
    failed: 0,
  }));
  const bucketOf = (time: Date | undefined) => {
    const t = time?.getTime();
    return t === undefined || t < start || t >= end ? undefined : buckets[Math.floor((t - start) / MINUTE_MS)];
  };
  let scanned = 0;
  let cursor: string | undefined;
  scan: do {
    const page = await store.runs.listRuns({ limit: 1000, cursor });
    for (const run of page.runs) {
      if (scanned >= THROUGHPUT_SCAN_LIMIT || run.created_at.getTime() < start - THROUGHPUT_LOOKBACK_MS) break scan;
      scanned++;
      const created = bucketOf(run.created_at);
      if (created) created.created++;
      const finished = bucketOf(run.finished_at);
      if (finished && run.state === 'COMPLETED') finished.completed++;
      if (finished && run.state === 'FAILED') finished.failed++;
    }
    cursor = page.next_cursor;
  } while (cursor);
  return { bucket_seconds: 60, buckets, scanned };
}

export const statsRoutes: RouteSpec[] = [
  {
    method: 'get',
    path: '/stats',
    tag: 'stats',
    summary: 'Runs per state, queue depth, active and evicted workers, busy and free GPUs with their VRAM',
    success: { status: 200, description: 'Counts', schema: 'Stats' },
    async handler(_req, res, { store }) {
      res.json(await collectStats(store));
    },
  },
  {
    method: 'get',
    path: '/stats/throughput',
    tag: 'stats',
    summary: 'Runs created, completed and failed per minute over the last ?minutes= (default 60)',
    query: ThroughputQuery,
    success: { status: 200, description: 'One bucket per minute, oldest first', schema: 'Throughput' },
    async handler(req, res, { store, clock }) {
      const query = parseDto(ThroughputQuery, req.query, 'query');
      res.json(await collectThroughput(store, clock(), query.minutes ?? 60));
    },
  },
  {
    method: 'get',
    path: '/search/runs',
    tag: 'runs',
    summary: 'List runs like GET /runs, also within a creation-time range (created_after, created_before)',
    query: SearchRunsQuery,
    success: { status: 200, description: 'A page of runs; next_cursor when there are more', schema: 'RunPage' },
    async handler(req, res, { store }) {
      const query = parseDto(SearchRunsQuery, { ...req.query, state: statesOf(req.query) }, 'query');
      // A page of runs in a creation-time range, newest first: the store filters on the range.
      await sendRunPage(res, store, {
        state: query.state,
        definition_id: query.definition_id,
        worker_id: query.worker_id,
        created_after: query.created_after,
        created_before: query.created_before,
        limit: pageSize(query.limit),
        cursor: query.cursor,
      });
    },
  },
];
