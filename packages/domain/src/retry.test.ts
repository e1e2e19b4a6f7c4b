import { issues } from '../test/issues';
import {
  addSeconds,
  assign,
  backoffSeconds,
  createRun,
  DEFAULT_MAX_BACKOFF_SECONDS,
  DEFAULT_RETRY_POLICY,
  fail,
  hasAttemptsLeft,
  normalizeRetryPolicy,
  RETRY_POLICY_LIMITS,
  type RetryPolicy,
  start,
} from './index';

describe('normalizeRetryPolicy', () => {
  it('defaults to one attempt, no backoff, multiplier 2 and a one-hour cap', () => {
    expect(normalizeRetryPolicy(undefined)).toEqual({
      max_attempts: 1,
      backoff_seconds: 0,
      backoff_multiplier: 2,
      max_backoff_seconds: 3600,
    });
    expect(normalizeRetryPolicy(null)).toEqual(DEFAULT_RETRY_POLICY);
    expect(normalizeRetryPolicy({ max_attempts: 3 }).max_backoff_seconds).toBe(DEFAULT_MAX_BACKOFF_SECONDS);
  });

  it('keeps given values', () => {
    const policy = { max_attempts: 4, backoff_seconds: 1.5, backoff_multiplier: 1, max_backoff_seconds: 0 };
    expect(normalizeRetryPolicy(policy)).toEqual(policy);
  });

  it('names every bad field', () => {
    expect(
      issues(() =>
        normalizeRetryPolicy({
          max_attempts: 1.5,
          backoff_seconds: -1,
          backoff_multiplier: 0.5,
          max_backoff_seconds: Number.POSITIVE_INFINITY,
        }),
      ),
    ).toEqual([
      { field: 'retry_policy.max_attempts', message: 'must be an integer from 1 to 1000' },
      { field: 'retry_policy.backoff_seconds', message: 'must be a number from 0 to 604800' },
      { field: 'retry_policy.backoff_multiplier', message: 'must be a number from 1 to 100' },
      { field: 'retry_policy.max_backoff_seconds', message: 'must be a number from 0 to 604800' },
    ]);
    expect(issues(() => normalizeRetryPolicy({ max_attempts: 0 }))?.map((i) => i.field)).toEqual([
      'retry_policy.max_attempts',
    ]);
    expect(issues(() => normalizeRetryPolicy({ max_attempts: '3' } as never))?.map((i) => i.field)).toEqual([
      'retry_policy.max_attempts',
    ]);
  });

  it('refuses every field above its upper bound, naming it', () => {
    const tooBig = {
      max_attempts: RETRY_POLICY_LIMITS.max_attempts + 1,
      backoff_seconds: RETRY_POLICY_LIMITS.backoff_seconds + 1,
      backoff_multiplier: RETRY_POLICY_LIMITS.backoff_multiplier + 1,
      max_backoff_seconds: RETRY_POLICY_LIMITS.max_backoff_seconds + 1,
    };
    expect(issues(() => normalizeRetryPolicy(tooBig))?.map((i) => i.field)).toEqual([
      'retry_policy.max_attempts',
      'retry_policy.backoff_seconds',
      'retry_policy.backoff_multiplier',
      'retry_policy.max_backoff_seconds',
    ]);
    expect(normalizeRetryPolicy(RETRY_POLICY_LIMITS)).toEqual(RETRY_POLICY_LIMITS);
  });

  it.each([['3'], [[1]], [5]])('refuses %p that is not an object', (value) => {
    expect(issues(() => normalizeRetryPolicy(value as never))).toEqual([
      { field: 'retry_policy', message: 'must be an object' },
    ]);
  });
});

describe('backoffSeconds', () => {
  const policy = (p: Partial<RetryPolicy>) => normalizeRetryPolicy(p);

  // [policy, delay after attempt 1, 2, 3, 4, 5]
  it.each([
    [{ backoff_seconds: 10 }, [10, 20, 40, 80, 160]],
    [{ backoff_seconds: 2, backoff_multiplier: 3 }, [2, 6, 18, 54, 162]],
    [{ backoff_seconds: 2, backoff_multiplier: 3, max_backoff_seconds: 30 }, [2, 6, 18, 30, 30]],
    [{ backoff_seconds: 5, backoff_multiplier: 1 }, [5, 5, 5, 5, 5]],
    [{ backoff_seconds: 0 }, [0, 0, 0, 0, 0]],
    [{ backoff_seconds: 100, max_backoff_seconds: 50 }, [50, 50, 50, 50, 50]],
  ])('%j waits %j', (p, delays) => {
    expect([1, 2, 3, 4, 5].map((n) => backoffSeconds(policy(p), n))).toEqual(delays);
  });

  it('stays within the cap for very many attempts', () => {
    expect(backoffSeconds(policy({ backoff_seconds: 1, backoff_multiplier: 10 }), 10_000)).toBe(3600);
    expect(
      backoffSeconds(policy({ backoff_seconds: 1, backoff_multiplier: 10, max_backoff_seconds: 60 }), 10_000),
    ).toBe(60);
    expect(backoffSeconds(policy({ backoff_seconds: 0, backoff_multiplier: 100 }), 10_000)).toBe(0);
  });

  it('caps a policy stored before the cap existed at the default', () => {
    const legacy: RetryPolicy = { max_attempts: 100, backoff_seconds: 1, backoff_multiplier: 2 };
    expect(backoffSeconds(legacy, 44)).toBe(DEFAULT_MAX_BACKOFF_SECONDS);
    expect(backoffSeconds({ ...legacy, max_backoff_seconds: 1e300 }, 5000)).toBe(
      RETRY_POLICY_LIMITS.max_backoff_seconds,
    );
  });
});

describe('addSeconds', () => {
  it('adds seconds and clamps to the last valid date', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(addSeconds(now, 90).toISOString()).toBe('2026-01-01T00:01:30.000Z');
    expect(Number.isNaN(addSeconds(now, 1e300).getTime())).toBe(false);
    expect(Number.isNaN(addSeconds(now, Number.POSITIVE_INFINITY).getTime())).toBe(false);
  });
});

describe('a run failing for the 44th time with a legacy uncapped policy', () => {
  it('gets a valid retry time an hour ahead', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const created = createRun({ image: 'busybox', retry_policy: { max_attempts: 100 } }, null, now, 'run_r').run;
    const running = start(assign(created, { worker_id: 'w1', gpu_ids: [] }, now).run, { worker_id: 'w1' }, now).run;
    const legacy = { max_attempts: 100, backoff_seconds: 1, backoff_multiplier: 2 };
    const { run } = fail({ ...running, current_attempt: 44, retry_policy: legacy }, 'boom', now);
    expect(run.not_before?.toISOString()).toBe('2026-01-01T01:00:00.000Z');
  });
});

describe('hasAttemptsLeft', () => {
  it.each([
    [1, 1, false],
    [3, 1, true],
    [3, 2, true],
    [3, 3, false],
    [3, 4, false],
  ])('max_attempts %i after attempt %i: %p', (max, current, left) => {
    expect(hasAttemptsLeft(normalizeRetryPolicy({ max_attempts: max }), current)).toBe(left);
  });
});
