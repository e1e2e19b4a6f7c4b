import { explainWaiting } from './pending';

const run = (over: Partial<Parameters<typeof explainWaiting>[0]>) => ({
  state: 'PENDING' as const,
  current_attempt: 1,
  retry_policy: { max_attempts: 3, backoff_seconds: 1, backoff_multiplier: 2, max_backoff_seconds: 60 },
  ...over,
});

describe('explainWaiting', () => {
  it('says nothing about a run that is not waiting', () => {
    expect(explainWaiting(run({ state: 'RUNNING' }))).toBeUndefined();
    expect(explainWaiting(run({ state: 'FAILED' }))).toBeUndefined();
  });

  it('tells a new user to start a worker when none is connected', () => {
    const e = explainWaiting(run({ pending_reason: 'no active worker' }));
    expect(e?.headline).toBe('Waiting for a worker: none is connected.');
    expect(e?.hint).toBe('Start one with: pnpm gyoza worker start');
  });

  it('lists why each worker can never run it', () => {
    const e = explainWaiting(
      run({
        pending_reason:
          'no active worker can run it (w1: needs 1 GPU(s) with 8000 MB VRAM free; w2: needs 4 CPU cores, 2 free)',
      }),
    );
    expect(e?.headline).toBe('No connected worker can ever run it.');
    expect(e?.details).toEqual(['w1 — needs 1 GPU(s) with 8000 MB VRAM free', 'w2 — needs 4 CPU cores, 2 free']);
  });

  it('says the capable workers are busy', () => {
    const e = explainWaiting(run({ pending_reason: 'waiting for capacity: every worker that can run it is busy' }));
    expect(e?.headline).toBe('Waiting for room: every worker that can run it is busy.');
  });

  it('says a run without a reason is about to be claimed', () => {
    expect(explainWaiting(run({}))?.headline).toMatch(/^A worker has room for it/);
  });

  it('passes an unknown reason through unchanged', () => {
    expect(explainWaiting(run({ pending_reason: 'something new' }))?.headline).toBe('something new');
  });

  it('names the next attempt and its time for a failed run with a retry scheduled', () => {
    const e = explainWaiting(run({ state: 'FAILED', not_before: '2026-03-01T10:00:00.000Z' }), () => '10:00');
    expect(e?.headline).toBe('Failed; attempt 2 of 3 starts automatically at 10:00.');
  });
});
