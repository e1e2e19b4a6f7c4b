import {
  applyWorkerEvent,
  assign,
  cancel,
  complete,
  createRun,
  fail,
  type GyozaError,
  InvalidTransitionError,
  MaxAttemptsReachedError,
  note,
  type OpAttempt,
  type OpRun,
  progress,
  type RetryPolicyInput,
  RUN_STATES,
  RunLockedError,
  type RunState,
  release,
  reprioritize,
  retry,
  start,
  type Transition,
  timeOut,
  unassign,
  ValidationError,
  WORKER_EVENT_TYPES,
  type WorkerEvent,
  WorkerMismatchError,
  workerLost,
} from './index';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function pending(retryPolicy: RetryPolicyInput = { max_attempts: 3, backoff_seconds: 10 }): OpRun {
  return createRun(
    { image: 'busybox', retry_policy: retryPolicy, constraints: { timeout_seconds: 60 } },
    null,
    t0,
    'run_t',
  ).run;
}

/** A run brought into `state` through the real transitions: assigned at 1s, started at 2s, finished at 3s. */
function runIn(state: RunState, policy?: RetryPolicyInput): OpRun {
  const p = pending(policy);
  const assigned = assign(p, { worker_id: 'w1', gpu_ids: [0], assignment_id: 'asg_1' }, at(1)).run;
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

/** Freezes the whole aggregate, so any in-place write by a transition throws. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function captureError(fn: () => unknown): GyozaError {
  try {
    fn();
  } catch (error) {
    return error as GyozaError;
  }
  throw new Error('expected an error');
}

const attemptOf = (run: OpRun): OpAttempt | undefined => run.attempts.find((a) => a.attempt === run.current_attempt);

type Apply = (run: OpRun) => Transition;
const now = at(100);
const transitions: Record<string, Apply> = {
  assign: (r) => assign(r, { worker_id: 'w1', gpu_ids: [0], assignment_id: 'asg_2' }, now),
  unassign: (r) => unassign(r, now),
  release: (r) => release(r, { worker_id: 'w1', reason: 'worker w1 stopping' }, now),
  start: (r) => start(r, { worker_id: 'w1' }, now),
  progress: (r) => progress(r, 50, now),
  complete: (r) => complete(r, { ok: true }, now),
  fail: (r) => fail(r, 'exit 1', now),
  cancel: (r) => cancel(r, now),
  retry: (r) => retry(r, now),
  timeOut: (r) => timeOut(r, now),
  workerLost: (r) => workerLost(r, now),
};

interface Expected {
  /** The run's state afterwards. */
  state: RunState;
  /** Event types emitted, in order. */
  events: string[];
  /** The current attempt afterwards, in full. */
  attempt: OpAttempt;
  /** Run-level fields afterwards; `undefined` means the field is absent. */
  run?: Partial<Record<keyof OpRun, unknown>>;
}

// Attempt 1 as it looks in each starting state (see runIn).
const base = { attempt: 1, progress: 0, outputs: {}, created_at: t0 };
const assigned1 = { ...base, worker_id: 'w1', gpu_ids: [0], assigned_at: at(1), assignment_id: 'asg_1' };
const running1 = { ...assigned1, state: 'RUNNING' as const, started_at: at(2) };
const cancelled = (from: OpAttempt): Expected => ({
  state: 'CANCELLED',
  events: ['CANCELLED'],
  attempt: { ...from, state: 'CANCELLED', finished_at: now },
  run: { finished_at: now, not_before: undefined },
});
const retried = (from: RunState): Expected => ({
  state: 'PENDING',
  events: ['RETRIED'],
  attempt: { attempt: 2, state: 'PENDING', gpu_ids: [], progress: 0, outputs: {}, created_at: now },
  run: {
    current_attempt: 2,
    worker_id: undefined,
    gpu_ids: [],
    assigned_at: undefined,
    assignment_id: undefined,
    error_message: undefined,
    started_at: undefined,
    finished_at: undefined,
    not_before: undefined,
    attempts: [expect.objectContaining({ attempt: 1, state: from }), expect.anything()],
  },
});

