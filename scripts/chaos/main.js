#!/usr/bin/env node
// `pnpm chaos` (after `pnpm build`): fault scenarios against real server processes (1 and 2,
// SQLite and MongoDB on FerretDB), scripted workers over HTTP and the real agent, then the
// invariants over the whole database (docs/guarantees.md). Prints a table of scenarios x
// invariants (violations / checks) and exits 1 when any invariant was violated.
//   node scripts/chaos/main.js [--quick] [--only name,name]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { GyozaClient } = require('../../packages/client');
const { openMongoStore } = require('../../packages/store-mongo');
const { openSqliteStore } = require('../../packages/store-sqlite');
const { startFerretdb } = require('../ferretdb');
const {
  API_KEY,
  AgentProcess,
  ClaimCuttingProxy,
  ScriptedWorker,
  ServerProcess,
  delay,
  freePort,
  waitFor,
} = require('./cluster');
const { INVARIANTS, StrandingMonitor, checkInvariants } = require('./invariants');

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' } } });
const QUICK = Boolean(args.quick);
const TIMEOUT_S = 3;
const HEARTBEAT_MS = 1000;
// One timeout plus one heartbeat, and a second for sampling and the reaper's period.
const STRANDING_BOUND_MS = TIMEOUT_S * 1000 + HEARTBEAT_MS + 1000;
const AGENT_IMAGE = 'gyoza-chaos-sh:latest';

/** Submits runs with an Idempotency-Key, retrying through outages; records each acknowledged id. */
async function submit(client, count, body, acknowledged, spacingMs = 20) {
  for (let i = 0; i < count; i++) {
    const key = `chaos-${process.pid}-${Date.now()}-${i}-${Math.random()}`;
    for (let tries = 0; ; tries++) {
      try {
        const run = await client.createRun(body, { idempotencyKey: key });
        acknowledged.add(run.id);
        break;
      } catch (error) {
        if (error.status && error.status < 500) throw error;
        if (tries > 600) throw new Error('could not submit a run for a minute');
        await delay(100);
      }
    }
    await delay(spacingMs);
  }
}

/** Waits until every acknowledged run is finished for good (or `done` says so); answers how many are not. */
async function settle(client, acknowledged, done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let open = [...acknowledged];
  while (Date.now() < deadline) {
    const still = [];
    for (const id of open) {
      const run = await client.getRun(id).catch(() => undefined);
      if (!run || !done(run)) still.push(id);
    }
    open = still;
    if (open.length === 0) return 0;
    await delay(500);
  }
  return open.length;
}

const finished = (run) =>
  run.state === 'COMPLETED' || run.state === 'CANCELLED' || (run.state === 'FAILED' && run.not_before === undefined);

