import type { RunJson } from '@gyoza/client';

/** Why a run is not running, for people: a headline, the per-worker details, what to do. */
export interface WaitExplanation {
  headline: string;
  details: string[];
  hint?: string;
}

const NEVER = /^no active worker can run it \((.*)\)$/;

/**
 * Puts the server's `pending_reason` (and a scheduled retry) in plain words; undefined when
 * the run is not waiting. The server's wording is in packages/scheduler/src/pending-reason.ts.
 */
export function explainWaiting(
  run: Pick<RunJson, 'state' | 'pending_reason' | 'not_before' | 'current_attempt' | 'retry_policy'>,
  formatTime: (iso: string) => string = (iso) => iso,
): WaitExplanation | undefined {
  if (run.state === 'FAILED' && run.not_before) {
    return {
      headline: `Failed; attempt ${run.current_attempt + 1} of ${run.retry_policy.max_attempts} starts automatically at ${formatTime(run.not_before)}.`,
      details: [],
      hint: 'Cancel it to stop the retries.',
    };
  }
  if (run.state !== 'PENDING') return undefined;
  const reason = run.pending_reason;
  if (reason === undefined) {
    return { headline: 'A worker has room for it: it starts with that worker’s next claim.', details: [] };
  }
  if (reason === 'no active worker') {
    return {
      headline: 'Waiting for a worker: none is connected.',
      details: [],
      hint: 'Start one with: pnpm gyoza worker start',
    };
  }
  const never = NEVER.exec(reason);
  if (never) {
    return {
      headline: 'No connected worker can ever run it.',
      details: never[1].split('; ').map((part) => part.replace(/^([^:]+): /, '$1 — ')),
      hint: 'Connect a worker with enough resources or tags, or lower the run’s constraints.',
    };
  }
  if (reason.startsWith('waiting for capacity')) {
    return {
      headline: 'Waiting for room: every worker that can run it is busy.',
      details: [],
      hint: 'It starts when one of them finishes a run.',
    };
  }
  return { headline: reason, details: [] };
}
