// The FerretDB-backend row of `pnpm bench`: the MongoDB adapter (packages/store-mongo) on
// FerretDB's PostgreSQL backend (`--handler=postgresql`, on the throwaway PostgreSQL of
// scripts/postgres.js) against its SQLite backend, side by side in one run: claims/s with
// `workers` scheduler loops (limit 1) over `pending` runs, rounds interleaved, and the runs
// those claims assigned per second.
const { performance } = require('node:perf_hooks');
const { createRun } = require('../packages/domain');
const { Scheduler } = require('../packages/scheduler');
const { openMongoStore } = require('../packages/store-mongo');
const { startFerretdb } = require('./ferretdb');
const { startPostgres } = require('./postgres');

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function fill(store, count) {
  let next = 0;
  const now = new Date();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        const t = createRun(
          { image: 'busybox', inputs: { i }, priority: i % 5, constraints: { cpu_cores: 0.001 } },
          null,
          now,
        );
        await store.runs.createRun(t, now);
      }
    }),
  );
}

/** One backend: a fresh database with `pending` runs and `workers` registered workers. */
async function prepare(uri, { pending, workers }) {
  const store = await openMongoStore({ uri, dbName: `bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}` });
  await fill(store, pending);
  for (let w = 0; w < workers; w++) {
    await store.workers.heartbeat(
      { worker_id: `bench-w${w}`, resources: { cpu_cores: 10_000, ram_mb: 1e9, gpus: [] }, tags: [], running_ops: [] },
      new Date(),
    );
  }
  return { store, scheduler: new Scheduler({ store }) };
}

/** `claims` claims by `workers` loops; the backlog is topped up afterwards. */
async function claimRound({ store, scheduler }, { claims, workers }) {
  const latencies = [];
  let started = 0;
  let assigned = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (started < claims) {
        started++;
        const s = performance.now();
        const got = await scheduler.claim(`bench-w${w}`, { limit: 1 });
        assigned += got.length;
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = latencies.length / seconds;
  await fill(store, latencies.length);
  // Claims that came back empty (lost every run to another claimer) count as claims above.
  return { perSecond, assignedPerSecond: assigned / seconds, p50: percentile(latencies, 50) };
}

/** Resolves to `{ skipped }` without PostgreSQL, else per-round rows for both backends. */
async function benchFerretdbBackends({ rounds, pending, claims, workers }) {
  const pg = await startPostgres();
  if (pg.reason) return { skipped: pg.reason };
  const started = [];
  try {
    pg.createDatabase('ferretdb');
    const onSqlite = await startFerretdb({ logLevel: 'error' });
    started.push(onSqlite);
    const onPostgres = await startFerretdb({ logLevel: 'error', postgresqlUrl: pg.url('ferretdb') });
    started.push(onPostgres);
    const sqlite = await prepare(onSqlite.uri, { pending, workers });
    const postgres = await prepare(onPostgres.uri, { pending, workers });
    try {
      const rows = [];
      for (let r = 0; r < rounds; r++) {
        const first = r % 2 === 0;
        const a = await claimRound(first ? sqlite : postgres, { claims, workers });
        const b = await claimRound(first ? postgres : sqlite, { claims, workers });
        rows.push(first ? { sqlite: a, postgres: b } : { sqlite: b, postgres: a });
      }
      return { rows };
    } finally {
      for (const side of [sqlite, postgres]) {
        await side.scheduler.stop();
        await side.store.close();
      }
    }
  } finally {
    for (const f of started) await f.stop();
    pg.stop();
  }
}

module.exports = { benchFerretdbBackends };
