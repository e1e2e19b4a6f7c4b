import { RUN_STATES } from '@gyoza/domain';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { Area, AreaChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { Empty, ErrorNote, StateBadge, UsageBar } from '../components';
import { useSession } from '../session';

export function OverviewPage() {
  const { client } = useSession();
  const stats = useQuery({ queryKey: ['stats'], queryFn: ({ signal }) => client.stats(signal), refetchInterval: 3000 });
  const throughput = useQuery({
    queryKey: ['throughput'],
    queryFn: ({ signal }) => client.throughput(60, signal),
    refetchInterval: 10_000,
  });
  const s = stats.data;
  const total = s ? RUN_STATES.reduce((sum, state) => sum + s.runs_by_state[state], 0) : 0;
  const points = (throughput.data?.buckets ?? []).map((b) => ({
    minute: new Date(b.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
    created: b.created,
    completed: b.completed,
    failed: b.failed,
  }));
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={stats.error} />
      {s && total === 0 && s.workers.active === 0 && (
        <Empty
          title="Nothing here yet. Deploy an op, start a worker and ask for a run:"
          command={
            'pnpm gyoza op deploy examples/hello/gyoza.yml\npnpm gyoza worker start &\npnpm gyoza run create hello --input name=Ada'
          }
        />
      )}
      {s && (
        <div className="cards">
          <section className="card" aria-labelledby="runs-by-state">
            <h2 id="runs-by-state">Runs by state</h2>
            <ul className="counts">
              {RUN_STATES.map((state) => (
                <li key={state}>
                  <Link
                    className="count-link"
                    to={`/runs?state=${state}`}
                    aria-label={`${s.runs_by_state[state]} ${state} runs`}
                  >
                    <StateBadge state={state} /> <span className="count">{s.runs_by_state[state]}</span>
                  </Link>
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="queue">
            <h2 id="queue">Queue depth</h2>
            <p className="big" data-testid="queue-depth">
              {s.queue_depth}
            </p>
            <p className="muted">runs waiting for a worker</p>
          </section>
          <section className="card" aria-labelledby="workers-count">
            <h2 id="workers-count">Workers</h2>
            <p className="big">
              {s.workers.active} <span className="muted small">active</span>
            </p>
            <p className="muted">{s.workers.evicted} evicted (silent past the timeout)</p>
            <Link to="/workers">See workers</Link>
          </section>
          <section className="card" aria-labelledby="gpus">
            <h2 id="gpus">GPUs</h2>
            <p className="big">
              {s.gpus.busy} <span className="muted small">busy</span> · {s.gpus.free}{' '}
              <span className="muted small">free</span>
            </p>
            <UsageBar
              label="VRAM reserved"
              used={s.gpus.vram_total_mb - s.gpus.vram_free_mb}
              total={s.gpus.vram_total_mb}
              unit="mb"
            />
          </section>
        </div>
      )}
      <section className="card wide" aria-labelledby="throughput">
        <h2 id="throughput">Throughput, last hour (runs per minute)</h2>
        <ErrorNote error={throughput.error} />
        <div className="chart">
          <ResponsiveContainer width="100%" height={260}>
            <AreaChart data={points} margin={{ top: 8, right: 16, bottom: 0, left: -16 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
              <XAxis dataKey="minute" stroke="var(--muted)" minTickGap={24} />
              <YAxis allowDecimals={false} stroke="var(--muted)" />
              <Tooltip contentStyle={{ background: 'var(--surface)', border: '1px solid var(--border)' }} />
              <Legend />
              <Area
                type="monotone"
                dataKey="created"
                stroke="var(--accent)"
                fill="var(--accent)"
                fillOpacity={0.15}
                isAnimationActive={false}
              />
              <Area
                type="monotone"
                dataKey="completed"
                stroke="var(--ok)"
                fill="var(--ok)"
                fillOpacity={0.2}
                isAnimationActive={false}
              />
              <Area
                type="monotone"
                dataKey="failed"
                stroke="var(--bad)"
                fill="var(--bad)"
                fillOpacity={0.2}
                isAnimationActive={false}
              />
            </AreaChart>
          </ResponsiveContainer>
        </div>
      </section>
    </>
  );
}
