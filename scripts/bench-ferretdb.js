// The FerretDB-backend row of `pnpm bench`: the MongoDB adapter (packages/store-mongo) on
// FerretDB's PostgreSQL backend (`--handler=postgresql`, on the throwaway PostgreSQL of
// scripts/postgres.js) against its SQLite backend, side by side in one run: claims/s with
// `workers` scheduler loops (limit 1) over `pending` runs, rounds interleaved, and the runs
// those claims assigned per second.
//
// Run alone (`node scripts/bench-ferretdb.js [--claims 120]`, after `pnpm build`) it profiles
// where a claim's time goes on each backend: round trips per claim by command and collection
// and the mean time of each (the driver's command monitoring), for claims one at a time and
// for 8 concurrent loops.
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

/** `claims` claims by `workers` loops (limit 1 each): latencies and runs assigned. */
async function claimLoops({ scheduler }, { claims, workers }) {
  const latencies = [];
  let started = 0;
  let assigned = 0;
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
  return { latencies, assigned };
}

/** `claims` claims by `workers` loops; the backlog is topped up afterwards. */
async function claimRound(side, { claims, workers }) {
  const t0 = performance.now();
  const { latencies, assigned } = await claimLoops(side, { claims, workers });
  const seconds = (performance.now() - t0) / 1000;
  const perSecond = latencies.length / seconds;
  await fill(side.store, latencies.length);
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

/**
 * Where a claim's time goes: every command the store's connections send, counted and timed
 * (command monitoring, switched on for the connections opened while `watch` is installed).
 */
function watchCommands() {
  const path = require('node:path');
  const mongoose = require(require.resolve('mongoose', { paths: [path.join(__dirname, '../packages/store-mongo')] }));
  const stats = new Map();
  const started = new Map();
  const state = { active: false };
  const createConnection = mongoose.createConnection.bind(mongoose);
  mongoose.createConnection = (uri, options) => {
    const connection = createConnection(uri, { ...options, monitorCommands: true });
    connection.asPromise().then(() => {
      const client = connection.getClient();
      client.on('commandStarted', (e) => {
        if (!state.active) return;
        const collection = e.command[e.commandName];
        started.set(e.requestId, `${e.commandName} ${typeof collection === 'string' ? collection : ''}`.trim());
      });
      const done = (e) => {
        const key = started.get(e.requestId);
        if (key === undefined) return;
        started.delete(e.requestId);
        const s = stats.get(key) ?? { n: 0, ms: 0 };
        s.n += 1;
        s.ms += e.duration;
        stats.set(key, s);
      };
      client.on('commandSucceeded', done);
      client.on('commandFailed', done);
    });
    return connection;
  };
  return {
    async measure(label, claims, body) {
      stats.clear();
      state.active = true;
      const t0 = performance.now();
      await body();
      const seconds = (performance.now() - t0) / 1000;
      state.active = false;
      const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
      const n = rows.reduce((sum, [, s]) => sum + s.n, 0);
      const ms = rows.reduce((sum, [, s]) => sum + s.ms, 0);
      console.log(
        `\n| ${label}: ${(claims / seconds).toFixed(1)} claims/s | round trips / claim | mean ms | ms / claim |`,
      );
      console.log('|---|---|---|---|');
      for (const [key, s] of rows) {
        console.log(
          `| ${key} | ${(s.n / claims).toFixed(2)} | ${(s.ms / s.n).toFixed(2)} | ${(s.ms / claims).toFixed(1)} |`,
        );
      }
      console.log(`| all | ${(n / claims).toFixed(2)} | ${(ms / n).toFixed(2)} | ${(ms / claims).toFixed(1)} |`);
    },
  };
}

async function profile({ pending, claims, workers }) {
  const watch = watchCommands();
  const pg = await startPostgres();
  const backends = [['SQLite', await startFerretdb({ logLevel: 'error' })]];
  if (pg.reason) console.log(`PostgreSQL backend skipped: ${pg.reason}`);
  else {
    pg.createDatabase('ferretdb');
    backends.unshift(['PostgreSQL', await startFerretdb({ logLevel: 'error', postgresqlUrl: pg.url('ferretdb') })]);
  }
  try {
    for (const [name, ferret] of backends) {
      const side = await prepare(ferret.uri, { pending, workers });
      try {
        for (let w = 0; w < workers; w++) await side.scheduler.claim(`bench-w${w}`, { limit: 1 });
        const single = Math.max(10, Math.round(claims / 6));
        await watch.measure(`${name} backend, one claim at a time`, single, async () => {
          for (let i = 0; i < single; i++) await side.scheduler.claim(`bench-w${i % workers}`, { limit: 1 });
        });
        await watch.measure(`${name} backend, ${workers} concurrent loops`, claims, async () => {
          await claimLoops(side, { claims, workers });
        });
      } finally {
        await side.scheduler.stop();
        await side.store.close();
      }
    }
  } finally {
    for (const [, f] of backends) await f.stop();
    if (!pg.reason) pg.stop();
  }
}

module.exports = { benchFerretdbBackends };

if (require.main === module) {
  const { parseArgs } = require('node:util');
  const { values } = parseArgs({ options: { claims: { type: 'string' }, pending: { type: 'string' } } });
  profile({ pending: Number(values.pending ?? 1000), claims: Number(values.claims ?? 120), workers: 8 }).catch(
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
