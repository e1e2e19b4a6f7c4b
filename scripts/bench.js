#!/usr/bin/env node
// `pnpm bench` (after `pnpm build`): store and scheduler throughput and latency on this
// machine, for the SQLite store and the MongoDB adapter on FerretDB, and the HTTP rows
// (scripts/bench-http.js, scripts/bench-ferretdb.js), each a ratio against a baseline measured
// side by side in the same run, min / median / max over interleaved rounds. Prints tables.
//   node scripts/bench.js [--quick] [--stores sqlite,mongo] [--backlogs 1000,10000,100000] [--claims 300]
//     [--sections creates,claims,longpoll,webhooks,http,jobs,memory,ferretdb] [--webhooks 1000]
//     (claim-path sections, bench-claims.js: unfit,idle,held,reason,metrics,wake)
//     [--rounds 5] [--pending 100000]
// --quick (what CI runs, about two minutes) shrinks every row; it reports, it never asserts.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');
const { createRun } = require('../packages/domain');
const { Scheduler } = require('../packages/scheduler');
const { benchWebhooks } = require('./bench-webhooks');
const { printClaimRows } = require('./bench-claims');
const { openSqliteStore } = require('../packages/store-sqlite');
const { openMongoStore } = require('../packages/store-mongo');
const { startFerretdb } = require('./ferretdb');

const { values: args } = parseArgs({
  options: {
    ...Object.fromEntries(
      [
        'stores',
        'backlogs',
        'claims',
        'mongo-backlogs',
        'mongo-claims',
        'mongo-uri',
        'sections',
        'webhooks',
        'rounds',
        'pending',
      ].map((name) => [name, { type: 'string' }]),
    ),
    quick: { type: 'boolean', default: false },
  },
});
const QUICK = args.quick;
if (QUICK) {
  args.backlogs ??= '1000';
  args.claims ??= '100';
  args['mongo-claims'] ??= '20';
  args.webhooks ??= '200';
}
// --quick leaves the MongoDB adapter to its own row (FerretDB's two backends, below).
const STORES = (args.stores ?? (QUICK ? 'sqlite' : 'sqlite,mongo')).split(',');
// FerretDB 1.x (the only MongoDB-wire server here) filters and sorts in its own process
// instead of using indexes, so every query reads whole collections: its rows are kept
// small by default. Point --mongo-uri at a real MongoDB for meaningful Mongo figures.
const BACKLOGS = {
  sqlite: (args.backlogs ?? '1000,10000,100000').split(',').map(Number),
  mongo: (args['mongo-backlogs'] ?? '1000').split(',').map(Number),
};
const CLAIMS = { sqlite: Number(args.claims ?? 300), mongo: Number(args['mongo-claims'] ?? 40) };
const CONCURRENCY = [1, 8, 32];
const SECTIONS = (
  args.sections ?? 'creates,claims,longpoll,webhooks,http,jobs,memory,ferretdb,unfit,idle,held,reason,metrics,wake'
).split(',');
const ROUNDS = Number(args.rounds ?? (QUICK ? 3 : 5));
/** The sizes of the HTTP rows, full and --quick. */
const HTTP = QUICK
  ? {
      seconds: 1.5,
      connections: 16,
      jobs: 1000,
      pending: Number(args.pending ?? 20_000),
      ferretPending: 200,
      ferretClaims: 40,
    }
  : {
      seconds: 4,
      connections: 16,
      jobs: 4000,
      pending: Number(args.pending ?? 100_000),
      ferretPending: 1000,
      ferretClaims: 60,
    };
const WEBHOOKS = { sqlite: Number(args.webhooks ?? 1000), mongo: Math.min(Number(args.webhooks ?? 200), 200) };

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const fmt = (n, digits = 1) => n.toFixed(digits);