// Written out from the lifecycle table of docs/design.md, independently of ALLOWED_FROM, so a wrong
// ALLOWED_FROM fails here. Every pair not listed must be refused.
const allowed: Record<string, Partial<Record<RunState, Expected>>> = {
  assign: {
    PENDING: {
      state: 'ASSIGNED',
      events: ['ASSIGNED'],
      attempt: { ...assigned1, state: 'ASSIGNED', assigned_at: now, assignment_id: 'asg_2' },
      run: { worker_id: 'w1', gpu_ids: [0], assigned_at: now, assignment_id: 'asg_2' },
    },
  },
  unassign: {
    ASSIGNED: {
      state: 'PENDING',
      events: ['UNASSIGNED'],
      attempt: { ...base, state: 'PENDING', gpu_ids: [] },
      run: { current_attempt: 1, worker_id: undefined, gpu_ids: [], assigned_at: undefined, assignment_id: undefined },
    },
  },
  release: {
    ASSIGNED: {
      state: 'PENDING',
      events: ['UNASSIGNED'],
      attempt: { ...base, state: 'PENDING', gpu_ids: [] },
      run: { current_attempt: 1, worker_id: undefined, gpu_ids: [] },
    },
  },
  start: {
    ASSIGNED: {
      state: 'RUNNING',
      events: ['STARTED'],
      attempt: { ...assigned1, state: 'RUNNING', started_at: now },
      run: { started_at: now, worker_id: 'w1' },
    },
  },
  progress: {
    RUNNING: { state: 'RUNNING', events: ['PROGRESS'], attempt: { ...running1, progress: 50 }, run: { progress: 50 } },
  },
  complete: {
    RUNNING: {
      state: 'COMPLETED',
      events: ['COMPLETED'],
      attempt: { ...running1, state: 'COMPLETED', progress: 100, outputs: { ok: true }, finished_at: now },
      run: { progress: 100, outputs: { ok: true }, finished_at: now },
    },
  },
  fail: {
    RUNNING: {
      state: 'FAILED',
      events: ['FAILED'],
      attempt: { ...running1, state: 'FAILED', error_message: 'exit 1', finished_at: now },
      run: { error_message: 'exit 1', finished_at: now, not_before: at(110) },
    },
  },
  cancel: {
    PENDING: cancelled({ ...base, state: 'PENDING', gpu_ids: [] }),
    ASSIGNED: cancelled({ ...assigned1, state: 'ASSIGNED' }),
    RUNNING: cancelled(running1),
    // The default policy scheduled a retry (see the cancel tests below): the failed attempt stays FAILED.
    FAILED: {
      state: 'CANCELLED',
      events: ['CANCELLED'],
      attempt: { ...running1, state: 'FAILED', error_message: 'boom', finished_at: at(3) },
      run: { finished_at: now, not_before: undefined },
    },
  },
  retry: { FAILED: retried('FAILED'), CANCELLED: retried('CANCELLED') },
  timeOut: {
    RUNNING: {
      state: 'FAILED',
      events: ['TIMED_OUT', 'FAILED'],
      attempt: { ...running1, state: 'FAILED', error_message: 'timed out after 60s', finished_at: now },
      run: { error_message: 'timed out after 60s', not_before: at(110) },
    },
  },
  workerLost: {
    RUNNING: {
      state: 'FAILED',
      events: ['WORKER_LOST', 'FAILED'],
      attempt: { ...running1, state: 'FAILED', error_message: 'worker w1 lost', finished_at: now },
      run: { error_message: 'worker w1 lost', not_before: at(110) },
    },
  },
};
const STATES: RunState[] = ['PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const WORKER_REPORTED = ['start', 'progress', 'complete', 'fail'];
const FINISHED: RunState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

const table = Object.keys(transitions).flatMap((name) => STATES.map((state) => [name, state] as const));

describe('every (state, transition) pair', () => {
  it('covers all six states and eleven transitions', () => {
    expect([...RUN_STATES].sort()).toEqual([...STATES].sort());
    expect(table).toHaveLength(66);
  });

  it.each(table)('%s from %s', (name, state) => {
    const run = runIn(state);
    const before = structuredClone(run);
    deepFreeze(run);
    const expected = allowed[name][state];
    if (expected) {
      const result = transitions[name](run);
      expect(result.run.state).toBe(expected.state);
      expect(attemptOf(result.run)).toEqual(expected.attempt);
      expect(result.events.map((e) => e.type)).toEqual(expected.events);
      for (const e of result.events) expect(e.attempt).toBe(result.run.current_attempt);
      for (const [field, value] of Object.entries(expected.run ?? {})) {
        if (value === undefined) expect(result.run).not.toHaveProperty(field);
        else expect(result.run[field as keyof OpRun]).toEqual(value);
      }
      expect(result.run.updated_at).toEqual(now);
      expect(result.run.id).toBe(run.id);
      expect(result.run.rev).toBe(run.rev);
    } else {
      const locked = WORKER_REPORTED.includes(name) && FINISHED.includes(state);
      const error = captureError(() => transitions[name](run));
      expect(error).toBeInstanceOf(locked ? RunLockedError : InvalidTransitionError);
      expect(error.code).toBe(locked ? 'RUN_LOCKED' : 'INVALID_TRANSITION');
    }
    expect(run).toEqual(before);
  });
});

describe('cancel', () => {
  it('stops a FAILED run whose automatic retry is scheduled, leaving the failed attempt as it was', () => {
    const failed = deepFreeze(runIn('FAILED', { max_attempts: 3, backoff_seconds: 3600 }));
    expect(failed.not_before).toBeDefined();
    const { run, events } = cancel(failed, now, 'not needed');
    expect(run).toMatchObject({
      state: 'CANCELLED',
      error_message: 'not needed',
      finished_at: now,
      current_attempt: 1,
    });
    expect(run).not.toHaveProperty('not_before');
    expect(attemptOf(run)).toEqual(attemptOf(failed));
    expect(events.map((e) => [e.type, e.msg])).toEqual([['CANCELLED', 'not needed']]);
    expect(() => retry(run, at(99_999), { automatic: true })).toThrow(InvalidTransitionError);
    // Without a retry scheduled, FAILED is final: nothing to cancel.
    expect(() => cancel(runIn('FAILED', { max_attempts: 1 }), now)).toThrow(InvalidTransitionError);
  });
});

describe('start', () => {
  it('refuses a worker the run is not assigned to, and changes nothing', () => {
    const run = deepFreeze(runIn('ASSIGNED'));
    const error = captureError(() => start(run, { worker_id: 'w2' }, now));
    expect(error).toBeInstanceOf(WorkerMismatchError);
    expect(error.code).toBe('WORKER_MISMATCH');
    expect(run.state).toBe('ASSIGNED');
  });

  it('records the reported GPU in the STARTED event', () => {
    const { events } = start(runIn('ASSIGNED'), { worker_id: 'w1', gpu_id: 0 }, now);
    expect(events).toEqual([{ attempt: 1, type: 'STARTED', payload: { worker_id: 'w1', gpu_id: 0 } }]);
  });
});

describe('fail and backoff', () => {
  /** Runs attempt after attempt to failure, retrying as soon as allowed; returns each not_before. */
  function failEveryAttempt(policy: RetryPolicyInput, attempts: number): (Date | undefined)[] {
    let run = pending(policy);
    let clock = 0;
    const seen: (Date | undefined)[] = [];
    for (let i = 0; i < attempts; i++) {
      run = start(assign(run, { worker_id: 'w1', gpu_ids: [] }, at(clock)).run, {}, at(clock)).run;
      run = fail(run, 'x', at(clock)).run;
      seen.push(run.not_before);
      if (!run.not_before) break;
      clock = (run.not_before.getTime() - t0.getTime()) / 1000;
      run = retry(run, run.not_before, { automatic: true }).run;
    }
    return seen;
  }

  it('sets not_before from the backoff only while attempts are left', () => {
    // backoff 10s, multiplier 2 (default): retries at +10s, then +20s; the third failure is final.
    expect(failEveryAttempt({ max_attempts: 3, backoff_seconds: 10 }, 3)).toEqual([at(10), at(30), undefined]);
  });

  it('applies the multiplier and the cap', () => {
    const policy = { max_attempts: 5, backoff_seconds: 2, backoff_multiplier: 3, max_backoff_seconds: 10 };
    // +2, +6, +10 (18 capped), +10 (54 capped), then final.
    expect(failEveryAttempt(policy, 5)).toEqual([at(2), at(8), at(18), at(28), undefined]);
  });

  it('announces the retry time in the FAILED event, or none on the last attempt', () => {
    expect(fail(runIn('RUNNING'), 'exit 3', at(10)).events).toEqual([
      {
        attempt: 1,
        type: 'FAILED',
        msg: 'exit 3',
        payload: { error_message: 'exit 3', retry_at: at(20).toISOString() },
      },
    ]);
    const last = fail(runIn('RUNNING', { max_attempts: 1, backoff_seconds: 10 }), undefined, at(10));
    expect(last.run).not.toHaveProperty('not_before');
    expect(last.run.error_message).toBe('failed');
    expect(last.events[0].payload).toEqual({ error_message: 'failed' });
  });

  const reasons = { timeOut, workerLost };
  it.each([
    ['timeOut', 'TIMED_OUT', 'timed out after 60s', undefined],
    ['workerLost', 'WORKER_LOST', 'worker w1 lost', { worker_id: 'w1' }],
  ] as const)('%s emits %s then FAILED and retries per policy', (name, type, message, payload) => {
    const fn = reasons[name];
    const { run, events } = fn(runIn('RUNNING'), now);
    expect(events.map((e) => [e.type, e.msg])).toEqual([
      [type, message],
      ['FAILED', message],
    ]);
    expect(events[0].payload).toEqual(payload);
    expect(run.not_before).toEqual(at(110));
    const last = fn(runIn('RUNNING', { max_attempts: 1 }), now).run;
    expect(last.state).toBe('FAILED');
    expect(last).not.toHaveProperty('not_before');
  });
});

describe('retry', () => {
  it('a manual retry may come before not_before and keeps earlier attempts', () => {
    const failed = runIn('FAILED'); // not_before = 13s
    const { run, events } = retry(failed, at(4));
    expect(run.current_attempt).toBe(2);
    expect(run.attempts.map((a) => [a.attempt, a.state, a.error_message])).toEqual([
      [1, 'FAILED', 'boom'],
      [2, 'PENDING', undefined],
    ]);
    expect(events).toEqual([{ attempt: 2, type: 'RETRIED', payload: { automatic: false, previous_attempt: 1 } }]);
  });

  it('the automatic retry needs FAILED and a passed not_before', () => {
    const failed = deepFreeze(runIn('FAILED'));
    const early = captureError(() => retry(failed, at(12), { automatic: true }));
    expect(early).toBeInstanceOf(InvalidTransitionError);
    expect(early.code).toBe('INVALID_TRANSITION');
    const onTime = retry(failed, at(13), { automatic: true });
    expect(onTime.run).toMatchObject({ state: 'PENDING', current_attempt: 2 });
    expect(onTime.events[0].payload).toEqual({ automatic: true, previous_attempt: 1 });
    const noDate: OpRun = { ...failed, not_before: undefined };
    expect(captureError(() => retry(noDate, at(500), { automatic: true })).code).toBe('INVALID_TRANSITION');
    const error = captureError(() => retry(runIn('CANCELLED'), at(500), { automatic: true }));
    expect(error.code).toBe('INVALID_TRANSITION');
  });

  it.each(['FAILED', 'CANCELLED'] as const)('from %s is refused once max_attempts is reached', (state) => {
    let run = runIn(state, { max_attempts: 2 });
    run = retry(run, at(20)).run;
    run = cancel(run, at(21)).run;
    const error = captureError(() => retry(deepFreeze(run), at(22)));
    expect(error).toBeInstanceOf(MaxAttemptsReachedError);
    expect(error.code).toBe('MAX_ATTEMPTS_REACHED');
    expect(captureError(() => retry(runIn(state, { max_attempts: 1 }), at(20))).code).toBe('MAX_ATTEMPTS_REACHED');
  });
});

describe('progress', () => {
  it.each([0, 100, 42.5, '40', ' 7 '])('accepts %p', (value) => {
    expect(progress(runIn('RUNNING'), value, now).run.progress).toBe(Number(value));
  });

  it.each([-1, 100.5, 'abc', '', Number.NaN, Number.POSITIVE_INFINITY, null, true, {}])('refuses %p', (value) => {
    const error = captureError(() => progress(runIn('RUNNING'), value, now));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([{ field: 'msg', message: 'PROGRESS must be a number from 0 to 100' }]);
  });
});

describe('note and reprioritize', () => {
  it('LOG and INFO append an event and leave the run as it is', () => {
    const run = runIn('RUNNING');
    const result = note(run, 'LOG', 'line', { stream: 'stderr' });
    expect(result.run).toBe(run);
    expect(result.events).toEqual([{ attempt: 1, type: 'LOG', msg: 'line', payload: { stream: 'stderr' } }]);
  });

  it('priority changes until the run finishes, as an integer', () => {
    expect(reprioritize(runIn('PENDING'), 7, now).run.priority).toBe(7);
    expect(captureError(() => reprioritize(runIn('PENDING'), 1.5, now)).details).toEqual([
      { field: 'priority', message: 'must be an integer' },
    ]);
    expect(captureError(() => reprioritize(runIn('COMPLETED'), 7, now)).code).toBe('RUN_LOCKED');
  });
});

describe('applyWorkerEvent', () => {
  // [type, from state, event fields, resulting state, fields of the last event]
  it.each([
    [
      'STARTED',
      'ASSIGNED',
      { payload: { worker_id: 'w1', gpu_id: 0 } },
      'RUNNING',
      { payload: { worker_id: 'w1', gpu_id: 0 } },
    ],
    ['STARTED', 'ASSIGNED', { worker_id: 'w1' }, 'RUNNING', { payload: { worker_id: 'w1' } }],
    ['PROGRESS', 'RUNNING', { msg: 30 }, 'RUNNING', { msg: '30' }],
    ['PROGRESS', 'RUNNING', { msg: '30.5' }, 'RUNNING', { msg: '30.5' }],
    ['COMPLETED', 'RUNNING', { payload: { outputs: { n: 1 } } }, 'COMPLETED', { payload: { outputs: { n: 1 } } }],
    ['COMPLETED', 'RUNNING', {}, 'COMPLETED', { payload: { outputs: {} } }],
    ['FAILED', 'RUNNING', { payload: { error_message: 'oops' } }, 'FAILED', { msg: 'oops' }],
    ['FAILED', 'RUNNING', { msg: 'exit 2' }, 'FAILED', { msg: 'exit 2' }],
    ['CANCELLED', 'RUNNING', { msg: 'SIGTERM' }, 'CANCELLED', { msg: 'SIGTERM' }],
    ['CANCELLED', 'ASSIGNED', {}, 'CANCELLED', {}],
    [
      'LOG',
      'RUNNING',
      { msg: 'hello', payload: { stream: 'stdout' } },
      'RUNNING',
      { msg: 'hello', payload: { stream: 'stdout' } },
    ],
    ['INFO', 'ASSIGNED', { msg: 'pulling', attempt: 1 }, 'ASSIGNED', { msg: 'pulling' }],
  ] as const)('%s on %s', (type, state, extra, to, last) => {
    const run = deepFreeze(runIn(state));
    const result = applyWorkerEvent(run, { type, ...extra } as WorkerEvent, now);
    expect(result.run.state).toBe(to);
    expect(result.events.at(-1)).toMatchObject({ type, attempt: 1, ...last });
  });

  it('PROGRESS sets the progress of the run and its attempt', () => {
    const { run } = applyWorkerEvent(runIn('RUNNING'), { type: 'PROGRESS', msg: '30' }, now);
    expect(run.progress).toBe(30);
    expect(run.attempts[0].progress).toBe(30);
  });

  it.each([-1, 101, 'half', ''])('PROGRESS %p is a validation error on msg', (msg) => {
    const error = captureError(() => applyWorkerEvent(runIn('RUNNING'), { type: 'PROGRESS', msg }, now));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details?.map((d) => d.field)).toEqual(['msg']);
  });

  it.each(WORKER_EVENT_TYPES)('%s for a stale attempt is locked', (type) => {
    const second = deepFreeze(retry(runIn('FAILED'), now).run); // attempt 2 is PENDING
    const error = captureError(() => applyWorkerEvent(second, { type, msg: 1, attempt: 1 }, now));
    expect(error).toBeInstanceOf(RunLockedError);
    expect(error.code).toBe('RUN_LOCKED');
  });

  it.each(WORKER_EVENT_TYPES)('%s on a finished run is locked', (type) => {
    for (const state of FINISHED) {
      const error = captureError(() => applyWorkerEvent(runIn(state), { type, msg: 1 }, now));
      expect(error).toBeInstanceOf(RunLockedError);
    }
  });

  it('STARTED from another worker is a mismatch', () => {
    const run = runIn('ASSIGNED');
    expect(captureError(() => applyWorkerEvent(run, { type: 'STARTED', worker_id: 'w2' }, now)).code).toBe(
      'WORKER_MISMATCH',
    );
    const viaPayload = captureError(() =>
      applyWorkerEvent(run, { type: 'STARTED', payload: { worker_id: 'w2' } }, now),
    );
    expect(viaPayload.code).toBe('WORKER_MISMATCH');
  });

  it('an event from a worker that lost the run is a mismatch', () => {
    // w1 was assigned, lost before start, and the run went to w2 on the same attempt.
    const moved = start(
      assign(unassign(runIn('ASSIGNED'), at(5)).run, { worker_id: 'w2', gpu_ids: [1] }, at(6)).run,
      { worker_id: 'w2' },
      at(7),
    ).run;
    for (const type of ['PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOG'] as const) {
      const error = captureError(() => applyWorkerEvent(moved, { type, msg: 10, attempt: 1, worker_id: 'w1' }, now));
      expect(error).toBeInstanceOf(WorkerMismatchError);
    }
    expect(applyWorkerEvent(moved, { type: 'PROGRESS', msg: 10, worker_id: 'w2' }, now).run.progress).toBe(10);
    expect(applyWorkerEvent(moved, { type: 'PROGRESS', msg: 10 }, now).run.progress).toBe(10);
  });

  it('a FAILED report marked retryable: false is not retried, whatever attempts are left', () => {
    const run = deepFreeze(runIn('RUNNING', { max_attempts: 3 }));
    const failed = applyWorkerEvent(
      run,
      { type: 'FAILED', payload: { error_message: 'manifest unknown', retryable: false } },
      now,
    );
    expect(failed.run.state).toBe('FAILED');
    expect(failed.run.not_before).toBeUndefined();
    expect(failed.events.at(-1)?.payload).toEqual({ error_message: 'manifest unknown', retryable: false });
    expect(applyWorkerEvent(run, { type: 'FAILED', payload: { retryable: true } }, now).run.not_before).toBeDefined();
  });

  it('a release names its reason, and only the assigned worker may release the current attempt', () => {
    const run = deepFreeze(runIn('ASSIGNED'));
    const released = release(run, { worker_id: 'w1', attempt: 1, reason: 'worker w1 stopping' }, now);
    expect(released.events).toEqual([
      { attempt: 1, type: 'UNASSIGNED', msg: 'worker w1 stopping', payload: { worker_id: 'w1', released: true } },
    ]);
    expect(release(run, { worker_id: 'w1' }, now).events[0]?.msg).toBe('released by worker w1');
    expect(captureError(() => release(run, { worker_id: 'w2' }, now))).toBeInstanceOf(WorkerMismatchError);
    expect(captureError(() => release(run, { worker_id: 'w1', attempt: 2 }, now))).toBeInstanceOf(RunLockedError);
  });

  // The shape of each event type's payload is checked by the API's PostEventDto
  // (packages/api/src/dto/run.dto.test.ts); an unknown type still cannot slip through here.
  it.each([[{ type: 'FINISHED' }, 'RUNNING', 'type']] as const)('%j on %s names %s', (event, state, field) => {
    const run = deepFreeze(runIn(state));
    const error = captureError(() => applyWorkerEvent(run, event as unknown as WorkerEvent, now));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.details?.map((d) => d.field)).toEqual([field]);
  });
});
