import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cancel,
  complete,
  heldRunsDigest,
  type OpRun,
  RUN_STATES,
  type RunState,
  release,
  reservationOf,
  start,
} from '@gyoza/domain';
import { decodeRun, runColumns, type Store, shapeKey, updateRun } from '@gyoza/store';
import { addRun, fitPlanner, heartbeat, newRun } from '@gyoza/test-support';
import Database from 'better-sqlite3';
import { openSqliteStore } from './index';
import { migrate } from './migrations';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gyoza-sqlite-kept-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const at = (s: number) => new Date(s * 1000);

/** Everything the triggers keep, recounted from the run documents themselves. */
function recount(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    const runs = db
      .prepare<[], { doc: string; rev: number }>('SELECT doc, rev FROM runs')
      .all()
      .map((r) => decodeRun(r.doc, r.rev));
    const pending: Record<string, number> = {};
    const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
    const held: Record<string, { cpu_milli: number; ram_mb: number; vram: Record<number, number> }> = {};
    for (const run of runs) {
      counts[run.state]++;
      if (run.state === 'PENDING') pending[shapeKey(run.constraints)] = (pending[shapeKey(run.constraints)] ?? 0) + 1;
      if ((run.state === 'ASSIGNED' || run.state === 'RUNNING') && run.worker_id) {
        const r = reservationOf(run.id, run.constraints, run.gpu_ids);
        held[run.worker_id] ??= { cpu_milli: 0, ram_mb: 0, vram: {} };
        const w = held[run.worker_id] as { cpu_milli: number; ram_mb: number; vram: Record<number, number> };
        w.cpu_milli += Math.round(r.cpu_cores * 1000);
        w.ram_mb += r.ram_mb;
        for (const id of r.gpu_ids) w.vram[id] = (w.vram[id] ?? 0) + r.vram_mb;
      }
    }
    const kept = Object.fromEntries(
      db
        .prepare<[], { shape: string; pending: number }>('SELECT shape, pending FROM pending_shapes WHERE pending <> 0')
        .all()
        .map((r) => [r.shape, r.pending]),
    );
    return { runs, pending, counts, held, kept };
  } finally {
    db.close();
  }
}

/** The store's view of one worker's held totals, in the recount's form. */
async function keptHeld(store: Store, workerId: string) {
  const out = { cpu_milli: 0, ram_mb: 0, vram: {} as Record<number, number> };
  for (const r of await store.runs.reservedTotals(workerId)) {
    out.cpu_milli += Math.round(r.cpu_cores * 1000);
    out.ram_mb += r.ram_mb;
    for (const id of r.gpu_ids) if (r.vram_mb !== 0) out.vram[id] = (out.vram[id] ?? 0) + r.vram_mb;
  }
  return out;
}

async function expectKeptTotals(store: Store, path: string, workers: string[]) {
  const truth = recount(path);
  expect(truth.kept).toEqual(truth.pending);
  expect(await store.runs.countRunsByState()).toEqual(truth.counts);
  for (const id of workers) {
    expect(await keptHeld(store, id)).toEqual(truth.held[id] ?? { cpu_milli: 0, ram_mb: 0, vram: {} });
    const heldIds = truth.runs.filter((r) => r.worker_id === id && ['ASSIGNED', 'RUNNING'].includes(r.state));
    expect((await store.runs.listHeldRunIds(id)).sort()).toEqual(heldIds.map((r) => r.id).sort());
    expect(await store.runs.heldDigest?.(id)).toBe(heldRunsDigest(heldIds.map((r) => r.id)));
  }
}

