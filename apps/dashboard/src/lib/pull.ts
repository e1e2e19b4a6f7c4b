import type { EventJson, RunJson } from '@gyoza/client';
import { formatBytes } from './format';

/** A run's image pull as the run page and the runs table show it. */
export interface PullStatus {
  image: string;
  /** Whole percent, 0..100. */
  percent: number;
  /** "Pulling image busybox… 42%" */
  headline: string;
  /** "1.5 MB of 3.8 MB", once the engine knows the size. */
  detail?: string;
}

/** Events that do not move a run from one state to another. */
const NOT_LIFECYCLE = new Set(['LOG', 'INFO', 'PROGRESS']);

type PullReport = NonNullable<RunJson['pull_progress']>;

/**
 * Whether the run's worker is pulling its image, and how far; undefined unless the run is
 * ASSIGNED and pulling. The latest pull report on the live event stream wins when it came
 * after the run's last state change (an ASSIGNED one), since `GET /runs/{id}` is polled less
 * often; otherwise the run's own `phase` and `pull_progress` (see docs/worker.md) say it.
 */
export function pullStatus(
  run: Pick<RunJson, 'state' | 'phase' | 'pull_progress'>,
  events: readonly EventJson[] = [],
): PullStatus | undefined {
  if (run.state !== 'ASSIGNED') return undefined;
  const live = latestLiveReport(events);
  if (live === null) return undefined;
  const report = live ?? (run.phase === 'pulling' ? run.pull_progress : undefined);
  if (!report) return undefined;
  const percent = Math.round(Math.min(100, Math.max(0, report.percent)));
  const status: PullStatus = { image: report.image, percent, headline: `Pulling image ${report.image}… ${percent}%` };
  if (report.total_bytes > 0) {
    status.detail = `${formatBytes(report.done_bytes)} of ${formatBytes(report.total_bytes)}`;
  }
  return status;
}

/**
 * The latest pull report since the last state change on the stream; null when that change
 * was not an assignment (the pull is over, whatever the polled run still says); undefined
 * when the stream has no report since it.
 */
function latestLiveReport(events: readonly EventJson[]): PullReport | null | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (!NOT_LIFECYCLE.has(e.type)) return e.type === 'ASSIGNED' ? undefined : null;
    const p = e.payload;
    if (e.type === 'INFO' && p?.phase === 'pulling' && typeof p.image === 'string') {
      const number = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
      return {
        image: p.image,
        done_bytes: number(p.done_bytes),
        total_bytes: number(p.total_bytes),
        percent: number(p.percent),
      };
    }
  }
  return undefined;
}
