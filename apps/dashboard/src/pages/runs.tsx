import type { RunJson, RunState } from '@gyoza/client';
import { RUN_STATES } from '@gyoza/domain';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { Empty, ErrorNote, ProgressBar, StateBadge } from '../components';
import { formatAgo, formatDuration, isoFromLocalInput } from '../lib/format';
import { pullStatus } from '../lib/pull';
import { useSession } from '../session';

const PAGE_SIZE = 25;
const RUN_ID = /^run_[A-Za-z0-9]{1,64}$/;

/** Filters live in the address (shareable, back button works); cursors of the pages seen, in state. */
/** "pulling 42%" beside an ASSIGNED run's badge while its worker pulls the image. */
function pulling(run: RunJson) {
  const pull = pullStatus(run);
  return pull ? <span className="phase" title={pull.headline}>{` pulling ${pull.percent}%`}</span> : null;
}

export function RunsPage() {
  const { client } = useSession();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const [cursors, setCursors] = useState<string[]>([]);
  const [idSearch, setIdSearch] = useState('');
  const [idError, setIdError] = useState<string>();
  const filter = {
    state: (params.get('state') || undefined) as RunState | undefined,
    definition_id: params.get('op') || undefined,
    worker_id: params.get('worker') || undefined,
    created_after: isoFromLocalInput(params.get('from') ?? ''),
    created_before: isoFromLocalInput(params.get('to') ?? ''),
  };
  const cursor = cursors.at(-1);
  const runs = useQuery({
    queryKey: ['runs', filter, cursor],
    queryFn: ({ signal }) => client.searchRuns({ ...filter, limit: PAGE_SIZE, cursor }, signal),
    refetchInterval: 3000,
    placeholderData: keepPreviousData,
  });
  const definitions = useQuery({
    queryKey: ['definitions', 'latest'],
    // One entry per op: its latest version (the op page lists the others).
    queryFn: () => client.listDefinitions({ latest: true }),
  });
  const workers = useQuery({ queryKey: ['workers'], queryFn: () => client.listWorkers() });

  const setFilter = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setCursors([]);
    setParams(next);
  };
  async function findId(event: FormEvent) {
    event.preventDefault();
    const id = idSearch.trim();
    if (!RUN_ID.test(id)) return setIdError('A run id looks like run_0123abcd…');
    try {
      await client.getRun(id);
      navigate(`/runs/${id}`);
    } catch {
      setIdError(`No run ${id}`);
    }
  }
  const now = new Date();
  const filtered = Object.values(filter).some((v) => v !== undefined);
  return (
    <>
      <h1>Runs</h1>
      <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          State
          <select value={filter.state ?? ''} onChange={(e) => setFilter('state', e.target.value)}>
            <option value="">any</option>
            {RUN_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Op
          <select value={filter.definition_id ?? ''} onChange={(e) => setFilter('op', e.target.value)}>
            <option value="">any</option>
            {(definitions.data ?? []).map((d) => (
              <option key={d.id}>{d.id}</option>
            ))}
          </select>
        </label>
        <label>
          Worker
          <select value={filter.worker_id ?? ''} onChange={(e) => setFilter('worker', e.target.value)}>
            <option value="">any</option>
            {(workers.data ?? []).map((w) => (
              <option key={w.id}>{w.id}</option>
            ))}
          </select>
        </label>
        <label>
          Created from
          <input
            type="datetime-local"
            value={params.get('from') ?? ''}
            onChange={(e) => setFilter('from', e.target.value)}
          />
        </label>
        <label>
          to
          <input
            type="datetime-local"
            value={params.get('to') ?? ''}
            onChange={(e) => setFilter('to', e.target.value)}
          />
        </label>
      </form>
      <search>
        <form className="filters" aria-label="Find a run by id" onSubmit={findId}>
          <label>
            Run id
            <input
              value={idSearch}
              placeholder="run_…"
              onChange={(e) => {
                setIdSearch(e.target.value);
                setIdError(undefined);
              }}
            />
          </label>
          <button type="submit">Open</button>
          {idError && (
            <span className="error" role="alert">
              {idError}
            </span>
          )}
        </form>
      </search>
      <ErrorNote error={runs.error} />
      {runs.data && runs.data.runs.length === 0 && cursors.length === 0 ? (
        filtered ? (
          <Empty title="No run matches these filters." />
        ) : (
          <Empty
            title="No runs yet. Create one from the Ops page, or:"
            command="pnpm gyoza run create hello --input name=Ada"
          />
        )
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Op</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Worker</th>
                <th scope="col">Created</th>
                <th scope="col">Took</th>
              </tr>
            </thead>
            <tbody>
              {(runs.data?.runs ?? []).map((run) => (
                <tr
                  key={run.id}
                  className="clickable"
                  // A click on a link in the row is the link's: navigating here too adds a second history entry.
                  onClick={(e) => {
                    if (!(e.target as Element).closest('a')) navigate(`/runs/${run.id}`);
                  }}
                >
                  <td>
                    <Link to={`/runs/${run.id}`} className="mono">
                      {run.id}
                    </Link>
                  </td>
                  <td>{run.definition_id ? `${run.definition_id}@${run.definition_version}` : run.image}</td>
                  <td>
                    <StateBadge state={run.state} />
                    {pulling(run)}
                  </td>
                  <td>
                    <ProgressBar value={run.progress} label={`${run.id} progress`} />
                  </td>
                  <td>{run.worker_id ?? '—'}</td>
                  <td title={run.created_at}>{formatAgo(run.created_at, now)}</td>
                  <td>
                    {run.started_at
                      ? formatDuration(
                          (run.finished_at ? new Date(run.finished_at) : now).getTime() -
                            new Date(run.started_at).getTime(),
                        )
                      : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Newer
        </button>
        <span className="muted">page {cursors.length + 1}</span>
        <button
          type="button"
          disabled={!runs.data?.next_cursor}
          onClick={() => {
            const next = runs.data?.next_cursor;
            if (next) setCursors((c) => [...c, next]);
          }}
        >
          Older →
        </button>
      </nav>
    </>
  );
}
