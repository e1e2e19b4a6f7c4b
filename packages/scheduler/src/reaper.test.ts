import { assign, fail, type OpRun, start } from '@gyoza/domain';
import { type Store, updateRun } from '@gyoza/store';
import {
  addRun,
  heartbeat as heartbeatOf,
  ManualClock,
  newRun,
  openTemporarySqliteStore,
  type TemporarySqliteStore,
} from '@gyoza/test-support';
import { Scheduler } from './index';

const T0 = Date.UTC(2026, 0, 1);
const TIMEOUT = 60;

describe('the reaper after faults', () => {
  let temporary: TemporarySqliteStore;
  let store: Store;
  const time = new ManualClock(T0);
  const clock = time.now;
  const advance = (seconds: number) => time.advance(seconds);
  const schedulers: Scheduler[] = [];

  beforeEach(async () => {
    temporary = await openTemporarySqliteStore('gyoza-reaper-');
    store = temporary.store;
    time.reset();
  });

  afterEach(async () => {
    for (const s of schedulers.splice(0)) await s.stop();
    await temporary.close();
  });

  function scheduler(): Scheduler {
    const s = new Scheduler({ store, clock, workerTimeoutSeconds: TIMEOUT });
    schedulers.push(s);
    return s;
  }

  const heartbeat = (id: string) => heartbeatOf(id, { cpuCores: 4, ramMb: 4096 });

  async function runningOn(worker: string): Promise<OpRun> {
    const run = await addRun(store, { retry_policy: { max_attempts: 3 } }, clock());
    await updateRun(store.runs, run.id, (r) => assign(r, { worker_id: worker, gpu_ids: [] }, clock()), clock);
    return (await updateRun(store.runs, run.id, (r) => start(r, { worker_id: worker }, clock()), clock)).run;
  }

  it('after a server outage longer than the timeout, evicts no worker until it had a full timeout to heartbeat', async () => {
    await store.workers.heartbeat(heartbeat('back'), clock());
    await store.workers.heartbeat(heartbeat('never'), clock());
    const onBack = await runningOn('back');
    const onNever = await runningOn('never');

    advance(600); // the server was down for ten minutes; it starts again now
    const restarted = scheduler();
    expect((await restarted.reap()).evicted).toEqual([]);
    advance(10);
    await store.workers.heartbeat(heartbeat('back'), clock());
    advance(TIMEOUT - 10 - 1);
    expect((await restarted.reap()).evicted).toEqual([]);
    expect(await store.runs.getRun(onNever.id)).toMatchObject({ state: 'RUNNING' });

    advance(2); // a full timeout since the restart: only the worker that never came back goes
    const pass = await restarted.reap();
    expect(pass.evicted).toEqual(['never']);
    expect(pass.lost).toEqual([onNever.id]);
    expect(await store.runs.getRun(onBack.id)).toMatchObject({ state: 'RUNNING', worker_id: 'back' });
  });

  it('logs and skips a run it cannot handle, and handles the others in the same pass', async () => {
    await store.workers.heartbeat(heartbeat('gone'), clock());
    const good = await runningOn('gone');
    // A run whose stored document lost its retry policy, as a bug or a hand edit could leave
    // it: deciding whether it may retry throws.
    const broken = newRun({}, clock());
    await store.runs.createRun(
      { ...broken, run: { ...broken.run, state: 'RUNNING', worker_id: 'gone', retry_policy: null as never } },
      clock(),
    );
    const errors: object[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (obj: object) => errors.push(obj) };
    const s = new Scheduler({ store, clock, workerTimeoutSeconds: TIMEOUT, logger });
    schedulers.push(s);

    advance(TIMEOUT + 1);
    const pass = await s.reap();
    expect(pass.evicted).toEqual(['gone']);
    expect(pass.lost).toEqual([good.id]);
    expect(pass.failed.map((f) => f.id)).toEqual([broken.run.id]);
    expect(errors).toEqual([expect.objectContaining({ id: broken.run.id })]);
    expect(await store.runs.getRun(good.id)).toMatchObject({ state: 'PENDING', current_attempt: 2 });
  });

  it('retries a run whose 44th failure used to compute an invalid retry time', async () => {
    await store.workers.heartbeat(heartbeat('w'), clock());
    const s = scheduler();
    const run = await runningOn('w');
    // A policy stored before backoff had a cap: 2^43 seconds is past the last valid Date.
    const legacy = { max_attempts: 100, backoff_seconds: 1, backoff_multiplier: 2 };
    const failed = await updateRun(
      store.runs,
      run.id,
      (r) =>
        fail(
          { ...r, current_attempt: 44, attempts: r.attempts.map((a) => ({ ...a, attempt: 44 })), retry_policy: legacy },
          'boom',
          clock(),
        ),
      clock,
    );
    expect(failed.run.not_before?.getTime()).toBe(clock().getTime() + 3600 * 1000);
    advance(3601);
    await store.workers.heartbeat(heartbeat('w'), clock());
    expect((await s.reap()).retried).toEqual([run.id]);
  });
});
