import { type EventJson, isRunFinal, type RunJson } from '@gyoza/client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { ConfirmButton, ErrorNote, Json, ProgressBar, StateBadge } from '../components';
import { appendLogLines, type LogLine, searchLines, timelineByAttempt } from '../lib/events';
import { formatTime } from '../lib/format';
import { explainWaiting } from '../lib/pending';
import { pullStatus } from '../lib/pull';
import { RunFollower } from '../lib/run-follower';
import { useSession } from '../session';

/** The log renders this many lines at most, the last ones; search reaches the others. */
const SHOWN_LINES = 5000;

/** A run that is not final is read this often. */
const LIVE_POLL_MS = 5000;
/** A final run that can still be retried is read this often: a retry from elsewhere (the API, the CLI, another tab) shows. */
const RETRYABLE_POLL_MS = 10_000;

/** How often the page reads the run: a final run that cannot be retried does not change any more. */
function pollIntervalMs(run: RunJson | undefined): number | false {
  if (!run || !isRunFinal(run)) return LIVE_POLL_MS;
  return canRetry(run) ? RETRYABLE_POLL_MS : false;
}

/** Retry is offered (and may come from elsewhere) while a failed or cancelled run has attempts left. */
function canRetry(run: RunJson): boolean {
  return (run.state === 'FAILED' || run.state === 'CANCELLED') && run.current_attempt < run.retry_policy.max_attempts;
}

/**
 * The run's events, live: the SSE stream through fetch (the key goes in a header), polling as
 * fallback, started again after a pause when it fails (lib/run-follower.ts). Following ends
 * once the run is final; a new attempt (a retry) or a run no longer final starts it again
 * after the last event shown, so the shown events stay.
 */
function useRunEvents(
  id: string,
  run: RunJson | undefined,
  onLifecycle: () => void,
): { events: EventJson[]; error?: unknown } {
  const { client } = useSession();
  const [events, setEvents] = useState<EventJson[]>([]);
  const [error, setError] = useState<unknown>();
  const changed = useRef(onLifecycle);
  changed.current = onLifecycle;
  const shown = useRef({ id, last: 0 });
  // Changes with the attempt and with finality; empty until the run is read.
  const wake = run ? `${run.current_attempt}:${isRunFinal(run)}` : '';
  useEffect(() => {
    if (wake === '') return;
    if (shown.current.id !== id) {
      shown.current = { id, last: 0 };
      setEvents([]);
    }
    setError(undefined);
    const follower = new RunFollower(client, id, shown.current, {
      events: (fresh) => setEvents((all) => all.concat(fresh)),
      lifecycle: () => changed.current(),
      error: setError,
    });
    follower.start();
    // What was read stays shown: following again starts after it.
    return () => follower.stop();
  }, [client, id, wake]);
  return { events, error };
}

export function RunPage() {
  const { id = '' } = useParams();
  const { client } = useSession();
  const queryClient = useQueryClient();
  const run = useQuery({
    queryKey: ['run', id],
    queryFn: ({ signal }) => client.getRun(id, signal),
    refetchInterval: (q) => pollIntervalMs(q.state.data),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['run', id] });
  const { events, error: eventsError } = useRunEvents(id, run.data, refresh);
  const action = useMutation({
    mutationFn: (kind: 'cancel' | 'retry') => (kind === 'cancel' ? client.cancelRun(id) : client.retryRun(id)),
    onSuccess: (updated) => queryClient.setQueryData(['run', id], updated),
    onSettled: refresh,
  });
  const r = run.data;
  if (run.error && !r) return <ErrorNote error={run.error} />;
  if (!r) return <p aria-busy="true">Loading…</p>;
  // An earlier attempt's progress says nothing about this one.
  const progress = events.filter((e) => e.type === 'PROGRESS' && e.attempt === r.current_attempt).at(-1);
  const shownProgress = r.state === 'RUNNING' && progress ? Math.max(r.progress, Number(progress.msg)) : r.progress;
  const waiting = explainWaiting(r, formatTime);
  const pull = pullStatus(r, events);
  return (
    <>
      <h1 className="run-title">
        <span className="mono">{r.id}</span> <StateBadge state={r.state} />
      </h1>
      <p className="muted">
        {r.definition_id ? (
          <>
            op <Link to={`/ops/${r.definition_id}`}>{r.definition_id}</Link>@{r.definition_version} ·{' '}
          </>
        ) : null}
        image <code>{r.image}</code> · priority {r.priority} · attempt {r.current_attempt} of{' '}
        {r.retry_policy.max_attempts}
      </p>
      <ProgressBar value={shownProgress} label="Run progress" />
      {pull && (
        <section className="notice pull" aria-label="Image pull">
          <p>{pull.headline}</p>
          <ProgressBar value={pull.percent} label="Image pull progress" />
          {pull.detail && <p className="muted">{pull.detail}</p>}
        </section>
      )}
      {waiting && (
        <section className="notice" aria-label="Why it waits">
          <p>{waiting.headline}</p>
          {waiting.details.length > 0 && (
            <ul>
              {waiting.details.map((d) => (
                <li key={d}>{d}</li>
              ))}
            </ul>
          )}
          {waiting.hint && <p className="muted">{waiting.hint}</p>}
        </section>
      )}
      {r.error_message && (
        <section className="notice bad" aria-label="Error">
          <p>{r.error_message}</p>
        </section>
      )}
      <div className="actions">
        {/* Whatever is not final can be cancelled: a FAILED run with a retry scheduled too. */}
        {!isRunFinal(r) && (
          <ConfirmButton
            label="Cancel run"
            question="Cancel this run?"
            confirmLabel="Yes, cancel it"
            danger
            busy={action.isPending}
            onConfirm={() => action.mutate('cancel')}
          />
        )}
        {canRetry(r) && (
          <ConfirmButton
            label="Retry"
            question={`Start attempt ${r.current_attempt + 1}?`}
            confirmLabel="Yes, retry"
            busy={action.isPending}
            onConfirm={() => action.mutate('retry')}
          />
        )}
        <ErrorNote error={action.error} />
      </div>
      <div className="columns">
        <Placement run={r} />
        <Timeline events={events} />
      </div>
      <LogTail events={events} />
      <ErrorNote error={eventsError} />
      <div className="columns">
        <Json label="Inputs" value={r.inputs} />
        <Json label="Outputs" value={r.outputs} />
      </div>
    </>
  );
}

