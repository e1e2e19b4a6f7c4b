import { type FieldIssue, ValidationError } from './errors';

export interface RetryPolicy {
  /**
   * Total attempts including the first, 1..{@link RETRY_POLICY_LIMITS}.max_attempts.
   * @defaultValue 1
   */
  max_attempts: number;
  /**
   * Wait before the first retry.
   * @defaultValue 0
   */
  backoff_seconds: number;
  /**
   * Each further retry waits this many times longer than the one before.
   * @defaultValue 2
   */
  backoff_multiplier: number;
  /**
   * Cap on one backoff. Policies stored before the cap existed lack it; {@link backoffSeconds}
   * then applies {@link DEFAULT_MAX_BACKOFF_SECONDS}, so no backoff is ever unbounded.
   * @defaultValue 3600
   */
  max_backoff_seconds?: number;
}

/** One hour: the longest wait between two attempts unless a policy says otherwise. */
export const DEFAULT_MAX_BACKOFF_SECONDS = 3600;

/**
 * Upper bounds of every policy field. They keep every computed retry time a valid date
 * (at most a week ahead), whatever the attempt number.
 */
export const RETRY_POLICY_LIMITS = Object.freeze({
  max_attempts: 1000,
  backoff_seconds: 7 * 24 * 3600,
  backoff_multiplier: 100,
  max_backoff_seconds: 7 * 24 * 3600,
});

export type RetryPolicyInput = Partial<RetryPolicy>;

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  max_attempts: 1,
  backoff_seconds: 0,
  backoff_multiplier: 2,
  max_backoff_seconds: DEFAULT_MAX_BACKOFF_SECONDS,
});

export function normalizeRetryPolicy(input: RetryPolicyInput | undefined | null, field = 'retry_policy'): RetryPolicy {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input)))
    throw ValidationError.field(field, 'must be an object');
  const p = input ?? {};
  const issues: FieldIssue[] = [];
  const check = (name: keyof RetryPolicy, min: number, integer: boolean): number => {
    const value = p[name];
    const fallback = DEFAULT_RETRY_POLICY[name] as number;
    if (value === undefined || value === null) return fallback;
    const max = RETRY_POLICY_LIMITS[name];
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < min ||
      value > max ||
      (integer && !Number.isInteger(value))
    ) {
      issues.push({
        field: `${field}.${name}`,
        message: `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      });
      return fallback;
    }
    return value;
  };
  const policy: RetryPolicy = {
    max_attempts: check('max_attempts', 1, true),
    backoff_seconds: check('backoff_seconds', 0, false),
    backoff_multiplier: check('backoff_multiplier', 1, false),
    max_backoff_seconds: check('max_backoff_seconds', 0, false),
  };
  if (issues.length > 0) throw new ValidationError(`invalid ${field}`, issues);
  return policy;
}

/**
 * Delay before attempt `failedAttempt + 1`: backoff * multiplier^(failedAttempt-1), capped.
 * The first retry waits `backoff_seconds`.
 */
export function backoffSeconds(policy: RetryPolicy, failedAttempt: number): number {
  const cap = Math.min(
    policy.max_backoff_seconds ?? DEFAULT_MAX_BACKOFF_SECONDS,
    RETRY_POLICY_LIMITS.max_backoff_seconds,
  );
  const raw = policy.backoff_seconds * policy.backoff_multiplier ** Math.max(0, failedAttempt - 1);
  // A huge exponent gives Infinity (or NaN for 0 * Infinity); both mean "past the cap" or "no wait".
  if (Number.isNaN(raw)) return 0;
  return Math.min(raw, cap);
}

/**
 * `now` plus `seconds`, clamped to the largest valid Date, so no policy or clock value can
 * produce an Invalid Date.
 */
export function addSeconds(now: Date, seconds: number): Date {
  const MAX_DATE_MS = 8.64e15;
  const ms = now.getTime() + (Number.isFinite(seconds) ? seconds * 1000 : MAX_DATE_MS);
  return new Date(Math.min(Math.max(ms, -MAX_DATE_MS), MAX_DATE_MS));
}

export function hasAttemptsLeft(policy: RetryPolicy, currentAttempt: number): boolean {
  return currentAttempt < policy.max_attempts;
}
