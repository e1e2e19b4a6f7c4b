import {
  applyWorkerEvent,
  assign,
  cancel,
  complete,
  createRun,
  fail,
  InvalidTransitionError,
  MaxAttemptsReachedError,
  type OpRun,
  progress,
  RUN_STATES,
  RunLockedError,
  type RunState,
  retry,
  start,
  type Transition,
  timeOut,
  unassign,
  ValidationError,
  WorkerMismatchError,
  workerLost,
} from './index';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function pending(retryPolicy = { max_attempts: 3, backoff_seconds: 10 }): OpRun {
  return createRun(
    { image: 'busybox', retry_policy: retryPolicy, constraints: { timeout_seconds: 60 } },
    null,
    t0,
    'run_t',
  ).run;
}

/** A run brought into `state` through the real transitions. */
function runIn(state: RunState): OpRun {
  const p = pending();
  const assigned = assign(p, { worker_id: 'w1', gpu_ids: [0] }, at(1)).run;
  const running = start(assigned, { worker_id: 'w1' }, at(2)).run;
  switch (state) {
    case 'PENDING':
      return p;
    case 'ASSIGNED':
      return assigned;
    case 'RUNNING':
      return running;
    case 'COMPLETED':
      return complete(running, { answer: 42 }, at(3)).run;
    case 'FAILED':
      return fail(running, 'boom', at(3)).run;
    case 'CANCELLED':
      return cancel(running, at(3)).run;
  }
}

type Apply = (run: OpRun) => Transition;
const now = at(100);
const transitions: Record<string, Apply> = {
  assign: (r) => assign(r, { worker_id: 'w1', gpu_ids: [0] }, now),
  unassign: (r) => unassign(r, now),
  start: (r) => start(r, { worker_id: 'w1' }, now),
  progress: (r) => progress(r, 50, now),
  complete: (r) => complete(r, { ok: true }, now),
  fail: (r) => fail(r, 'exit 1', now),
  cancel: (r) => cancel(r, now),
  retry: (r) => retry(r, now),
  timeOut: (r) => timeOut(r, now),
  workerLost: (r) => workerLost(r, now),
};

// Written out from DESIGN.md §2, independently of ALLOWED_FROM: [to state, event types].
const allowed: Record<string, Partial<Record<RunState, [RunState, string[]]>>> = {
  assign: { PENDING: ['ASSIGNED', ['ASSIGNED']] },
  unassign: { ASSIGNED: ['PENDING', ['UNASSIGNED']] },
  start: { ASSIGNED: ['RUNNING', ['STARTED']] },
  progress: { RUNNING: ['RUNNING', ['PROGRESS']] },
  complete: { RUNNING: ['COMPLETED', ['COMPLETED']] },
  fail: { RUNNING: ['FAILED', ['FAILED']] },
  cancel: {
    PENDING: ['CANCELLED', ['CANCELLED']],
    ASSIGNED: ['CANCELLED', ['CANCELLED']],
    RUNNING: ['CANCELLED', ['CANCELLED']],
  },
  retry: { FAILED: ['PENDING', ['RETRIED']], CANCELLED: ['PENDING', ['RETRIED']] },
  timeOut: { RUNNING: ['FAILED', ['TIMED_OUT', 'FAILED']] },
  workerLost: { RUNNING: ['FAILED', ['WORKER_LOST', 'FAILED']] },
};
const workerReported = ['start', 'progress', 'complete', 'fail'];
const finished: RunState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

const table = Object.keys(transitions).flatMap((name) => RUN_STATES.map((state) => [name, state] as const));

