import type { EventJson } from '@gyoza/client';

/** One line of a run's output; a LOG event may carry a batch of lines. */
export interface LogLine {
  /** Unique within the run: event index and line number. */
  key: string;
  attempt: number;
  time: string;
  text: string;
  /** INFO lines are the worker's own notes, not the container's output. */
  info: boolean;
}

/** The lines of the LOG and INFO events, in order. */
export function logLines(events: readonly EventJson[]): LogLine[] {
  return appendLogLines([], events);
}

/** Adds the lines of `events` to `lines` (in place, so a long log is not copied per batch) and returns it. */
export function appendLogLines(lines: LogLine[], events: readonly EventJson[]): LogLine[] {
  for (const event of events) {
    if (event.type !== 'LOG' && event.type !== 'INFO') continue;
    const parts = String(event.msg ?? '').split('\n');
    parts.forEach((text, i) => {
      lines.push({
        key: `${event.index}.${i}`,
        attempt: event.attempt,
        time: event.created_at,
        text,
        info: event.type === 'INFO',
      });
    });
  }
  return lines;
}

/** Lines containing `query`, case-insensitively; all of them for an empty query. */
export function searchLines(lines: readonly LogLine[], query: string): LogLine[] {
  const q = query.trim().toLowerCase();
  return q === '' ? [...lines] : lines.filter((l) => l.text.toLowerCase().includes(q));
}

/** A state change of the timeline. */
export interface TimelineEntry {
  index: number;
  type: string;
  time: string;
  detail?: string;
}

export interface AttemptTimeline {
  attempt: number;
  entries: TimelineEntry[];
}

const NOT_LIFECYCLE = new Set(['LOG', 'INFO', 'PROGRESS']);

/** Lifecycle events (not logs or progress) grouped by attempt, oldest attempt first. */
export function timelineByAttempt(events: readonly EventJson[]): AttemptTimeline[] {
  const byAttempt = new Map<number, TimelineEntry[]>();
  for (const event of events) {
    if (NOT_LIFECYCLE.has(event.type)) continue;
    const entries = byAttempt.get(event.attempt) ?? [];
    entries.push({ index: event.index, type: event.type, time: event.created_at, detail: detailOf(event) });
    byAttempt.set(event.attempt, entries);
  }
  return [...byAttempt.entries()].sort(([a], [b]) => a - b).map(([attempt, entries]) => ({ attempt, entries }));
}

function detailOf(event: EventJson): string | undefined {
  const payload = event.payload ?? {};
  if (typeof payload.worker_id === 'string') return `worker ${payload.worker_id}`;
  if (typeof payload.error_message === 'string') return payload.error_message;
  if (typeof payload.reason === 'string') return payload.reason;
  return typeof event.msg === 'string' && event.msg !== '' ? event.msg : undefined;
}