function Placement({ run }: { run: RunJson }) {
  return (
    <section className="card" aria-label="Placement">
      <h2>Placement</h2>
      <dl>
        <dt>Worker</dt>
        <dd>{run.worker_id ? <Link to={`/workers#${run.worker_id}`}>{run.worker_id}</Link> : '—'}</dd>
        <dt>GPUs</dt>
        <dd>{run.gpu_ids.length > 0 ? run.gpu_ids.join(', ') : '—'}</dd>
        <dt>Needs</dt>
        <dd>
          {run.constraints.cpu_cores} CPU · {run.constraints.ram_mb} MB RAM
          {run.constraints.gpu_count > 0 && ` · ${run.constraints.gpu_count} GPU × ${run.constraints.vram_mb} MB`}
        </dd>
        <dt>Created</dt>
        <dd>{formatTime(run.created_at)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(run.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{formatTime(run.finished_at)}</dd>
      </dl>
    </section>
  );
}

function Timeline({ events }: { events: EventJson[] }) {
  const attempts = timelineByAttempt(events);
  return (
    <section className="card" aria-label="Timeline">
      <h2>Timeline</h2>
      {attempts.map(({ attempt, entries }) => (
        <div key={attempt}>
          <h3>Attempt {attempt}</h3>
          <ol className="timeline">
            {entries.map((e) => (
              <li key={e.index}>
                <StateBadge state={e.type} /> <time dateTime={e.time}>{formatTime(e.time)}</time>
                {e.detail && <span className="muted"> {e.detail}</span>}
              </li>
            ))}
          </ol>
        </div>
      ))}
    </section>
  );
}

function LogTail({ events }: { events: EventJson[] }) {
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const box = useRef<HTMLDivElement>(null);
  const all = useLogLines(events);
  const lines = query.trim() === '' ? all : searchLines(all, query);
  const count = lines.length;
  const hidden = Math.max(0, count - SHOWN_LINES);
  useEffect(() => {
    if (follow && box.current && count >= 0) box.current.scrollTop = box.current.scrollHeight;
  }, [follow, count]);
  return (
    <section className="card wide" aria-label="Log">
      <div className="log-head">
        <h2>Log</h2>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <label>
          Search <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <span className="muted">
          {query ? `${count} of ${all.length} lines` : all.length === 1 ? '1 line' : `${all.length} lines`}
        </span>
      </div>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls, so the keyboard must reach it */}
      <div className="log" ref={box} tabIndex={0} role="log" aria-label="Log lines">
        {hidden > 0 && (
          <p className="muted">
            {hidden === 1 ? '1 earlier line is' : `${hidden} earlier lines are`} not shown: search to find them.
          </p>
        )}
        {lines.length === 0 ? (
          <p className="muted">{all.length === 0 ? 'No output yet.' : 'No line matches.'}</p>
        ) : (
          lines.slice(hidden).map((l) => (
            <div key={l.key} className={l.info ? 'line info' : 'line'}>
              <span className="attempt">#{l.attempt}</span>
              {l.text}
            </div>
          ))
        )}
      </div>
    </section>
  );
}

/** The log lines of `events`, adding only those of events appended since the last render. */
function useLogLines(events: EventJson[]): LogLine[] {
  const cache = useRef<{ events: EventJson[]; lines: LogLine[] }>({ events: [], lines: [] });
  const { events: seen, lines } = cache.current;
  if (events === seen) return lines;
  // The hook only ever appends to `events`, or starts over for another run.
  const appended = events.length >= seen.length && (seen.length === 0 || events[seen.length - 1] === seen.at(-1));
  const next = appended ? appendLogLines(lines, events.slice(seen.length)) : appendLogLines([], events);
  cache.current = { events, lines: next };
  return next;
}