describe('every (state, transition) pair', () => {
  it.each(table)('%s from %s', (name, state) => {
    const run = runIn(state);
    const before = structuredClone(run);
    const expected = allowed[name][state];
    if (expected) {
      const result = transitions[name](run);
      expect(result.run.state).toBe(expected[0]);
      expect(result.events.map((e) => e.type)).toEqual(expected[1]);
      const attempt = result.run.attempts.find((a) => a.attempt === result.run.current_attempt);
      expect(attempt?.state).toBe(expected[0]);
      expect(result.run.updated_at).toEqual(now);
    } else {
      const wantLocked = workerReported.includes(name) && finished.includes(state);
      const error = captureError(() => transitions[name](run));
      expect(error).toBeInstanceOf(wantLocked ? RunLockedError : InvalidTransitionError);
      expect((error as { code: string }).code).toBe(wantLocked ? 'RUN_LOCKED' : 'INVALID_TRANSITION');
    }
    expect(run).toEqual(before);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('transition details', () => {
  it('assign records the worker and GPUs on the run and its attempt', () => {
    const { run, events } = assign(pending(), { worker_id: 'w9', gpu_ids: [1, 3] }, at(5));
    expect(run).toMatchObject({ state: 'ASSIGNED', worker_id: 'w9', gpu_ids: [1, 3] });
    expect(run.attempts[0]).toMatchObject({ state: 'ASSIGNED', worker_id: 'w9', gpu_ids: [1, 3] });
    expect(events[0].payload).toEqual({ worker_id: 'w9', gpu_ids: [1, 3] });
  });

  it('unassign keeps the attempt and clears the worker', () => {
    const { run } = unassign(runIn('ASSIGNED'), at(5));
    expect(run.current_attempt).toBe(1);
    expect(run.worker_id).toBeUndefined();
    expect(run.gpu_ids).toEqual([]);
    expect(run.attempts).toHaveLength(1);
  });

  it('start by a worker the run is not assigned to is refused', () => {
    expect(() => start(runIn('ASSIGNED'), { worker_id: 'other' }, now)).toThrow(WorkerMismatchError);
  });

  it('complete stores outputs and full progress', () => {
    const { run } = complete(runIn('RUNNING'), { url: 's3://x' }, at(9));
    expect(run).toMatchObject({ outputs: { url: 's3://x' }, progress: 100, finished_at: at(9) });
    expect(run.attempts[0].outputs).toEqual({ url: 's3://x' });
  });

  it('fail with attempts left schedules the retry after the backoff', () => {
    const { run, events } = fail(runIn('RUNNING'), 'exit 3', at(10));
    expect(run.error_message).toBe('exit 3');
    expect(run.not_before).toEqual(at(20));
    expect(events[0].payload).toMatchObject({ error_message: 'exit 3', retry_at: at(20).toISOString() });
  });

  it('fail on the last attempt does not schedule a retry', () => {
    const single = pending({ max_attempts: 1, backoff_seconds: 10 });
    const running = start(assign(single, { worker_id: 'w1', gpu_ids: [] }, t0).run, {}, t0).run;
    expect(fail(running, 'x', at(1)).run.not_before).toBeUndefined();
  });

  it('the backoff grows with each attempt', () => {
    let run = pending({ max_attempts: 3, backoff_seconds: 10 });
    run = start(assign(run, { worker_id: 'w1', gpu_ids: [] }, t0).run, {}, t0).run;
    run = fail(run, 'x', at(0)).run;
    run = retry(run, at(10), { automatic: true }).run;
    run = start(assign(run, { worker_id: 'w1', gpu_ids: [] }, at(10)).run, {}, at(10)).run;
    expect(fail(run, 'x', at(10)).run.not_before).toEqual(at(30));
  });

  it('retry opens a new attempt and resets the run', () => {
    const { run, events } = retry(runIn('FAILED'), at(50));
    expect(run).toMatchObject({ state: 'PENDING', current_attempt: 2, progress: 0, gpu_ids: [] });
    expect(run.worker_id).toBeUndefined();
    expect(run.error_message).toBeUndefined();
    expect(run.attempts.map((a) => [a.attempt, a.state])).toEqual([
      [1, 'FAILED'],
      [2, 'PENDING'],
    ]);
    expect(events).toEqual([{ attempt: 2, type: 'RETRIED', payload: { automatic: false, previous_attempt: 1 } }]);
  });

  it('automatic retry waits for not_before and never revives a cancel', () => {
    const failed = runIn('FAILED');
    expect(() => retry(failed, at(5), { automatic: true })).toThrow(InvalidTransitionError);
    expect(retry(failed, at(13), { automatic: true }).run.state).toBe('PENDING');
    expect(() => retry(runIn('CANCELLED'), at(500), { automatic: true })).toThrow(InvalidTransitionError);
  });

  it('retry is refused once max_attempts is reached', () => {
    let run = pending({ max_attempts: 2, backoff_seconds: 0 });
    run = cancel(run, t0).run;
    run = retry(run, t0).run;
    run = cancel(run, t0).run;
    const error = captureError(() => retry(run, t0));
    expect(error).toBeInstanceOf(MaxAttemptsReachedError);
    expect((error as MaxAttemptsReachedError).code).toBe('MAX_ATTEMPTS_REACHED');
  });

  it('timeOut and workerLost fail the attempt with their reason', () => {
    expect(timeOut(runIn('RUNNING'), now).run.error_message).toBe('timed out after 60s');
    const lost = workerLost(runIn('RUNNING'), now);
    expect(lost.run.error_message).toBe('worker w1 lost');
    expect(lost.events[0].payload).toEqual({ worker_id: 'w1' });
    expect(lost.run.not_before).toEqual(at(110));
  });

  it('progress accepts 0..100 only', () => {
    expect(progress(runIn('RUNNING'), '40', now).run.progress).toBe(40);
    expect(() => progress(runIn('RUNNING'), 101, now)).toThrow(ValidationError);
    expect(() => progress(runIn('RUNNING'), 'abc', now)).toThrow(ValidationError);
  });
});

describe('applyWorkerEvent', () => {
  it.each([
    ['STARTED', 'ASSIGNED', { payload: { worker_id: 'w1', gpu_id: 0 } }, 'RUNNING'],
    ['PROGRESS', 'RUNNING', { msg: 30 }, 'RUNNING'],
    ['COMPLETED', 'RUNNING', { payload: { outputs: { n: 1 } } }, 'COMPLETED'],
    ['FAILED', 'RUNNING', { payload: { error_message: 'oops' } }, 'FAILED'],
    ['CANCELLED', 'RUNNING', {}, 'CANCELLED'],
    ['LOG', 'RUNNING', { msg: 'hello' }, 'RUNNING'],
    ['INFO', 'ASSIGNED', { msg: 'pulling' }, 'ASSIGNED'],
  ] as const)('%s on %s', (type, state, extra, to) => {
    const { run, events } = applyWorkerEvent(runIn(state), { type, ...extra }, now);
    expect(run.state).toBe(to);
    expect(events.at(-1)?.type).toBe(type);
  });

  it('PROGRESS sets progress from msg', () => {
    expect(applyWorkerEvent(runIn('RUNNING'), { type: 'PROGRESS', msg: 30 }, now).run.progress).toBe(30);
  });

  it.each(['STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOG', 'INFO'] as const)(
    '%s on a finished run is locked',
    (type) => {
      expect(() => applyWorkerEvent(runIn('COMPLETED'), { type, msg: 1 }, now)).toThrow(RunLockedError);
    },
  );

  it('an event for an older attempt is locked', () => {
    const second = retry(runIn('FAILED'), now).run;
    expect(() => applyWorkerEvent(second, { type: 'LOG', msg: 'x', attempt: 1 }, now)).toThrow(RunLockedError);
  });

  it('bad payload types name the field', () => {
    const error = captureError(() =>
      applyWorkerEvent(runIn('ASSIGNED'), { type: 'STARTED', payload: { gpu_id: 'zero' } }, now),
    );
    expect((error as ValidationError).details).toEqual([{ field: 'payload.gpu_id', message: 'must be an integer' }]);
  });
});
