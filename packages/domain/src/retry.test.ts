import { issues } from '../test/issues';
import { backoffSeconds, DEFAULT_RETRY_POLICY, hasAttemptsLeft, normalizeRetryPolicy, type RetryPolicy } from './index';

describe('normalizeRetryPolicy', () => {
  it('defaults to one attempt, no backoff, multiplier 2 and no cap', () => {
    expect(normalizeRetryPolicy(undefined)).toEqual({ max_attempts: 1, backoff_seconds: 0, backoff_multiplier: 2 });
    expect(normalizeRetryPolicy(null)).toEqual(DEFAULT_RETRY_POLICY);
    expect(normalizeRetryPolicy({ max_attempts: 3 })).not.toHaveProperty('max_backoff_seconds');
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
      { field: 'retry_policy.max_attempts', message: 'must be an integer >= 1' },
      { field: 'retry_policy.backoff_seconds', message: 'must be a number >= 0' },
      { field: 'retry_policy.backoff_multiplier', message: 'must be a number >= 1' },
      { field: 'retry_policy.max_backoff_seconds', message: 'must be a number >= 0' },
    ]);
    expect(issues(() => normalizeRetryPolicy({ max_attempts: 0 }))?.map((i) => i.field)).toEqual([
      'retry_policy.max_attempts',
    ]);
    expect(issues(() => normalizeRetryPolicy({ max_attempts: '3' } as never))?.map((i) => i.field)).toEqual([
      'retry_policy.max_attempts',
    ]);
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

  it('stays finite for very many attempts', () => {
    expect(backoffSeconds(policy({ backoff_seconds: 1, backoff_multiplier: 10 }), 10_000)).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expect(
      backoffSeconds(policy({ backoff_seconds: 1, backoff_multiplier: 10, max_backoff_seconds: 60 }), 10_000),
    ).toBe(60);
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
