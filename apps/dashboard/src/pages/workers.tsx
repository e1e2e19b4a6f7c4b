import type { RunJson } from '@gyoza/client';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { Link, useLocation } from 'react-router';
import { Empty, ErrorNote, StateBadge, UsageBar } from '../components';
import { formatAgo, gpuLabel } from '../lib/format';
import { useSession } from '../session';

/**
 * The element id a `#hash` names. A malformed escape (`#100%`, a hand-edited link) is taken
 * as the text it is: decodeURIComponent would throw, and the page would be an error no reload clears.
 */
function idFromHash(hash: string): string {
  const raw = hash.slice(1);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function WorkersPage() {
  const { client } = useSession();
  const workers = useQuery({ queryKey: ['workers'], queryFn: () => client.listWorkers(), refetchInterval: 3000 });
  const busy = useQuery({
    queryKey: ['runs', 'reserving'],
    queryFn: ({ signal }) => client.searchRuns({ state: ['ASSIGNED', 'RUNNING'], limit: 1000 }, signal),
    refetchInterval: 3000,
  });
  const runsOf = new Map<string, RunJson[]>();
  for (const run of busy.data?.runs ?? []) {
    if (run.worker_id) runsOf.set(run.worker_id, [...(runsOf.get(run.worker_id) ?? []), run]);
  }
  // A link to one worker (/workers#<id>, from a run's page) scrolls to its card once the
  // cards are there, and only then: the 3 s refreshes leave the scroll position alone.
  const { hash } = useLocation();
  const scrolledTo = useRef('');
  useEffect(() => {
    if (!hash || !workers.data || scrolledTo.current === hash) return;
    const card = document.getElementById(idFromHash(hash));
    if (!card) return;
    scrolledTo.current = hash;
    card.scrollIntoView({ block: 'start' });
  }, [hash, workers.data]);
  const now = new Date();
  return (
    <>
      <h1>Workers</h1>
      <ErrorNote error={workers.error} />
      {workers.data?.length === 0 && (
        <Empty
          title="No worker has connected yet. Start one on a machine with Docker:"
          command="pnpm gyoza worker start"
        />
      )}
      <div className="cards">
        {(workers.data ?? []).map((w) => (
          <section key={w.id} id={w.id} className="card worker" aria-label={`Worker ${w.id}`}>
            <h2>
              <span className="mono">{w.id}</span> <StateBadge state={w.status.toUpperCase()} />
            </h2>
            <p className="muted">
              last heartbeat {formatAgo(w.last_heartbeat_at, now)}
              {w.tags.length > 0 && (
                <>
                  {' · '}
                  {w.tags.map((t) => (
                    <span key={t} className="tag">
                      {t}
                    </span>
                  ))}
                </>
              )}
            </p>
            <UsageBar
              label="CPU"
              name={`${w.id} CPU`}
              used={w.resources.cpu_cores - w.free.cpu_cores}
              total={w.resources.cpu_cores}
              unit="cores"
            />
            <UsageBar
              label="RAM"
              name={`${w.id} RAM`}
              used={w.resources.ram_mb - w.free.ram_mb}
              total={w.resources.ram_mb}
              unit="mb"
            />
            {w.free.gpus.map((g) => (
              <UsageBar
                key={g.id}
                label={gpuLabel(g)}
                name={`${w.id} GPU ${g.id} VRAM`}
                used={g.vram_mb - g.free_vram_mb}
                total={g.vram_mb}
                unit="mb"
              />
            ))}
            <h3>Runs</h3>
            {(runsOf.get(w.id) ?? []).length === 0 ? (
              <p className="muted">idle</p>
            ) : (
              <ul className="plain">
                {(runsOf.get(w.id) ?? []).map((r) => (
                  <li key={r.id}>
                    <Link to={`/runs/${r.id}`} className="mono">
                      {r.id}
                    </Link>{' '}
                    <StateBadge state={r.state} /> {r.definition_id ?? r.image}
                    {r.gpu_ids.length > 0 && <span className="muted"> · GPU {r.gpu_ids.join(', ')}</span>}
                  </li>
                ))}
              </ul>
            )}
          </section>
        ))}
      </div>
    </>
  );
}