it('keeps pending shapes, held totals per worker and GPU, and counts per state through every kind of transition', async () => {
  const path = join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path });
  await store.workers.heartbeat(heartbeat('w1', { cpuCores: 8, ramMb: 16000, gpus: [24000, 80000] }), at(1));
  await store.workers.heartbeat(heartbeat('w2', { cpuCores: 4, ramMb: 8000, tags: ['eu'] }), at(1));
  const shapes = [
    { cpu_cores: 1, ram_mb: 1000 },
    { cpu_cores: 0.5, gpu_count: 1, vram_mb: 20000 },
    { gpu_count: 2, vram_mb: 20000, gpu_tags: [] },
    { cpu_cores: 2, worker_tags: ['eu'] },
    { gpu_count: 1, vram_mb: 100000 },
  ];
  for (let i = 0; i < 20; i++) await addRun(store, { constraints: shapes[i % shapes.length] }, at(2 + i));
  const other = await openSqliteStore({ path });
  const version = await other.claims.claimVersion?.();
  const claim = (worker_id: string, limit: number) =>
    store.claims.claimRuns({ worker_id, limit, now: at(50), plan: fitPlanner('best-fit') });
  const first = await claim('w1', 3);
  const second = await claim('w2', 2);
  expect(first.length + second.length).toBeGreaterThan(2);
  expect(await other.claims.claimVersion?.()).not.toBe(version);
  await other.close();
  await expectKeptTotals(store, path, ['w1', 'w2']);

  const change = (run: OpRun, step: (r: OpRun) => ReturnType<typeof start>) =>
    updateRun(store.runs, run.id, step, () => at(60));
  await change(first[0] as OpRun, (r) => start(r, { worker_id: 'w1' }, at(60)));
  await change(first[1] as OpRun, (r) => release(r, { worker_id: 'w1' }, at(60)));
  await change(second[0] as OpRun, (r) => start(r, { worker_id: 'w2' }, at(60)));
  await change(second[0] as OpRun, (r) => complete(r, {}, at(61)));
  const pending = (await store.runs.listRuns({ state: 'PENDING' })).runs;
  await change(pending[0] as OpRun, (r) => cancel(r, at(62)));
  await expectKeptTotals(store, path, ['w1', 'w2']);

  await claim('w1', 10);
  await expectKeptTotals(store, path, ['w1', 'w2']);
  await store.close();
});

it('computes the kept totals from the runs already there when a file is upgraded', async () => {
  const path = join(dir, 'old.db');
  const db = new Database(path);
  migrate(db, at(0), 3);
  const insert = db.prepare(`INSERT INTO runs (id, state, priority, created_at, definition_id, worker_id, not_before,
    idempotency_key, rev, cpu_milli, ram_mb, vram_mb, gpu_count, doc)
    VALUES (@id, @state, @priority, @created_at, @definition_id, @worker_id, @not_before,
    @idempotency_key, @rev, @cpu_milli, @ram_mb, @vram_mb, @gpu_count, @doc)`);
  const put = (run: OpRun) => {
    const { shape: _shape, ...columns } = runColumns(run);
    insert.run({ ...columns, created_at: columns.created_at.getTime(), not_before: null });
  };
  for (let i = 0; i < 6; i++) {
    const { run } = newRun({ constraints: { cpu_cores: i % 2, worker_tags: ['b', 'a'] } }, at(i));
    put({ ...run, rev: 1 });
  }
  const { run: held } = newRun({ constraints: { gpu_count: 1, vram_mb: 1000, timeout_seconds: 5 } }, at(9));
  put({ ...held, rev: 1, state: 'RUNNING', worker_id: 'w1', gpu_ids: [1], started_at: at(10) });
  db.close();

  const store = await openSqliteStore({ path });
  const truth = recount(path);
  // Tags as stored at upgrade time may split one demand over two keys; the totals still agree.
  expect(Object.values(truth.kept).reduce((a, b) => a + b, 0)).toBe(6);
  expect(await store.runs.countRunsByState()).toEqual(truth.counts);
  expect(await keptHeld(store, 'w1')).toEqual({ cpu_milli: 0, ram_mb: 0, vram: { 1: 1000 } });
  expect(await store.runs.listHeldRunIds('w1')).toEqual([held.id]);
  expect(await store.runs.heldDigest?.('w1')).toBe(heldRunsDigest([held.id]));
  expect(await store.runs.listHoldingWorkerIds?.()).toEqual(['w1']);
  expect((await store.runs.listTimedOutRuns?.(new Date(15_000)))?.map((r) => r.id)).toEqual([]);
  expect((await store.runs.listTimedOutRuns?.(new Date(15_001)))?.map((r) => r.id)).toEqual([held.id]);
  await store.close();
});
