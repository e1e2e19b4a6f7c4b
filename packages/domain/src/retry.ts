import { type FieldIssue, ValidationError } from './errors';

export interface RetryPolicy {
  /** Total attempts including the first; >= 1. */
  max_attempts: number;
  backoff_seconds: number;
  backoff_multiplier: number;
  /** Cap on one backoff; undefined = no cap. */
  max_backoff_seconds?: number;
}

export type RetryPolicyInput = Partial<RetryPolicy>;

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  max_attempts: 1,
  backoff_seconds: 0,
  backoff_multiplier: 2,
});

export function normalizeRetryPolicy(input: RetryPolicyInput | undefined | null, field = 'retry_policy'): RetryPolicy {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input)))
    throw ValidationError.field(field, 'must be an object');
  const p = input ?? {};
  const issues: FieldIssue[] = [];
  const check = (name: keyof RetryPolicy, min: number, integer: boolean, fallback: number | undefined) => {
    const value = p[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      issues.push({ field: `${field}.${name}`, message: `must be ${integer ? 'an integer' : 'a number'} >= ${min}` });
      return fallback;
    }
    return value;
  };
  const policy: RetryPolicy = {
    max_attempts: check('max_attempts', 1, true, DEFAULT_RETRY_POLICY.max_attempts) as number,
    backoff_seconds: check('backoff_seconds', 0, false, DEFAULT_RETRY_POLICY.backoff_seconds) as number,
    backoff_multiplier: check('backoff_multiplier', 1, false, DEFAULT_RETRY_POLICY.backoff_multiplier) as number,
  };
  const cap = check('max_backoff_seconds', 0, false, undefined);
  if (cap !== undefined) policy.max_backoff_seconds = cap;
  if (issues.length > 0) throw new ValidationError(`invalid ${field}`, issues);
  return policy;
}

/**
 * Delay before attempt `failedAttempt + 1`: backoff * multiplier^(failedAttempt-1), capped.
 * The first retry waits `backoff_seconds`.
 */
export function backoffSeconds(policy: RetryPolicy, failedAttempt: number): number {
  const raw = policy.backoff_seconds * policy.backoff_multiplier ** Math.max(0, failedAttempt - 1);
  const capped = policy.max_backoff_seconds === undefined ? raw : Math.min(raw, policy.max_backoff_seconds);
  return Number.isFinite(capped) ? capped : (policy.max_backoff_seconds ?? Number.MAX_SAFE_INTEGER);
}

export function hasAttemptsLeft(policy: RetryPolicy, currentAttempt: number): boolean {
  return currentAttempt < policy.max_attempts;
}
