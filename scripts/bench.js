#!/usr/bin/env node
// `pnpm bench` (after `pnpm build`): store and scheduler throughput and latency on this
// machine, for the SQLite store and the MongoDB adapter on FerretDB. Prints tables.
//   node scripts/bench.js [--stores sqlite,mongo] [--backlogs 1000,10000,100000] [--claims 300]
//     [--sections creates,claims,longpoll,webhooks] [--webhooks 1000]
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');
const { createRun } = require('../packages/domain');
const { Scheduler } = require('../packages/scheduler');
const { benchWebhooks } = require('./bench-webhooks');
const { openSqliteStore } = require('../packages/store-sqlite');
const { openMongoStore } = require('../packages/store-mongo');
const { startFerretdb } = require('./ferretdb');

const { values: args } = parseArgs({
  options: Object.fromEntries(
    ['stores', 'backlogs', 'claims', 'mongo-backlogs', 'mongo-claims', 'mongo-uri', 'sections', 'webhooks'].map(
      (name) => [name, { type: 'string' }],
    ),
  ),
});
const STORES = (args.stores ?? 'sqlite,mongo').split(',');
// FerretDB 1.x (the only MongoDB-wire server here) filters and sorts in its own process
// instead of using indexes, so every query reads whole collections: its rows are kept
// small by default. Point --mongo-uri at a real MongoDB for meaningful Mongo figures.
const BACKLOGS = {
  sqlite: (args.backlogs ?? '1000,10000,100000').split(',').map(Number),
  mongo: (args['mongo-backlogs'] ?? '1000').split(',').map(Number),
};
const CLAIMS = { sqlite: Number(args.claims ?? 300), mongo: Number(args['mongo-claims'] ?? 40) };
const CONCURRENCY = [1, 8, 32];
const SECTIONS = (args.sections ?? 'creates,claims,longpoll,webhooks').split(',');
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
  } finally {
    await ferret?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