/** A fresh database: a SQLite file, or a database on the shared FerretDB. */
async function database(kind, name, ferret) {
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gyoza-chaos-${name}-`));
    const file = path.join(dir, 'gyoza.db');
    return {
      url: `sqlite:${file}`,
      open: () => openSqliteStore({ path: file }),
      remove: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const dbName = `chaos_${name.replace(/[^a-z0-9]/gi, '_')}_${Date.now()}`;
  const url = `${ferret.uri}${dbName}`;
  return { url, open: () => openMongoStore({ uri: url, dbName }), remove: () => undefined };
}

/** Runs one scenario on its own server and database; answers its row of the table. */
async function runScenario(scenario, ferret) {
  const started = Date.now();
  const db = await database(scenario.store, scenario.name, ferret);
  const server = new ServerProcess({
    port: await freePort(),
    databaseUrl: db.url,
    processes: scenario.processes,
    timeoutSeconds: TIMEOUT_S,
  });
  await server.start();
  const client = new GyozaClient({ baseUrl: server.url, apiKey: API_KEY, retries: 0 });
  const monitor = new StrandingMonitor(client, STRANDING_BOUND_MS, TIMEOUT_S * 1000);
  monitor.start();
  const ctx = { server, client, acknowledged: new Set(), executions: [], workers: [], info: {} };
  let unsettled = 0;
  let error;
  try {
    unsettled = await scenario.run(ctx);
  } catch (e) {
    error = e;
  } finally {
    await monitor.stop();
    for (const w of ctx.workers) await w.stop();
  }
  const store = await db.open();
  const { result, events } = await checkInvariants(store, {
    acknowledged: ctx.acknowledged,
    executions: ctx.executions,
    monitor,
  });
  if (scenario.expect) scenario.expect(ctx, events, result);
  const takenBack = [...events.values()].flat().filter((e) => e.type === 'UNASSIGNED' || e.type === 'WORKER_LOST');
  await store.close();
  await server.kill();
  db.remove();
  return {
    name: scenario.name,
    setup: `${scenario.store}/${scenario.processes}p`,
    result,
    runs: ctx.acknowledged.size,
    unsettled,
    takenBack: takenBack.length,
    info: ctx.info,
    error,
    seconds: (Date.now() - started) / 1000,
    worstUnlistedMs: monitor.worst,
  };
}

function scripted(ctx, id, url, options = {}) {
  const worker = new ScriptedWorker({
    id,
    url: url ?? ctx.server.url,
    heartbeatMs: HEARTBEAT_MS,
    runMs: 300,
    executions: ctx.executions,
    ...options,
  }).start();
  ctx.workers.push(worker);
  return worker;
}

const N = QUICK ? 40 : 150;
const RUN = { image: 'busybox', constraints: { cpu_cores: 1, ram_mb: 256 }, retry_policy: { max_attempts: 5 } };

const SCENARIOS = [
  ...[
    ['sqlite', 1],
    ['mongo', 2],
  ].map(([store, processes]) => ({
    name: 'kill-9-server',
    store,
    processes,
    async run(ctx) {
      for (const id of ['s1', 's2', 's3']) scripted(ctx, id);
      const submitting = submit(ctx.client, N, RUN, ctx.acknowledged);
      for (let kill = 0; kill < 2; kill++) {
        await delay(1500);
        await ctx.server.kill();
        await ctx.server.start();
      }
      await submitting;
      return settle(ctx.client, ctx.acknowledged, finished, 60_000);
    },
  })),
  {
    name: 'outage-past-timeout',
    store: 'sqlite',
    processes: 2,
    async run(ctx) {
      for (const id of ['o1', 'o2']) scripted(ctx, id, undefined, { runMs: 6000 });
      await submit(ctx.client, 8, RUN, ctx.acknowledged);
      await waitFor('runs to start', async () => {
        const page = await ctx.client.listRuns({ state: 'RUNNING' });
        return page.runs.length >= 4 ? true : undefined;
      });
      await ctx.server.kill();
      await delay(TIMEOUT_S * 2000); // down for two worker timeouts
      await ctx.server.start();
      return settle(ctx.client, ctx.acknowledged, finished, 60_000);
    },
    expect(ctx, events, result) {
      // Live workers lose nothing to the outage (restart grace).
      const lost = [...events.values()].flat().filter((e) => e.type === 'WORKER_LOST').length;
      ctx.info.lost = lost;
      if (lost > 0) {
        result['not-stranded'].violations += lost;
        result['not-stranded'].detail.push(`${lost} runs of live workers failed as WORKER_LOST after the outage`);
      }
    },
  },
  ...[
    ['sqlite', 1],
    ['mongo', 1],
  ].map(([store, processes]) => ({
    name: 'dropped-claim-answers',
    store,
    processes,
    quick: store === 'sqlite',
    async run(ctx) {
      const proxy = new ClaimCuttingProxy(ctx.server.port, 0.3);
      await proxy.start();
      try {
        for (const id of ['d1', 'd2', 'd3']) scripted(ctx, id, proxy.url);
        await submit(ctx.client, N, RUN, ctx.acknowledged);
        return await settle(ctx.client, ctx.acknowledged, finished, 90_000);
      } finally {
        ctx.info.dropped = proxy.dropped;
        for (const w of ctx.workers.splice(0)) await w.stop();
        await proxy.stop();
      }
    },
  })),
  {
    name: 'worker-restart-same-id',
    store: 'mongo',
    processes: 1,
    async run(ctx) {
      let worker = scripted(ctx, 'r1', undefined, { runMs: 800 });
      scripted(ctx, 'r2', undefined, { runMs: 800 });
      const submitting = submit(ctx.client, N, RUN, ctx.acknowledged);
      for (let i = 0; i < 3; i++) {
        await delay(1200);
        worker.crash(); // forgets its runs, reports nothing
        worker = scripted(ctx, 'r1', undefined, { runMs: 800 });
      }
      await submitting;
      return settle(ctx.client, ctx.acknowledged, finished, 60_000);
    },
  },
  {
    name: 'absurd-retry-policies',
    store: 'sqlite',
    processes: 1,
    async run(ctx) {
      const refused = [
        { max_attempts: 100_000 },
        { max_attempts: 100, backoff_seconds: 1e12 },
        { max_attempts: 100, backoff_multiplier: 1e6 },
        { max_attempts: 100, max_backoff_seconds: -1 },
      ];
      ctx.info.refused = 0;
      for (const retry_policy of refused) {
        await ctx.client.createRun({ ...RUN, retry_policy }).catch((e) => {
          if (e.status === 400) ctx.info.refused += 1;
        });
      }
      // At the limits: the first failure schedules a retry a week ahead; the reaper goes on.
      const atLimits = { max_attempts: 1000, backoff_seconds: 604_800, backoff_multiplier: 100 };
      await submit(ctx.client, 10, { ...RUN, retry_policy: atLimits }, ctx.acknowledged);
      await submit(ctx.client, N / 2, { ...RUN, retry_policy: { max_attempts: 20 } }, ctx.acknowledged);
      for (const id of ['a1', 'a2']) scripted(ctx, id, undefined, { failShare: 0.4, runMs: 100 });
      const waiting = (run) => finished(run) || (run.state === 'FAILED' && run.retry_policy.backoff_seconds > 3600);
      return settle(ctx.client, ctx.acknowledged, waiting, 60_000);
    },
    expect(ctx, _events, result) {
      if (ctx.info.refused !== 4) {
        result.acknowledged.violations += 1;
        result.acknowledged.detail.push(`only ${ctx.info.refused} of 4 absurd policies were refused`);
      }
    },
  },
  {
    name: 'real-agent-kill-9-restart',
    store: 'sqlite',
    processes: 1,
    async run(ctx) {
      prepareAgentImage();
      const script = 'for i in 1 2 3 4; do echo "::gyoza progress $((i*25))"; sleep 0.5; done';
      const body = { ...RUN, image: AGENT_IMAGE, inputs: { script }, constraints: { cpu_cores: 0.5, ram_mb: 64 } };
      await submit(ctx.client, QUICK ? 6 : 16, body, ctx.acknowledged);
      let agent = new AgentProcess({ id: 'agent-1', url: ctx.server.url }).start();
      await waitFor('the agent to run ops', async () => {
        const page = await ctx.client.listRuns({ state: 'RUNNING' });
        return page.runs.length > 0 ? true : undefined;
      });
      await agent.kill('SIGKILL');
      agent = new AgentProcess({ id: 'agent-1', url: ctx.server.url }).start();
      try {
        return await settle(ctx.client, ctx.acknowledged, finished, 90_000);
      } finally {
        await agent.kill('SIGTERM');
      }
    },
    expect(ctx, events) {
      // Settled through reconciliation at the new agent's start, not by eviction.
      ctx.info.settledBy = [...events.values()]
        .flat()
        .filter((e) => e.type === 'WORKER_LOST' || e.type === 'UNASSIGNED')
        .map((e) => e.msg)
        .filter((msg) => msg?.includes('did not list')).length;
    },
  },
];

let imageReady = false;
function prepareAgentImage() {
  if (imageReady) return;
  const base = execFileSync('docker', ['create', 'gyoza-busybox:latest', 'sh'], { encoding: 'utf8' }).trim();
  execFileSync(
    'docker',
    ['commit', '--change', 'CMD ["sh", "-c", "eval \\"$GYOZA_INPUT_SCRIPT\\""]', base, AGENT_IMAGE],
    {
      stdio: 'ignore',
    },
  );
  execFileSync('docker', ['rm', base], { stdio: 'ignore' });
  imageReady = true;
}

function printTable(rows) {
  const header = [
    'scenario',
    'setup',
    ...INVARIANTS,
    'runs',
    'unsettled',
    'taken back',
    'worst unlisted',
    'notes',
    's',
  ];
  const lines = rows.map((row) => [
    row.name,
    row.setup,
    ...INVARIANTS.map((name) => `${row.result[name].violations}/${row.result[name].checks}`),
    String(row.runs),
    String(row.unsettled),
    String(row.takenBack),
    `${(row.worstUnlistedMs / 1000).toFixed(1)}s`,
    Object.entries(row.info)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    row.seconds.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(format(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const line of lines) console.log(format(line));
  console.log(
    `\ncells: violations/checks. not-stranded bound: ${STRANDING_BOUND_MS / 1000}s (worker timeout ${TIMEOUT_S}s + heartbeat ${HEARTBEAT_MS / 1000}s + 1s sampling).`,
  );
}

async function main() {
  const only = args.only?.split(',');
  const chosen = SCENARIOS.filter((s) => (only ? only.includes(s.name) : !QUICK || s.quick !== false));
  const ferret = chosen.some((s) => s.store === 'mongo') ? await startFerretdb() : undefined;
  const rows = [];
  try {
    for (const scenario of chosen) {
      process.stderr.write(`chaos: ${scenario.name} (${scenario.store}, ${scenario.processes} process(es))\n`);
      rows.push(await runScenario(scenario, ferret));
    }
  } finally {
    await ferret?.stop();
  }
  printTable(rows);
  let failed = false;
  for (const row of rows) {
    if (row.error) {
      failed = true;
      console.log(`${row.name} (${row.setup}): ${row.error.stack ?? row.error}`);
    }
    if (row.unsettled > 0) {
      failed = true;
      console.log(`${row.name} (${row.setup}): ${row.unsettled} runs never finished`);
    }
    for (const name of INVARIANTS) {
      for (const text of row.result[name].detail) console.log(`${row.name} (${row.setup}) ${name}: ${text}`);
      if (row.result[name].violations > 0) failed = true;
    }
  }
  console.log(failed ? 'chaos: invariants violated' : 'chaos: every invariant held');
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
