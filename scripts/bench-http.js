// The HTTP rows of `pnpm bench`: gyoza's server as a separate process (`apps/server/dist/main.js`,
// default settings, logs at info to a pipe this process drains) measured side by side with a
// baseline in the same run, over interleaved rounds:
//   - POST /runs against a bare Express 5 app parsing the same JSON (scripts/bench-bare-express.js);
//   - end-to-end no-op jobs (create, claim, start, complete over HTTP) against graphile-worker
//     on a throwaway PostgreSQL (scripts/postgres.js), when the machine has one;
//   - the server's resident memory with a backlog of pending runs against an empty database.
// The load comes from this process through keep-alive sockets; both sides get the same load.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const ROOT = path.join(__dirname, '..');
const API_KEY = 'bench-key-0123456789abcdef';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A JSON request on a keep-alive agent; resolves to { status, headers, body }. */
function request(agent, port, method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method,
        agent,
        headers: {
          'x-api-key': API_KEY,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : text,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function expectOk(promise, what) {
  const res = await promise;
  if (res.status >= 300) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function waitForHealth(port, child, what) {
  const deadline = Date.now() + 30_000;
  const agent = new http.Agent();
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      if ((await request(agent, port, 'GET', '/health')).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer /health within 30 s`);
}

/** Starts a node script as a child listening on `port`; stop() ends it. */
async function startChild(what, script, env) {
  const port = await freePort();
  const stderr = [];
  // GYOZA_BENCH_NODE_ARGS: node flags for the children, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.GYOZA_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), GYOZA_PORT: String(port), GYOZA_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.resume(); // the request logs: read and dropped, as a log collector would
  child.stderr.on('data', (c) => stderr.push(c));
  try {
    await waitForHealth(port, child, what);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\n${Buffer.concat(stderr).toString()}`);
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    port,
    pid: child.pid,
    /** Resident and peak resident memory in MB, from /proc (undefined elsewhere). */
    memory() {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
        return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
      } catch {
        return undefined;
      }
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** gyoza's server on a SQLite file (fresh unless given); `env` adds to or overrides its settings. */
async function startGyoza(dbPath, env = {}) {
  const dir = dbPath ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-bench-http-'));
  const file = dbPath ?? path.join(dir, 'gyoza.db');
  const server = await startChild('gyoza server', path.join(ROOT, 'apps/server/dist/main.js'), {
    GYOZA_API_KEY: API_KEY,
    GYOZA_DATABASE_URL: `sqlite:${file}`,
    GYOZA_LOG_LEVEL: 'info',
    GYOZA_WORKERS: '1',
    ...env,
  });
  return {
    ...server,
    async stop() {
      await server.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const startBareExpress = () => startChild('bare Express app', path.join(__dirname, 'bench-bare-express.js'), {});

const runBody = (i) => ({
  image: 'busybox',
  inputs: { i, name: 'Ada' },
  priority: i % 5,
  constraints: { cpu_cores: 0.001 },
});

/** `connections` loops POSTing runs for `seconds`; answers per second. */
async function postLoad(port, connections, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let done = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        await expectOk(request(agent, port, 'POST', '/runs', runBody(i++)), 'POST /runs');
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - t0) / 1000);
  agent.destroy();
  return rate;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
/** min / median / max of a list, formatted. */
function spread(values, digits = 2) {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[0].toFixed(digits)} / ${median(sorted).toFixed(digits)} / ${sorted.at(-1).toFixed(digits)}`;
}

/** POST /runs against the bare app, rounds interleaved, each round a ratio. */
async function benchCreatesVsExpress({ rounds, seconds, connections }) {
  const gyoza = await startGyoza();
  const bare = await startBareExpress();
  try {
    // Warm both (JIT, SQLite pages) before the measured rounds.
    await postLoad(gyoza.port, connections, 0.5);
    await postLoad(bare.port, connections, 0.5);
    const rows = [];
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0;
      const a = await postLoad(first ? gyoza.port : bare.port, connections, seconds);
      const b = await postLoad(first ? bare.port : gyoza.port, connections, seconds);
      rows.push(first ? { gyoza: a, bare: b } : { gyoza: b, bare: a });
    }
    return rows;
  } finally {
    await gyoza.stop();
    await bare.stop();
  }
}

/**
 * gyoza end to end: `producers` loops create `jobs` runs over HTTP while `workers` worker
 * loops claim (limit `batch`, long-poll) and report STARTED and COMPLETED for each; jobs/s
 * from the first create to the last completion.
 */
async function gyozaJobs(port, { jobs, producers, workers, batch }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: producers + workers });
  const tag = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
  const ids = Array.from({ length: workers }, (_, w) => `bench-${tag}-w${w}`);
  for (const id of ids) {
    await expectOk(
      request(agent, port, 'POST', '/workers/heartbeat', {
        worker_id: id,
        resources: { cpu_cores: 1024, ram_mb: 1_000_000, gpus: [] },
        running_ops: [],
      }),
      'heartbeat',
    );
  }
  // One report for all of a claim's events where the server has it (the agent's way), else one per event.
  const probe = await request(agent, port, 'POST', `/workers/${ids[0]}/events`, { events: [] });
  const batchEvents = probe.status !== 404;
  let created = 0;
  let completed = 0;
  let lastCompletion;
  const t0 = performance.now();
  const produce = async () => {
    while (created < jobs) {
      created++;
      await expectOk(request(agent, port, 'POST', '/runs', runBody(created)), 'POST /runs');
    }
  };
  const work = async (id) => {
    while (completed < jobs) {
      const { ops } = await expectOk(
        request(agent, port, 'POST', `/workers/${id}/claim?limit=${batch}&wait_seconds=1`),
        'claim',
      );
      if (ops.length === 0) continue;
      const events = ops.flatMap((op) => [
        { run_id: op.id, assignment_id: op.assignment_id, type: 'STARTED', payload: { worker_id: id } },
        { run_id: op.id, assignment_id: op.assignment_id, type: 'COMPLETED', payload: { outputs: {} } },
      ]);
      if (batchEvents) {
        const answer = await expectOk(request(agent, port, 'POST', `/workers/${id}/events`, { events }), 'events');
        const failed = answer.results.find((r) => r.status >= 300);
        if (failed) throw new Error(`event report: ${JSON.stringify(failed)}`);
      } else {
        for (const { run_id, ...event } of events) {
          await expectOk(request(agent, port, 'POST', `/runs/${run_id}/events`, event), 'POST /runs/{id}/events');
        }
      }
      completed += ops.length;
      if (completed >= jobs && lastCompletion === undefined) lastCompletion = performance.now();
    }
  };
  await Promise.all([...Array.from({ length: producers }, produce), ...ids.map((id) => work(id))]);
  // Up to the last completion, as graphile-worker's side measures: the other workers' long-polls
  // that were still waiting for work (up to wait_seconds) end after it and are not counted.
  const rate = jobs / (((lastCompletion ?? performance.now()) - t0) / 1000);
  agent.destroy();
  return rate;
}

/** graphile-worker end to end: the same producers adding jobs, a worker pool running a no-op task. */
async function graphileJobs(utils, connectionString, { jobs, producers, workers }) {
  const { run } = graphileWorker();
  let completed = 0;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const runner = await run({
    connectionString,
    concurrency: workers * 4,
    pollInterval: 1000,
    noHandleSignals: true,
    logger: silentLogger(),
    taskList: {
      noop: async () => {
        if (++completed === jobs) resolveDone();
      },
    },
  });
  let created = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (created < jobs) {
        created++;
        await utils.addJob('noop', { i: created });
      }
    }),
  );
  await done;
  const rate = jobs / ((performance.now() - t0) / 1000);
  await runner.stop();
  return rate;
}

/** Loaded only for its row. A root devDependency (biome's rule does not see the root's for scripts/). */
// biome-ignore lint/correctness/noUndeclaredDependencies: declared in the root package.json's devDependencies
const graphileWorker = () => require('graphile-worker');

function silentLogger() {
  const { Logger } = graphileWorker();
  return new Logger(() => () => {});
}

/** Jobs each side runs, unmeasured, before the rounds (see benchJobsVsGraphile). */
const WARM_JOBS = 5000;

/**
 * End-to-end jobs/s, gyoza against graphile-worker, rounds interleaved. Resolves to
 * `{ skipped }` when there is no PostgreSQL.
 */
async function benchJobsVsGraphile({ rounds, jobs, producers, workers, batch }) {
  const { startPostgres } = require('./postgres');
  const pg = await startPostgres();
  if (pg.reason) return { skipped: pg.reason };
  const gyoza = await startGyoza();
  try {
    const { makeWorkerUtils } = graphileWorker();
    pg.createDatabase('graphile');
    const connectionString = pg.url('graphile');
    const utils = await makeWorkerUtils({ connectionString, logger: silentLogger() });
    await utils.migrate();
    try {
      // Unmeasured, each side: until gyoza's server runs compiled code. Its first ~4,000 jobs
      // after start run 20-30% slower (V8's compiler threads busy beside it on two cores);
      // graphile-worker's are steady after a few hundred. Rounds measure the steady rate.
      const warm = { jobs: Math.max(jobs, WARM_JOBS), producers, workers, batch };
      await gyozaJobs(gyoza.port, warm);
      await graphileJobs(utils, connectionString, warm);
      const rows = [];
      for (let r = 0; r < rounds; r++) {
        const first = r % 2 === 0;
        const options = { jobs, producers, workers, batch };
        const a = first ? await gyozaJobs(gyoza.port, options) : await graphileJobs(utils, connectionString, options);
        const b = first ? await graphileJobs(utils, connectionString, options) : await gyozaJobs(gyoza.port, options);
        rows.push(first ? { gyoza: a, graphile: b } : { gyoza: b, graphile: a });
      }
      return { rows, postgres: pg.version };
    } finally {
      await utils.release();
    }
  } finally {
    await gyoza.stop();
    pg.stop();
  }
}

/**
 * The server's memory with `pending` runs waiting (written through the store, then served:
 * GET /health, /runs, /stats, /metrics, creates and claims by a worker they do not fit)
 * against the same on an empty database.
 */
async function benchMemory({ pending }) {
  const { createRun } = require('../packages/domain');
  const { openSqliteStore } = require('../packages/store-sqlite');
  const measure = async (count) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-bench-rss-'));
    const file = path.join(dir, 'gyoza.db');
    const store = await openSqliteStore({ path: file });
    let next = 0;
    const now = new Date();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < count) {
          const i = next++;
          const t = createRun(
            { image: 'busybox', inputs: { i }, priority: i % 5, constraints: { cpu_cores: 64 } },
            null,
            now,
          );
          await store.runs.createRun(t, now);
        }
      }),
    );
    await store.close();
    const server = await startGyoza(file);
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      await expectOk(
        request(agent, server.port, 'POST', '/workers/heartbeat', {
          worker_id: 'small',
          resources: { cpu_cores: 1, ram_mb: 1024, gpus: [] },
          running_ops: [],
        }),
        'heartbeat',
      );
      for (let i = 0; i < 20; i++) {
        await expectOk(request(agent, server.port, 'GET', '/runs?limit=100'), 'GET /runs');
        await expectOk(request(agent, server.port, 'GET', '/stats'), 'GET /stats');
        await expectOk(request(agent, server.port, 'GET', '/metrics'), 'GET /metrics');
        await expectOk(request(agent, server.port, 'POST', '/workers/small/claim?limit=1'), 'claim');
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            expectOk(request(agent, server.port, 'POST', '/runs', runBody(i * 50 + j)), 'POST /runs'),
          ),
        );
      }
      agent.destroy();
      return server.memory();
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const empty = await measure(0);
  const full = await measure(pending);
  return { empty, full };
}

module.exports = {
  benchCreatesVsExpress,
  benchJobsVsGraphile,
  benchMemory,
  spread,
  median,
  expectOk,
  request,
  startGyoza,
};
