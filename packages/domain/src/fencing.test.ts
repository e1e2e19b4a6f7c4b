import {
  ASSIGNMENT_ID_PATTERN,
  applyWorkerEvent,
  assign,
  createRun,
  type GyozaError,
  httpStatusOf,
  type OpRun,
  release,
  retry,
  StaleAssignmentError,
  start,
  unassign,
  workerLost,
} from './index';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function pending(): OpRun {
  return createRun({ image: 'busybox', retry_policy: { max_attempts: 3 } }, null, t0, 'run_f').run;
}

function refusal(fn: () => unknown): GyozaError {
  try {
    fn();
  } catch (error) {
    return error as GyozaError;
  }
  throw new Error('expected a refusal');
}

describe('assignments (the fencing token)', () => {
  it('gives every claim a new assignment id and time, on the run and its attempt', () => {
    const first = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1));
    expect(first.run.assignment_id).toMatch(ASSIGNMENT_ID_PATTERN);
    expect(first.run.assigned_at).toEqual(at(1));
    expect(first.run.attempts[0]).toMatchObject({ assignment_id: first.run.assignment_id, assigned_at: at(1) });
    expect(first.events[0].payload).toMatchObject({ assignment_id: first.run.assignment_id });

    const again = assign(unassign(first.run, at(2)).run, { worker_id: 'w1', gpu_ids: [] }, at(3)).run;
    expect(again.current_attempt).toBe(1);
    expect(again.assignment_id).not.toBe(first.run.assignment_id);
  });

  it('clears the assignment when the run is handed back or retried', () => {
    const assigned = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run;
    const back = unassign(assigned, at(2)).run;
    expect(back).not.toHaveProperty('assignment_id');
    expect(back).not.toHaveProperty('assigned_at');
    expect(back.attempts[0]).not.toHaveProperty('assignment_id');

    const lost = workerLost(start(assigned, { worker_id: 'w1' }, at(2)).run, at(3)).run;
    const retried = retry(lost, at(4)).run;
    expect(retried).not.toHaveProperty('assignment_id');
    expect(retried.attempts[0].assignment_id).toBe(assigned.assignment_id);
  });

  it('takes a STARTED sent again by the worker that runs the attempt as delivered, and changes nothing', () => {
    const assigned = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run;
    const report = { type: 'STARTED' as const, attempt: 1, assignment_id: assigned.assignment_id, worker_id: 'w1' };
    const running = applyWorkerEvent(assigned, report, at(2)).run;
    expect(running.state).toBe('RUNNING');
    // Its answer was lost, and it comes again.
    expect(applyWorkerEvent(running, report, at(3))).toEqual({ run: running, events: [] });
    // Not so from another worker, without the assignment, or for another assignment.
    expect(refusal(() => applyWorkerEvent(running, { ...report, worker_id: 'w2' }, at(3))).code).toBe(
      'INVALID_TRANSITION',
    );
    expect(refusal(() => applyWorkerEvent(running, { ...report, assignment_id: undefined }, at(3))).code).toBe(
      'INVALID_TRANSITION',
    );
    expect(
      refusal(() => applyWorkerEvent(running, { ...report, assignment_id: 'asg_000000000000000000000000' }, at(3)))
        .code,
    ).toBe('STALE_ASSIGNMENT');
  });

  it('refuses a report for an older assignment of the same attempt, and changes nothing', () => {
    const old = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run;
    const current = assign(unassign(old, at(2)).run, { worker_id: 'w1', gpu_ids: [] }, at(3)).run;
    const before = structuredClone(current);
    const error = refusal(() =>
      applyWorkerEvent(
        current,
        { type: 'STARTED', attempt: 1, worker_id: 'w1', assignment_id: old.assignment_id },
        at(4),
      ),
    );
    expect(error).toBeInstanceOf(StaleAssignmentError);
    expect(error.code).toBe('STALE_ASSIGNMENT');
    expect(httpStatusOf(error.code)).toBe(409);
    expect(error.message).toContain('claim again');
    expect(current).toEqual(before);
  });

  it('refuses a report naming an assignment after the run was handed back', () => {
    const assigned = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run;
    const back = unassign(assigned, at(2)).run;
    const report = { type: 'STARTED' as const, worker_id: 'w1', assignment_id: assigned.assignment_id };
    expect(refusal(() => applyWorkerEvent(back, report, at(3))).code).toBe('STALE_ASSIGNMENT');
    const handBack = { worker_id: 'w1', assignment_id: 'asg_other' };
    expect(refusal(() => release(assigned, handBack, at(3))).code).toBe('STALE_ASSIGNMENT');
  });

  it('accepts reports naming the current assignment, and reports naming none (curl users)', () => {
    const assigned = assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run;
    const named = applyWorkerEvent(
      assigned,
      { type: 'STARTED', attempt: 1, worker_id: 'w1', assignment_id: assigned.assignment_id },
      at(2),
    );
    expect(named.run.state).toBe('RUNNING');
    expect(applyWorkerEvent(assigned, { type: 'STARTED' }, at(2)).run.state).toBe('RUNNING');
  });

  it('records why a worker was lost when the caller says', () => {
    const running = start(assign(pending(), { worker_id: 'w1', gpu_ids: [] }, at(1)).run, {}, at(2)).run;
    const lost = workerLost(running, at(3), 'worker w1 did not list the run in its heartbeat');
    expect(lost.run.error_message).toBe('worker w1 did not list the run in its heartbeat');
    expect(lost.events.map((e) => [e.type, e.msg])).toEqual([
      ['WORKER_LOST', 'worker w1 did not list the run in its heartbeat'],
      ['FAILED', 'worker w1 did not list the run in its heartbeat'],
    ]);
  });
});
