import { join } from 'node:path';
import { assign, type ConstraintsInput, type Heartbeat, type OpRun, start, WorkerNotActiveError } from '@gyoza/domain';
import { type Store, updateRun } from '@gyoza/store';
import { openMongoStore } from '@gyoza/store-mongo';
import { openSqliteStore } from '@gyoza/store-sqlite';
import { heartbeat, newRun, temporaryDirectory, temporaryMongoDatabase, waitFor } from '@gyoza/test-support';
import { bestFitStrategy, directStrategy, Scheduler, type SchedulerOptions, strategyByName } from './index';

interface Database {
  open(): Promise<Store>;
  destroy(): Promise<void>;
}

const databases: [string, () => Database][] = [
  [
    'sqlite',
    () => {
      const { dir, remove } = temporaryDirectory('gyoza-sched-');
      return {
        open: () => openSqliteStore({ path: join(dir, 'gyoza.db') }),
        destroy: async () => remove(),
      };
    },
  ],
  [
    'mongo',
    () => {
      const { uri, dbName, drop } = temporaryMongoDatabase('gyoza_sched');
      return { open: () => openMongoStore({ uri, dbName }), destroy: drop };
    },
  ],
];

const T0 = Date.UTC(2026, 0, 1);

describe.each(databases)('scheduler on %s', (_name, makeDatabase) => {
  let db: Database;
  let stores: Store[];
  let schedulers: Scheduler[];
  let store: Store;
  let now: Date;
  const clock = () => now;
  const advance = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };

  beforeEach(async () => {
    db = makeDatabase();
    stores = [];
    schedulers = [];
    now = new Date(T0);
    store = await connect();
  });

  afterEach(async () => {
    for (const s of schedulers) await s.stop();
    for (const s of stores) await s.close();
    await db.destroy();
  });

  async function connect(): Promise<Store> {
    const s = await db.open();
    stores.push(s);
    return s;
  }

  function scheduler(options: Partial<SchedulerOptions> = {}): Scheduler {
    const s = new Scheduler({ store, clock, pollIntervalMs: 20, workerTimeoutSeconds: 60, ...options });
    schedulers.push(s);
    return s;
  }

  function hb(id: string, gpus: number[] = [], tags: string[] = [], cpu = 8, gpuTags: string[][] = []): Heartbeat {
    return heartbeat(id, { cpuCores: cpu, gpus, gpuTags, tags });
  }

  async function submit(
    options: { priority?: number; constraints?: ConstraintsInput; max_attempts?: number } = {},
    into = store,
  ): Promise<OpRun> {
    const t = newRun(
      {
        priority: options.priority,
        constraints: options.constraints,
        retry_policy: { max_attempts: options.max_attempts ?? 1, backoff_seconds: 10 },
      },
      now,
    );
    advance(0.001); // distinct creation times, as in real life
    return (await into.runs.createRun(t, now)).run;
  }

  async function runOn(run: OpRun, worker: string): Promise<OpRun> {
    await updateRun(store.runs, run.id, (r) => assign(r, { worker_id: worker, gpu_ids: [] }, now), clock);
    return (await updateRun(store.runs, run.id, (r) => start(r, { worker_id: worker }, now), clock)).run;
  }

  it('hands out runs by priority, then oldest first', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const low = await submit({ priority: 0 });
    const highOld = await submit({ priority: 7 });
    const highNew = await submit({ priority: 7 });
    const mid = await submit({ priority: 3 });
    const s = scheduler();
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push(...(await s.claim('w')).map((r) => r.id));
    expect(order).toEqual([highOld.id, highNew.id, mid.id, low.id]);
    expect(await s.claim('w')).toEqual([]);
  });

  it('skips a run that does not fit for smaller ones behind it, up to the limit', async () => {
    await store.workers.heartbeat(hb('w', [], [], 4), now);
    await submit({ priority: 9, constraints: { cpu_cores: 5 } });
    const a = await submit({ constraints: { cpu_cores: 2 } });
    const b = await submit({ constraints: { cpu_cores: 2 } });
    await submit({ constraints: { cpu_cores: 2 } });
    const claimed = await scheduler().claim('w', { limit: 10 });
    expect(claimed.map((r) => r.id)).toEqual([a.id, b.id]);
  });

  it('chooses GPUs by strategy', async () => {
    await store.workers.heartbeat(hb('w', [8000, 24000, 12000]), now);
    const first = await submit({ constraints: { vram_mb: 10000 } });
    const [direct] = await scheduler({ strategy: directStrategy }).claim('w');
    expect([direct.id, direct.gpu_ids]).toEqual([first.id, [1]]);
    const second = await submit({ constraints: { vram_mb: 10000 } });
    const [best] = await scheduler({ strategy: bestFitStrategy }).claim('w');
    expect([best.id, best.gpu_ids]).toEqual([second.id, [2]]);
    expect(strategyByName('best-fit')).toBe(bestFitStrategy);
    expect(() => strategyByName('random')).toThrow("strategy: must be one of direct, best-fit, got 'random'");
  });

  it('shares a GPU while VRAM fits, and honors worker and GPU tags', async () => {
    await store.workers.heartbeat(hb('plain', [16000]), now);
    await store.workers.heartbeat(hb('tagged', [16000, 16000], ['eu'], 8, [[], ['a100']]), now);
    const a = await submit({ constraints: { vram_mb: 6000, worker_tags: ['eu'], gpu_tags: ['a100'] } });
    const b = await submit({ constraints: { vram_mb: 6000, worker_tags: ['eu'], gpu_tags: ['a100'] } });
    const c = await submit({ constraints: { vram_mb: 6000, worker_tags: ['eu'], gpu_tags: ['a100'] } });
    const s = scheduler();
    expect(await s.claim('plain', { limit: 5 })).toEqual([]);
    const claimed = await s.claim('tagged', { limit: 5 });
    expect(claimed.map((r) => [r.id, r.gpu_ids])).toEqual([
      [a.id, [1]],
      [b.id, [1]],
    ]);
    expect(await s.pendingReason((await store.runs.getRun(c.id)) as OpRun)).toBe(
      'waiting for capacity: every worker that can run it is busy',
    );
  });

  it('explains why a run stays pending', async () => {
    const s = scheduler();
    const big = await submit({ constraints: { vram_mb: 40000 } });
    expect(await s.pendingReason(big)).toBe('no active worker');
    await store.workers.heartbeat(hb('w', [24000]), now);
    expect(await s.pendingReason(big)).toBe('no active worker can run it (w: needs 1 GPU(s) with 40000 MB VRAM free)');
    const small = await submit();
    expect(await s.pendingReason(small)).toBeUndefined();
  });

  it('wakes a waiting claim at once when this process notifies', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const s = scheduler({ pollIntervalMs: 60_000 });
    const waiting = s.claim('w', { waitSeconds: 30 });
    await new Promise((r) => setTimeout(r, 50));
    const run = await submit();
    s.notifyRunnable();
    expect((await waiting).map((r) => r.id)).toEqual([run.id]);
  });

  it("tells its peers once per event-loop turn, and a peer's notice wakes without echoing", async () => {
    await store.workers.heartbeat(hb('w'), now);
    const announce = jest.fn();
    const s = scheduler({ pollIntervalMs: 60_000, versionPollMs: 60_000, announce });
    const waiting = s.claim('w', { waitSeconds: 30 });
    await new Promise((r) => setTimeout(r, 50));
    const run = await submit({}, await connect());
    s.wakeFromPeer();
    expect((await waiting).map((r) => r.id)).toEqual([run.id]);
    await new Promise((r) => setImmediate(r));
    expect(announce).not.toHaveBeenCalled();

    s.notifyRunnable();
    s.notifyRunnable();
    s.notifyRunnable();
    await new Promise((r) => setImmediate(r));
    expect(announce).toHaveBeenCalledTimes(1);
  });

  /**
   * Records which worker each store claim is for (the wake-ups it cost); `answered` counts
   * those that have answered, so a test knows a claim is waiting rather than still claiming.
   */
  function countClaims(): string[] & { answered: number } {
    const calls = Object.assign([] as string[], { answered: 0 });
    const claimRuns = store.claims.claimRuns.bind(store.claims);
    store.claims.claimRuns = async (request) => {
      calls.push(request.worker_id);
      try {
        return await claimRuns(request);
      } finally {
        calls.answered++;
      }
    };
    return calls;
  }

  /** A `waitFor` probe: the claims made so far are `n`, each answered. */
  const waitingAfter = (calls: { answered: number; length: number }, n: number) => async () =>
    (calls.length === n && calls.answered === n) || undefined;

  /** A scheduler whose safety-net polls never fire in a test: only a wake can deliver. */
  const quietScheduler = () => scheduler({ pollIntervalMs: 60_000, versionPollMs: 60_000 });

  /** Starts a long-polling claim per worker, each waiting before the next starts: they wait in this order. */
  async function waitInOrder(s: Scheduler, calls: string[] & { answered: number }, ids: string[]) {
    const claims: Promise<OpRun[]>[] = [];
    for (const id of ids) {
      const expected = calls.length + 1;
      claims.push(s.claim(id, { waitSeconds: 30 }));
      await waitFor(`${id} to wait`, waitingAfter(calls, expected), { intervalMs: 5 });
    }
    return claims;
  }

  /** Lets pending wake-ups run their claims (a few event-loop turns). */
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  it('claims nothing for a worker that hung up while waiting, even when work is there by then', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const s = quietScheduler();
    const calls = countClaims();
    const controller = new AbortController();
    const waiting = s.claim('w', { waitSeconds: 30, signal: controller.signal });
    await waitFor('w to wait', waitingAfter(calls, 1), { intervalMs: 5 });
    // In the store but not announced: only the hang-up wakes the wait.
    const run = await submit();
    controller.abort();
    expect(await waiting).toEqual([]);
    expect(calls.length).toBe(1);
    expect((await store.runs.getRun(run.id))?.state).toBe('PENDING');
  });

  it('wakes one waiting claim for a created run, the one that waited longest, not all of them', async () => {
    for (const id of ['w1', 'w2', 'w3']) await store.workers.heartbeat(hb(id), now);
    const s = quietScheduler();
    const calls = countClaims();
    const [w1, w2, w3] = await waitInOrder(s, calls, ['w1', 'w2', 'w3']);

    const first = await submit();
    s.notifyRunnable({ runs: 1 });
    expect((await w1).map((r) => r.id)).toEqual([first.id]);
    await settle();
    expect([...calls]).toEqual(['w1', 'w2', 'w3', 'w1']);

    const second = await submit();
    s.notifyRunnable({ runs: 1 });
    expect((await w2).map((r) => r.id)).toEqual([second.id]);
    await settle();
    expect([...calls]).toEqual(['w1', 'w2', 'w3', 'w1', 'w2']);
    await s.stop();
    expect(await w3).toEqual([]);
  });

  it('passes the wake on when the woken claim cannot take the run, and stops once around', async () => {
    await store.workers.heartbeat(hb('small', [], [], 1), now);
    await store.workers.heartbeat(hb('big', [], [], 8), now);
    const s = quietScheduler();
    const calls = countClaims();
    const [small, big] = await waitInOrder(s, calls, ['small', 'big']);

    const run = await submit({ constraints: { cpu_cores: 4 } });
    s.notifyRunnable({ runs: 1 });
    expect((await big).map((r) => r.id)).toEqual([run.id]);
    expect([...calls]).toEqual(['small', 'big', 'small', 'big']);

    // Fits nobody: tried by the one waiting claim, then left to capacity changes.
    const [big2] = await waitInOrder(s, calls, ['big']);
    await submit({ constraints: { cpu_cores: 64 } });
    s.notifyRunnable({ runs: 1 });
    await waitFor('both to look', waitingAfter(calls, 7), { intervalMs: 5 });
    await settle();
    expect(calls.slice(5).sort()).toEqual(['big', 'small']);

    // A later run that fits still wakes a claim.
    const fits = await submit({ constraints: { cpu_cores: 1 } });
    s.notifyRunnable({ runs: 1 });
    const taken = await Promise.race([small, big2]);
    expect(taken.map((r) => r.id)).toEqual([fits.id]);
  });

  it('passes the wake on when the woken claim fails', async () => {
    for (const id of ['gone', 'w2']) await store.workers.heartbeat(hb(id), now);
    const s = quietScheduler();
    const calls = countClaims();
    const [gone, w2] = await waitInOrder(s, calls, ['gone', 'w2']);
    advance(120);
    expect(await store.workers.evictWorker('gone', new Date(now.getTime() - 60_000), now)).toBe(true);
    await store.workers.heartbeat(hb('w2'), now);
    const failed = gone.catch((error: unknown) => error);

    const run = await submit();
    s.notifyRunnable({ runs: 1 });
    expect(await failed).toBeInstanceOf(WorkerNotActiveError);
    expect((await w2).map((r) => r.id)).toEqual([run.id]);
    expect([...calls]).toEqual(['gone', 'w2', 'gone', 'w2']);
  });

  it('wakes only the claims of the worker whose capacity was freed', async () => {
    for (const id of ['w1', 'w2']) await store.workers.heartbeat(hb(id), now);
    const s = quietScheduler();
    const calls = countClaims();
    const [w1, w2] = await waitInOrder(s, calls, ['w1', 'w2']);
    s.notifyRunnable({ freedOn: ['w2'] });
    await waitFor('w2 to look', waitingAfter(calls, 3), { intervalMs: 5 });
    await settle();
    expect([...calls]).toEqual(['w1', 'w2', 'w2']);
    s.notifyRunnable();
    await waitFor('both to look', waitingAfter(calls, 5), { intervalMs: 5 });
    await s.stop();
    expect([await w1, await w2]).toEqual([[], []]);
  });

  it('announces the changes of one turn together', async () => {
    const announce = jest.fn();
    const s = scheduler({ announce });
    s.notifyRunnable({ runs: 1 });
    s.notifyRunnable({ runs: 2, freedOn: ['w1'] });
    s.notifyRunnable({ freedOn: ['w1', 'w2'] });
    await new Promise((r) => setImmediate(r));
    expect(announce.mock.calls).toEqual([[{ runs: 3, freedOn: ['w1', 'w2'] }]]);
    s.notifyRunnable({ runs: 1 });
    s.notifyRunnable();
    await new Promise((r) => setImmediate(r));
    expect(announce.mock.calls[1]).toEqual([undefined]);
  });

  it('finds work created by another process by polling', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const other = await connect();
    const s = scheduler({ pollIntervalMs: 20 });
    const waiting = s.claim('w', { waitSeconds: 30 });
    await new Promise((r) => setTimeout(r, 50));
    const run = await submit({}, other);
    expect((await waiting).map((r) => r.id)).toEqual([run.id]);
  });

  it('returns nothing when the wait ends or the scheduler stops', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const s = scheduler();
    expect(await s.claim('w', { waitSeconds: 0.1 })).toEqual([]);
    const waiting = s.claim('w', { waitSeconds: 30 });
    await s.stop();
    expect(await waiting).toEqual([]);
    const controller = new AbortController();
    const aborted = scheduler().claim('w', { waitSeconds: 30, signal: controller.signal });
    controller.abort();
    expect(await aborted).toEqual([]);
  });

  it('validates limit and wait', async () => {
    const s = scheduler();
    await expect(s.claim('w', { limit: 0 })).rejects.toThrow('limit');
    await expect(s.claim('w', { waitSeconds: 61 })).rejects.toThrow('wait_seconds');
  });

  it('evicts a silent worker, re-queues its assigned runs and fails its running ones', async () => {
    await store.workers.heartbeat(hb('gone'), now);
    await store.workers.heartbeat(hb('alive'), now);
    const s = scheduler();
    const assigned = await submit({ max_attempts: 2 });
    const running = await runOn(await submit({ max_attempts: 2 }), 'gone');
    await updateRun(store.runs, assigned.id, (r) => assign(r, { worker_id: 'gone', gpu_ids: [] }, now), clock);
    advance(59);
    await store.workers.heartbeat(hb('alive'), now);
    expect((await s.reap()).evicted).toEqual([]);
    advance(2);
    const pass = await s.reap();
    expect(pass).toMatchObject({ leader: true, evicted: ['gone'], unassigned: [assigned.id], lost: [running.id] });
    expect(await store.runs.getRun(assigned.id)).toMatchObject({ state: 'PENDING', current_attempt: 1 });
    const lost = (await store.runs.getRun(running.id)) as OpRun;
    expect(lost).toMatchObject({ state: 'FAILED', error_message: 'worker gone lost' });
    expect((await store.runs.listEvents(running.id)).map((e) => e.type).slice(-2)).toEqual(['WORKER_LOST', 'FAILED']);
    await expect(s.claim('gone')).rejects.toBeInstanceOf(WorkerNotActiveError);

    advance(9);
    expect((await s.reap()).retried).toEqual([]);
    advance(2);
    expect((await s.reap()).retried).toEqual([running.id]);
    expect(await store.runs.getRun(running.id)).toMatchObject({ state: 'PENDING', current_attempt: 2 });
    await store.workers.heartbeat(hb('alive'), now);
    const claimed = await s.claim('alive', { limit: 5 });
    expect(claimed.map((r) => r.id).sort()).toEqual([assigned.id, running.id].sort());

    // A worker that heartbeats again is back in the pool.
    await store.workers.heartbeat(hb('gone'), now);
    expect(await s.claim('gone')).toEqual([]);
  });

  it('fails a run that runs past its timeout, once', async () => {
    await store.workers.heartbeat(hb('w'), now);
    const run = await runOn(await submit({ constraints: { timeout_seconds: 30 } }), 'w');
    const s = scheduler();
    advance(30);
    await store.workers.heartbeat(hb('w'), now);
    expect((await s.reap()).timed_out).toEqual([]);
    advance(1);
    expect((await s.reap()).timed_out).toEqual([run.id]);
    expect((await s.reap()).timed_out).toEqual([]);
    const failed = await store.runs.getRun(run.id);
    expect(failed).toMatchObject({ state: 'FAILED', error_message: 'timed out after 30s' });
    expect(failed?.not_before).toBeUndefined();
  });

  it('lets one process reap at a time', async () => {
    const other = new Scheduler({ store: await connect(), clock, holderId: 'other' });
    schedulers.push(other);
    const s = scheduler({ holderId: 'first' });
    expect((await s.reap()).leader).toBe(true);
    expect((await other.reap()).leader).toBe(false);
    await s.stop();
    expect((await other.reap()).leader).toBe(true);
  });
});
