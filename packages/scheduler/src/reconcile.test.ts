import { applyWorkerEvent, cancel, EMPTY_HELD_DIGEST, type Heartbeat, heldRunsDigest, type OpRun } from '@gyoza/domain';
import { type Store, updateRun } from '@gyoza/store';
import {
  addRun,
  heartbeat as heartbeatOf,
  ManualClock,
  newRun,
  openTemporarySqliteStore,
  type TemporarySqliteStore,
} from '@gyoza/test-support';
import { type HeartbeatResult, Scheduler } from './index';

const T0 = Date.UTC(2026, 0, 1);
const REASON = 'worker w1 did not list the run in its heartbeat';

describe('reconciliation by heartbeat', () => {
  let temporary: TemporarySqliteStore;
  let store: Store;
  let scheduler: Scheduler;
  const time = new ManualClock(T0);
  const clock = time.now;
  const advance = (seconds: number) => time.advance(seconds);

  beforeEach(async () => {
    temporary = await openTemporarySqliteStore('gyoza-reconcile-');
    store = temporary.store;
    time.reset();
    scheduler = new Scheduler({ store, clock, workerTimeoutSeconds: 60 });
  });

  afterEach(async () => {
    await scheduler.stop();
    await temporary.close();
  });

  // Two seconds between heartbeats: more than RECONCILE_GRACE_MS (1 s) has passed at each.
  const beat = (running: string[] = [], id = 'w1'): Promise<HeartbeatResult> => {
    advance(2);
    const hb: Heartbeat = { ...heartbeatOf(id, { cpuCores: 4, ramMb: 4096 }), running_ops: running };
    return scheduler.heartbeat(hb);
  };

  /** A heartbeat that sends the digest of `running` instead of the ids. */
  const beatByDigest = (running: string[] = [], id = 'w1'): Promise<HeartbeatResult> => {
    advance(2);
    const { running_ops: _list, ...hb } = heartbeatOf(id, { cpuCores: 4, ramMb: 4096 });
    return scheduler.heartbeat(hb, { heldDigest: heldRunsDigest(running) });
  };

  async function claimOne(worker = 'w1'): Promise<OpRun> {
    advance(1);
    const [run] = await scheduler.claim(worker);
    if (!run) throw new Error('nothing claimed');
    return run;
  }

  async function started(run: OpRun): Promise<OpRun> {
    const report = { type: 'STARTED' as const, worker_id: run.worker_id, assignment_id: run.assignment_id };
    return (await updateRun(store.runs, run.id, (r) => applyWorkerEvent(r, report, clock()), clock)).run;
  }

  it('hands back an ASSIGNED run the worker does not list, once it was assigned before the previous heartbeat', async () => {
    await beat();
    await addRun(store, {}, clock());
    const claimed = await claimOne();

    // Built before the claim's answer arrived: not listed, but the claim is newer than the
    // previous heartbeat, so the run stays.
    const first = await beat();
    expect(first.unassigned).toEqual([]);
    expect(await store.runs.getRun(claimed.id)).toMatchObject({ state: 'ASSIGNED', worker_id: 'w1' });

    const second = await beat();
    expect(second.unassigned).toEqual([claimed.id]);
    const back = await store.runs.getRun(claimed.id);
    expect(back).toMatchObject({ state: 'PENDING', current_attempt: 1 });
    expect(back).not.toHaveProperty('worker_id');
    expect(await store.runs.listReservations('w1')).toEqual([]);
    const events = await store.runs.listEvents(claimed.id);
    expect(events.at(-1)).toMatchObject({ type: 'UNASSIGNED', msg: REASON, payload: { worker_id: 'w1' } });
  });

  it('takes back nothing assigned within the grace, even after a previous heartbeat handled late', async () => {
    await beat();
    await addRun(store, {}, clock());
    const claimed = await claimOne();
    // The last heartbeat of a process that restarted under the same id, sent before the claim
    // and handled after it; then the new process's, also built before the claim's answer.
    advance(0.5);
    await scheduler.heartbeat({ ...heartbeatOf('w1', { cpuCores: 4, ramMb: 4096 }), running_ops: [] });
    advance(0.5);
    const late = await scheduler.heartbeat({ ...heartbeatOf('w1', { cpuCores: 4, ramMb: 4096 }), running_ops: [] });
    expect(late.unassigned).toEqual([]);
    expect(await store.runs.getRun(claimed.id)).toMatchObject({ state: 'ASSIGNED', worker_id: 'w1' });
    // Past the grace, a heartbeat that still does not list it settles it.
    expect((await beat()).unassigned).toEqual([claimed.id]);
  });

  it('keeps runs the worker lists, and fails a RUNNING run it stopped listing as WORKER_LOST with a retry', async () => {
    await beat();
    await addRun(store, { retry_policy: { max_attempts: 2 } }, clock());
    await addRun(store, { retry_policy: { max_attempts: 2 } }, clock());
    const kept = await started(await claimOne());
    const dropped = await started(await claimOne());
    await beat([kept.id, dropped.id]);
    await beat([kept.id, dropped.id]);

    const result = await beat([kept.id]);
    expect(result.lost).toEqual([dropped.id]);
    expect(result.stop_runs).toEqual([]);
    expect(await store.runs.getRun(kept.id)).toMatchObject({ state: 'RUNNING', worker_id: 'w1' });
    const lost = await store.runs.getRun(dropped.id);
    expect(lost).toMatchObject({ state: 'FAILED', error_message: REASON });
    expect(lost?.not_before).toBeDefined(); // attempts left: the retry loop takes it back
    const types = (await store.runs.listEvents(dropped.id)).map((e) => e.type);
    expect(types.slice(-2)).toEqual(['WORKER_LOST', 'FAILED']);
    expect((await store.runs.listReservations('w1')).map((r) => r.run_id)).toEqual([kept.id]);
  });

  it('answers in stop_runs the listed runs that are not the worker’s: cancelled, finished, elsewhere, unknown', async () => {
    await beat();
    await beat([], 'w2');
    await addRun(store, {}, clock());
    await addRun(store, {}, clock());
    const cancelled = await claimOne();
    await updateRun(store.runs, cancelled.id, (r) => cancel(r, clock()), clock);
    const elsewhere = await claimOne('w2');
    const result = await beat([cancelled.id, elsewhere.id, 'run_unknown']);
    expect(result.stop_runs.sort()).toEqual([cancelled.id, elsewhere.id, 'run_unknown'].sort());
    expect(await store.runs.getRun(elsewhere.id)).toMatchObject({ state: 'ASSIGNED', worker_id: 'w2' });
  });

  it('takes nothing back on a worker’s first heartbeat, and settles at its second', async () => {
    // A run stored as assigned to a worker id the server has no record of.
    const orphan = newRun({}, clock());
    const run = { ...orphan.run, state: 'ASSIGNED' as const, worker_id: 'w1', assigned_at: clock() };
    await store.runs.createRun({ ...orphan, run }, clock());
    expect((await beat()).unassigned).toEqual([]);
    expect((await beat()).unassigned).toEqual([orphan.run.id]);
  });

  it('counts a run stored without an assignment time (before this field existed) as old', async () => {
    await beat();
    const legacy = newRun({}, clock());
    const {
      assigned_at: _at,
      assignment_id: _id,
      ...run
    } = {
      ...legacy.run,
      state: 'ASSIGNED' as const,
      worker_id: 'w1',
      assigned_at: undefined,
      assignment_id: undefined,
    };
    await store.runs.createRun({ ...legacy, run }, clock());
    const result = await beat();
    expect(result.unassigned).toEqual([legacy.run.id]);
  });

  it('judges a run claimed again by the same worker by its new claim', async () => {
    await beat();
    await addRun(store, {}, clock());
    const first = await claimOne();
    await beat();
    await beat(); // the first claim is taken back here
    const second = await claimOne();
    expect(second.id).toBe(first.id);
    expect(second.assignment_id).not.toBe(first.assignment_id);
    const result = await beat([second.id]);
    expect(result.unassigned).toEqual([]);
    expect(await store.runs.getRun(second.id)).toMatchObject({
      state: 'ASSIGNED',
      assignment_id: second.assignment_id,
    });
  });

  it('takes a matching held digest for the list: nothing reconciled, running_ops read as the held runs', async () => {
    expect((await beatByDigest()).digest).toEqual({ held: EMPTY_HELD_DIGEST, running_ops_wanted: false });
    await addRun(store, {}, clock());
    await addRun(store, {}, clock());
    const a = await started(await claimOne());
    const b = await claimOne();
    await beat([a.id, b.id]);
    const result = await beatByDigest([b.id, a.id]);
    expect(result).toMatchObject({ stop_runs: [], unassigned: [], lost: [] });
    expect(result.digest).toEqual({ held: heldRunsDigest([a.id, b.id]), running_ops_wanted: false });
    expect((await store.workers.getWorker('w1'))?.running_ops.sort()).toEqual([a.id, b.id].sort());
    expect(await store.runs.getRun(a.id)).toMatchObject({ state: 'RUNNING', worker_id: 'w1' });
  });

  it('takes nothing back on a differing digest and asks for the list, which the next heartbeat settles', async () => {
    await beat();
    await addRun(store, { retry_policy: { max_attempts: 2 } }, clock());
    const dropped = await started(await claimOne());
    await beat([dropped.id]);

    // The worker no longer runs it: its digest says none, the server holds one.
    const differing = await beatByDigest([]);
    expect(differing.digest).toEqual({ held: heldRunsDigest([dropped.id]), running_ops_wanted: true });
    expect(differing).toMatchObject({ stop_runs: [], unassigned: [], lost: [] });
    // Unknown until listed, not the held run the worker may not have.
    expect((await store.workers.getWorker('w1'))?.running_ops).toEqual([]);
    expect(await store.runs.getRun(dropped.id)).toMatchObject({ state: 'RUNNING', worker_id: 'w1' });

    const listed = await beat([]);
    expect(listed.lost).toEqual([dropped.id]);
    expect(await store.runs.getRun(dropped.id)).toMatchObject({ state: 'FAILED', error_message: REASON });
    expect((await beatByDigest([])).digest).toEqual({ held: EMPTY_HELD_DIGEST, running_ops_wanted: false });
  });

  it('reconciles a list as always when a heartbeat sends both a list and a digest', async () => {
    await beat();
    await addRun(store, {}, clock());
    const claimed = await claimOne();
    await beat([claimed.id]);
    advance(1);
    const both = { ...heartbeatOf('w1', { cpuCores: 4, ramMb: 4096 }), running_ops: [] };
    const result = await scheduler.heartbeat(both, { heldDigest: heldRunsDigest([claimed.id]) });
    expect(result.unassigned).toEqual([claimed.id]);
    expect(result.digest).toBeUndefined();
  });
});