async function openFresh(kind, ferret) {
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-bench-'));
    const store = await openSqliteStore({ path: path.join(dir, 'gyoza.db') });
    return {
      store,
      cleanup: async () => {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const dbName = `bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const store = await openMongoStore({ uri: ferret.uri, dbName });
  return { store, cleanup: () => store.close() };
}

const newRun = (i) =>
  createRun({ image: 'busybox', inputs: { i }, priority: i % 5, constraints: { cpu_cores: 0.001 } }, null, new Date());

async function fill(store, count, concurrency = 16) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = newRun(i);
        await store.runs.createRun(t, t.run.created_at);
      }
    }),
  );
}

async function heartbeatAll(store, n) {
  for (let w = 0; w < n; w++) {
    await store.workers.heartbeat(
      { worker_id: `bench-w${w}`, resources: { cpu_cores: 10_000, ram_mb: 1e9, gpus: [] }, tags: [], running_ops: [] },
      new Date(),
    );
  }
}

async function benchCreates(kind, ferret) {
  const { store, cleanup } = await openFresh(kind, ferret);
  const n = kind === 'sqlite' ? 5000 : 200;
  const t0 = performance.now();
  await fill(store, n, 1);
  const serial = n / ((performance.now() - t0) / 1000);
  const t1 = performance.now();
  await fill(store, n, 16);
  const parallel = n / ((performance.now() - t1) / 1000);
  await cleanup();
  return { serial, parallel };
}

async function benchClaims(kind, ferret, backlog) {
  const { store, cleanup } = await openFresh(kind, ferret);
  await fill(store, backlog + CLAIMS[kind] * 2);
  await heartbeatAll(store, 32);
  const scheduler = new Scheduler({ store });
  const rows = [];
  for (const workers of CONCURRENCY) {
    const latencies = [];
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        while (done < CLAIMS[kind]) {
          done++;
          const s = performance.now();
          await scheduler.claim(`bench-w${w}`, { limit: 1 });
          latencies.push(performance.now() - s);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    rows.push({
      workers,
      perSecond: latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    });
    // Put the backlog back to its size for the next row.
    await fill(store, latencies.length);
  }
  await scheduler.stop();
  await cleanup();
  return rows;
}

async function benchLongPoll(kind, ferret) {
  const { store, cleanup } = await openFresh(kind, ferret);
  await heartbeatAll(store, 1);
  const scheduler = new Scheduler({ store });
  const latencies = [];
  for (let i = 0; i < (kind === 'sqlite' ? 50 : 10); i++) {
    const waiting = scheduler.claim('bench-w0', { waitSeconds: 10 });
    await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    const t = newRun(i);
    await store.runs.createRun(t, t.run.created_at);
    scheduler.notifyRunnable();
    const got = await waiting;
    if (got.length !== 1) throw new Error('long-poll returned nothing');
    latencies.push(performance.now() - t0);
  }
  await scheduler.stop();
  await cleanup();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main() {
  const ferret = STORES.includes('mongo')
    ? args['mongo-uri']
      ? { uri: args['mongo-uri'], stop() {} }
      : await startFerretdb({ logLevel: 'error' })
    : undefined;
  try {
    console.log(
      `gyoza bench — ${os.cpus().length} cores, node ${process.version}; mongo = ${args['mongo-uri'] ? 'MongoDB' : 'FerretDB 1.24 (SQLite handler)'}\n`,
    );
    if (SECTIONS.includes('creates')) console.log('| store | creates/s (1 writer) | creates/s (16 concurrent) |');
    if (SECTIONS.includes('creates')) console.log('|---|---|---|');
    for (const kind of SECTIONS.includes('creates') ? STORES : []) {
      const c = await benchCreates(kind, ferret);
      console.log(`| ${kind} | ${fmt(c.serial, 0)} | ${fmt(c.parallel, 0)} |`);
    }
    if (SECTIONS.includes('claims')) console.log('\n| store | pending | workers | claims/s | p50 ms | p99 ms |');
    if (SECTIONS.includes('claims')) console.log('|---|---|---|---|---|---|');
    for (const kind of SECTIONS.includes('claims') ? STORES : []) {
      for (const backlog of BACKLOGS[kind]) {
        for (const row of await benchClaims(kind, ferret, backlog)) {
          console.log(
            `| ${kind} | ${backlog} | ${row.workers} | ${fmt(row.perSecond, 0)} | ${fmt(row.p50, 2)} | ${fmt(row.p99, 2)} |`,
          );
        }
      }
    }
    if (SECTIONS.includes('longpoll'))
      console.log('\n| store | created -> claimed by a long-polling worker, p50 ms | p99 ms |');
    if (SECTIONS.includes('longpoll')) console.log('|---|---|---|');
    for (const kind of SECTIONS.includes('longpoll') ? STORES : []) {
      const l = await benchLongPoll(kind, ferret);
      console.log(`| ${kind} | ${fmt(l.p50, 2)} | ${fmt(l.p99, 2)} |`);
    }
    if (SECTIONS.includes('webhooks')) {
      console.log(
        '\n| store | webhooks | bare POST loop/s (baseline) | deliveries/s | ratio | event -> receiver p50 ms | p99 ms |',
      );
      console.log('|---|---|---|---|---|---|---|');
      for (const kind of STORES) {
        const { store, cleanup } = await openFresh(kind, ferret);
        try {
          const w = await benchWebhooks(store, WEBHOOKS[kind]);
          console.log(
            `| ${kind} | ${WEBHOOKS[kind]} | ${fmt(w.baselinePerSecond, 0)} | ${fmt(w.perSecond, 0)} | ${fmt(w.perSecond / w.baselinePerSecond, 2)} | ${fmt(w.p50, 1)} | ${fmt(w.p99, 1)} |`,
          );
        } finally {
          await cleanup();
        }
      }
    }
    await httpRows();
    // The claim path's rows (bench-claims.js): unfit backlog, idle long-polls, held runs, pending_reason, /metrics,
    // wake-ups across the processes of a cluster.
    await printClaimRows(SECTIONS, { quick: QUICK, rounds: ROUNDS });
  } finally {
    await ferret?.stop();
  }
}

/** The rows measured against a baseline in the same run (bench-http.js, bench-ferretdb.js). */
async function httpRows() {
  const { benchCreatesVsExpress, benchJobsVsGraphile, benchMemory, spread } = require('./bench-http');
  const { benchFerretdbBackends } = require('./bench-ferretdb');
  const ratios = (rows, a, b) => spread(rows.map((r) => r[a] / r[b]));
  const values = (rows, key, pick = (v) => v) =>
    spread(
      rows.map((r) => pick(r[key])),
      0,
    );
  if (SECTIONS.includes('http')) {
    const rows = await benchCreatesVsExpress({ rounds: ROUNDS, seconds: HTTP.seconds, connections: HTTP.connections });
    console.log(
      `\n| POST /runs, ${HTTP.connections} connections, ${ROUNDS} rounds x ${HTTP.seconds} s | min / median / max |`,
    );
    console.log('|---|---|');
    console.log(`| gyoza (SQLite, logs at info) req/s | ${values(rows, 'gyoza')} |`);
    console.log(`| bare Express 5 app, same JSON, req/s | ${values(rows, 'bare')} |`);
    console.log(`| ratio (goal >= 0.7) | ${ratios(rows, 'gyoza', 'bare')} |`);
  }
  if (SECTIONS.includes('jobs')) {
    const options = { rounds: ROUNDS, jobs: HTTP.jobs, producers: 8, workers: 4, batch: 16 };
    const result = await benchJobsVsGraphile(options);
    console.log(
      `\n| no-op jobs end to end, ${options.jobs} jobs, ${options.producers} producers, ${options.workers} workers, ${ROUNDS} rounds | min / median / max |`,
    );
    console.log('|---|---|');
    if (result.skipped) {
      console.log(`| skipped: ${result.skipped} | |`);
    } else {
      console.log(
        `| gyoza over HTTP (create, claim limit ${options.batch}, STARTED + COMPLETED) jobs/s | ${values(result.rows, 'gyoza')} |`,
      );
      console.log(
        `| graphile-worker (${result.postgres}, concurrency ${options.workers * 4}) jobs/s | ${values(result.rows, 'graphile')} |`,
      );
      console.log(`| ratio (goal >= 1.0) | ${ratios(result.rows, 'gyoza', 'graphile')} |`);
    }
  }
  if (SECTIONS.includes('memory')) {
    const { empty, full } = await benchMemory({ pending: HTTP.pending });
    console.log(`\n| server memory (VmRSS / VmHWM, MB) | empty database | ${HTTP.pending} pending |`);
    console.log('|---|---|---|');
    if (!full) console.log('| skipped: no /proc on this system | | |');
    else
      console.log(
        `| gyoza (SQLite), goal <= 150 MB RSS at 100000 | ${fmt(empty.rss, 0)} / ${fmt(empty.peak, 0)} | ${fmt(full.rss, 0)} / ${fmt(full.peak, 0)} |`,
      );
  }
  if (SECTIONS.includes('ferretdb')) {
    const options = { rounds: ROUNDS, pending: HTTP.ferretPending, claims: HTTP.ferretClaims, workers: 8 };
    const result = await benchFerretdbBackends(options);
    console.log(
      `\n| mongo store on FerretDB, ${options.pending} pending, ${options.workers} workers, ${options.claims} claims x ${ROUNDS} rounds | min / median / max |`,
    );
    console.log('|---|---|');
    if (result.skipped) {
      console.log(`| skipped: ${result.skipped} | |`);
    } else {
      console.log(`| SQLite backend claims/s | ${values(result.rows, 'sqlite', (v) => v.perSecond)} |`);
      console.log(`| PostgreSQL backend claims/s | ${values(result.rows, 'postgres', (v) => v.perSecond)} |`);
      console.log(`| SQLite backend runs assigned/s | ${values(result.rows, 'sqlite', (v) => v.assignedPerSecond)} |`);
      console.log(
        `| PostgreSQL backend runs assigned/s | ${values(result.rows, 'postgres', (v) => v.assignedPerSecond)} |`,
      );
      console.log(`| SQLite backend claim p50 ms | ${values(result.rows, 'sqlite', (v) => v.p50)} |`);
      console.log(`| PostgreSQL backend claim p50 ms | ${values(result.rows, 'postgres', (v) => v.p50)} |`);
      console.log(
        `| ratio PostgreSQL / SQLite | ${spread(result.rows.map((r) => r.postgres.perSecond / r.sqlite.perSecond))} |`,
      );
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
