// The claim-path rows of `pnpm bench` (issue 16), each a ratio against a baseline measured in
// the same run, min / median / max over interleaved rounds:
//   unfit   claims/s, 8 workers, limit 1, with 95% of the backlog at top priority needing a GPU
//           no worker has: a large backlog against 1,000 (store and Scheduler in this process);
//   idle    8 long-polling workers waiting over that large unfit backlog: the server's CPU
//           and GET /health latency (the real server as a child process);
//   held    claim and heartbeat latency with 5,000 runs held by the worker against none (the
//           heartbeat as the agent sends it, with its held digest, and listing every id) and a
//           reaper pass (the holder active, nothing to reap);
//   reason  POST /runs with 64 full workers against 64 idle ones (real server);
//   metrics the /metrics run counts at a large history against one ten times smaller;
//   wake    create -> an already-waiting long-poll's answer, GYOZA_WORKERS=2: the create sent
//           to the other process than the long-poll's, and to the same one.
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { createRun, formatHeldDigest, release, runIdHash } = require('../packages/domain');
const { reapOnce, Scheduler } = require('../packages/scheduler');
const { updateRun } = require('../packages/store');
const { openSqliteStore } = require('../packages/store-sqlite');
const { expectOk, request, spread, startGyoza } = require('./bench-http');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

const FIT = { cpu_cores: 1 };
const UNFIT = { gpu_count: 1, vram_mb: 80_000 };
const WORKER = (id, running_ops = []) => ({
  worker_id: id,
  resources: { cpu_cores: 10_000, ram_mb: 1e9, gpus: [{ id: 0, vram_mb: 24_000, tags: [] }] },
  tags: [],
  running_ops,
});

async function openTemp() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gyoza-bench-claims-'));
  const file = path.join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path: file });
  return {
    store,
    file,
    async cleanup() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `count` runs, 95% unfit at priority 9 and 5% fit at priority 0 (or all of one kind). */
async function fillBacklog(store, count, { unfitShare = 0.95 } = {}) {
  const now = new Date();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        const i = next++;
        const unfit = i % 100 < unfitShare * 100;
        const t = createRun(
          { image: 'busybox', inputs: { i }, priority: unfit ? 9 : 0, constraints: unfit ? UNFIT : FIT },
          null,
          now,
        );
        await store.runs.createRun(t, now);
      }
    }),
  );
}

/**
 * `repeat` times `total` claims by 8 workers at once, the claimed runs going back to PENDING
 * after each (untimed): claims/s over the timed parts. The 1,000 baseline has 50 runs that fit,
 * so one burst is short (~10 ms) and a GC pause would decide it: several bursts make a round.
 */
async function claimRound(store, scheduler, total, repeat = 1) {
  let seconds = 0;
  let cpuSeconds = 0;
  let count = 0;
  for (let i = 0; i < repeat; i++) {
    let left = total;
    const claimed = [];
    const start = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        while (left-- > 0) claimed.push(...(await scheduler.claim(`w${w}`, { limit: 1 })));
      }),
    );
    const used = process.cpuUsage(cpu);
    cpuSeconds += (used.user + used.system) / 1e6;
    seconds += (performance.now() - start) / 1000;
    count += claimed.length;
    for (const run of claimed)
      await updateRun(
        store.runs,
        run.id,
        (r) => release(r, {}, new Date()),
        () => new Date(),
      );
  }
  // Claims per CPU second of this process too: other work on a shared machine moves the
  // wall clock of a 100 ms burst, not the CPU the claims themselves take.
  return { wall: count / seconds, cpu: count / cpuSeconds };
}

async function benchUnfit({ rounds, large, claims, repeat }) {
  const sides = [];
  for (const size of [large, 1000]) {
    const temp = await openTemp();
    await fillBacklog(temp.store, size);
    for (let w = 0; w < 8; w++) await temp.store.workers.heartbeat(WORKER(`w${w}`), new Date());
    sides.push({ ...temp, scheduler: new Scheduler({ store: temp.store }) });
  }
  const rows = [];
  const burst = (side) => claimRound(side.store, side.scheduler, Math.min(claims, 40), repeat);
  try {
    // Untimed: the first claims of a process compile the claim path, which would count
    // against whichever side goes first.
    for (const side of sides) await burst(side);
    for (let r = 0; r < rounds; r++) {
      // Each side first every other round: the machine's drift falls on both alike.
      const row = {};
      for (const name of r % 2 === 0 ? ['big', 'small'] : ['small', 'big']) {
        row[name] = await burst(name === 'big' ? sides[0] : sides[1]);
      }
      rows.push(row);
    }
  } finally {
    for (const side of sides) await side.cleanup();
  }
  return rows;
}

/** CPU seconds the process has used, from /proc. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime + stime, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** GET /health every 20 ms for `seconds`: the server's CPU % over that time and the latencies. */
async function probeHealth(server, seconds) {
  const health = [];
  const healthAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    await request(healthAgent, server.port, 'GET', '/health');
    health.push(performance.now() - s);
    await new Promise((r) => setTimeout(r, 20));
  }
  const cpu = ((cpuSeconds(server.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
  healthAgent.destroy();
  return { cpu, p50: percentile(health, 50), p99: percentile(health, 99) };
}

/** The idle long-polls, and the same probe against an empty server without them (the probe's own cost). */
async function benchIdle({ large, seconds }) {
  const empty = await startGyoza();
  let baseline;
  try {
    await new Promise((r) => setTimeout(r, 500));
    baseline = await probeHealth(empty, seconds);
  } finally {
    await empty.stop();
  }
  const temp = await openTemp();
  await fillBacklog(temp.store, large, { unfitShare: 1 });
  await temp.store.close();
  const server = await startGyoza(temp.file);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const stopping = new AbortController();
  try {
    for (let w = 0; w < 8; w++)
      await expectOk(request(agent, server.port, 'POST', '/workers/heartbeat', WORKER(`w${w}`)), 'heartbeat');
    const polls = Array.from({ length: 8 }, async (_, w) => {
      while (!stopping.signal.aborted) {
        await request(agent, server.port, 'POST', `/workers/w${w}/claim?limit=1&wait_seconds=2`).catch(() => undefined);
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    const measured = await probeHealth(server, seconds);
    stopping.abort();
    await server.stop();
    await Promise.allSettled(polls);
    return { ...measured, baseline };
  } finally {
    stopping.abort();
    agent.destroy();
    await server.stop().catch(() => undefined);
    fs.rmSync(path.dirname(temp.file), { recursive: true, force: true });
  }
}

async function benchHeld({ rounds, held, samples }) {
  const sides = [];
  for (const count of [held, 0]) {
    const temp = await openTemp();
    const scheduler = new Scheduler({ store: temp.store });
    await temp.store.workers.heartbeat(WORKER('w'), new Date());
    await fillBacklog(temp.store, count + samples * rounds * 2 + 100, { unfitShare: 0 });
    const ops = [];
    while (ops.length < count) ops.push(...(await scheduler.claim('w', { limit: 100 })).map((r) => r.id));
    // The agent keeps its digest as runs come and go: XOR in each id's hash once.
    const held = { xor: 0n, add: (id) => (held.xor ^= runIdHash(id)) };
    for (const id of ops) held.add(id);
    sides.push({ ...temp, scheduler, ops, held });
  }
  const rows = [];
  const time = async (fn) => {
    const s = performance.now();
    await fn();
    return performance.now() - s;
  };
  try {
    for (let r = 0; r < rounds; r++) {
      const row = {};
      for (const [name, side] of [
        ['held', sides[0]],
        ['none', sides[1]],
      ]) {
        const claim = [];
        const beat = [];
        const list = [];
        const { running_ops: _list, ...byDigest } = WORKER('w');
        for (let i = 0; i < samples; i++) {
          claim.push(
            await time(async () => {
              const [run] = await side.scheduler.claim('w', { limit: 1 });
              side.ops.push(run.id);
              side.held.add(run.id);
            }),
          );
          const heldDigest = formatHeldDigest(side.ops.length, side.held.xor);
          beat.push(
            await time(async () => {
              const { digest } = await side.scheduler.heartbeat(byDigest, { heldDigest });
              if (digest.running_ops_wanted) throw new Error('the held digests differ');
            }),
          );
        }
        // After the digest heartbeats: each heartbeat's own write is then what a steady agent of
        // its kind causes (a listing one rewrites the stored list that a digest one clears).
        for (let i = 0; i < samples; i++) {
          list.push(await time(() => side.scheduler.heartbeat(WORKER('w', side.ops))));
        }
        const reap = [];
        for (let i = 0; i < samples; i++) {
          const options = { store: side.store, now: new Date(), holderId: 'bench', workerTimeoutSeconds: 3600 };
          reap.push(await time(() => reapOnce({ ...options, leaseTtlMs: 60_000 })));
        }
        row[name] = { claim: median(claim), beat: median(beat), list: median(list), reap: median(reap) };
      }
      rows.push(row);
    }
  } finally {
    for (const side of sides) await side.cleanup();
  }
  return rows;
}

async function createRate(port, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let done = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) {
        const body = { image: 'busybox', inputs: { i: i++ }, constraints: { cpu_cores: 1 } };
        await expectOk(request(agent, port, 'POST', '/runs', body), 'POST /runs');
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((performance.now() - start) / 1000);
}

async function benchReason({ rounds, seconds }) {
  const sides = [];
  for (const full of [true, false]) {
    const server = await startGyoza();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    for (let w = 0; w < 64; w++) {
      const beat = { ...WORKER(`w${w}`), resources: { cpu_cores: 1, ram_mb: 1024, gpus: [] } };
      await expectOk(request(agent, server.port, 'POST', '/workers/heartbeat', beat), 'heartbeat');
      if (full) {
        await expectOk(
          request(agent, server.port, 'POST', '/runs', { image: 'busybox', constraints: FIT }),
          'POST /runs',
        );
        await expectOk(request(agent, server.port, 'POST', `/workers/w${w}/claim?limit=1`), 'claim');
      }
    }
    agent.destroy();
    sides.push(server);
  }
  const rows = [];
  try {
    for (let r = 0; r < rounds; r++) {
      rows.push({ full: await createRate(sides[0].port, seconds), idle: await createRate(sides[1].port, seconds) });
    }
  } finally {
    for (const server of sides) await server.stop();
  }
  return rows;
}

async function benchMetrics({ rounds, large, samples }) {
  const sides = [];
  for (const size of [large, large / 10]) {
    const temp = await openTemp();
    await fillBacklog(temp.store, size, { unfitShare: 0.5 });
    sides.push(temp);
  }
  const rows = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const row = [];
      for (const side of sides) {
        const times = [];
        for (let i = 0; i < samples; i++) {
          const s = performance.now();
          await side.store.runs.countRunsByState();
          await side.store.workers.listWorkers('active');
          times.push(performance.now() - s);
        }
        row.push(median(times));
      }
      rows.push({ large: row[0], small: row[1] });
    }
  } finally {
    for (const side of sides) await side.cleanup();
  }
  return rows;
}

/**
 * A cluster of 2 processes: a long-poll waits on a connection served by one process, then a
 * run is created through a connection served by the other (or the same) one; the time from
 * sending the create to the long-poll's answer. Which process serves a connection is read from
 * the `x-request-id` it answers (`<pid>-…`).
 */
async function benchWake({ samples }) {
  const server = await startGyoza(undefined, { GYOZA_WORKERS: '2' });
  const agents = [];
  try {
    const pidOf = (res) => String(res.headers['x-request-id'] ?? '').split('-')[0];
    const byPid = new Map();
    // The second process may still be starting: new connections until each has two.
    for (let i = 0; i < 200 && [...byPid.values()].filter((list) => list.length >= 2).length < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const pid = pidOf(await request(agent, server.port, 'GET', '/workers'));
      byPid.set(pid, [...(byPid.get(pid) ?? []), agent]);
      await new Promise((r) => setTimeout(r, 10));
    }
    const pids = [...byPid.keys()];
    if (pids.length < 2 || byPid.get(pids[0]).length < 2) {
      throw new Error(`could not reach both server processes (${pids.join(', ')})`);
    }
    const [poll, same] = byPid.get(pids[0]);
    const [other] = byPid.get(pids[1]);
    await expectOk(request(poll, server.port, 'POST', '/workers/heartbeat', WORKER('w')), 'heartbeat');
    const measure = async (creator) => {
      const latencies = [];
      for (let i = 0; i < samples; i++) {
        const waiting = request(poll, server.port, 'POST', '/workers/w/claim?limit=1&wait_seconds=10');
        await new Promise((r) => setTimeout(r, 30));
        const t0 = performance.now();
        await expectOk(
          request(creator, server.port, 'POST', '/runs', { image: 'busybox', constraints: { cpu_cores: 0.001 } }),
          'POST /runs',
        );
        const claimed = await expectOk(waiting, 'claim');
        latencies.push(performance.now() - t0);
        // The worker keeps what it took: it has room for thousands.
        if (claimed.ops.length !== 1) throw new Error('the long-poll answered without the run');
      }
      return latencies;
    };
    const rows = { other: [], same: [] };
    // Interleaved: the machine's load falls on both alike.
    for (let round = 0; round < 4; round++) {
      rows.other.push(...(await measure(other)));
      rows.same.push(...(await measure(same)));
    }
    return rows;
  } finally {
    for (const agent of agents) agent.destroy();
    await server.stop();
  }
}

/** Prints the sections asked for (`unfit`, `idle`, `held`, `reason`, `metrics`, `wake`). */
async function printClaimRows(sections, { quick, rounds }) {
  const large = quick ? 20_000 : 100_000;
  const ratios = (rows, a, b) => spread(rows.map((r) => a(r) / b(r)));
  const values = (rows, pick) => spread(rows.map(pick));
  if (sections.includes('unfit')) {
    const rows = await benchUnfit({ rounds, large, claims: 40, repeat: quick ? 5 : 10 });
    console.log(
      `\n| claims/s, 8 workers, limit 1, 95% unfit at top priority, ${rounds} rounds of ${quick ? 5 : 10} x 40 claims | min / median / max |`,
    );
    console.log('|---|---|');
    console.log(`| ${large} pending | ${values(rows, (r) => r.big.wall)} |`);
    console.log(`| 1000 pending (baseline) | ${values(rows, (r) => r.small.wall)} |`);
    console.log(
      `| ratio (goal >= 0.9) | ${ratios(
        rows,
        (r) => r.big.wall,
        (r) => r.small.wall,
      )} |`,
    );
    console.log(
      `| claims per CPU second of the process, ${large} / 1000 | ${values(rows, (r) => r.big.cpu)} / ${values(rows, (r) => r.small.cpu)} |`,
    );
    console.log(
      `| ratio per CPU second | ${ratios(
        rows,
        (r) => r.big.cpu,
        (r) => r.small.cpu,
      )} |`,
    );
  }
  if (sections.includes('idle')) {
    const r = await benchIdle({ large, seconds: quick ? 2 : 5 });
    console.log(`\n| 8 idle long-polls over ${large} unfit runs (server process) | value |`);
    console.log('|---|---|');
    console.log(`| server CPU % (goal <= 5) | ${r.cpu.toFixed(1)} |`);
    console.log(`| GET /health p50 / p99 ms (goal p50 <= 2) | ${r.p50.toFixed(2)} / ${r.p99.toFixed(2)} |`);
    console.log(`| the same probe, empty server without long-polls: CPU % | ${r.baseline.cpu.toFixed(1)} |`);
    console.log(
      `| the same probe, empty server: GET /health p50 / p99 ms | ${r.baseline.p50.toFixed(2)} / ${r.baseline.p99.toFixed(2)} |`,
    );
  }
  if (sections.includes('held')) {
    const held = quick ? 1000 : 5000;
    const rows = await benchHeld({ rounds, held, samples: quick ? 10 : 20 });
    console.log(`\n| ${held} runs held by the worker vs none, ${rounds} rounds (median ms) | min / median / max |`);
    console.log('|---|---|');
    console.log(
      `| claim ms, held / none | ${values(rows, (r) => r.held.claim)} / ${values(rows, (r) => r.none.claim)} |`,
    );
    console.log(
      `| claim ratio (goal <= 1.5) | ${ratios(
        rows,
        (r) => r.held.claim,
        (r) => r.none.claim,
      )} |`,
    );
    console.log(
      `| heartbeat ms (held digest, as the agent sends it), held / none | ${values(rows, (r) => r.held.beat)} / ${values(rows, (r) => r.none.beat)} |`,
    );
    console.log(
      `| heartbeat ratio (goal <= 1.5) | ${ratios(
        rows,
        (r) => r.held.beat,
        (r) => r.none.beat,
      )} |`,
    );
    console.log(
      `| heartbeat ms listing every id (older agents), held / none | ${values(rows, (r) => r.held.list)} / ${values(rows, (r) => r.none.list)} |`,
    );
    console.log(
      `| reaper pass ms, held / none | ${values(rows, (r) => r.held.reap)} / ${values(rows, (r) => r.none.reap)} |`,
    );
    console.log(
      `| reaper pass ratio | ${ratios(
        rows,
        (r) => r.held.reap,
        (r) => r.none.reap,
      )} |`,
    );
    console.log(
      `| listing heartbeat ratio | ${ratios(
        rows,
        (r) => r.held.list,
        (r) => r.none.list,
      )} |`,
    );
  }
  if (sections.includes('reason')) {
    const rows = await benchReason({ rounds, seconds: quick ? 1 : 3 });
    console.log(`\n| POST /runs req/s, 64 workers, 16 connections, ${rounds} rounds | min / median / max |`);
    console.log('|---|---|');
    console.log(`| 64 full workers | ${values(rows, (r) => r.full)} |`);
    console.log(`| 64 idle workers (baseline) | ${values(rows, (r) => r.idle)} |`);
    console.log(
      `| ratio (goal >= 0.9) | ${ratios(
        rows,
        (r) => r.full,
        (r) => r.idle,
      )} |`,
    );
  }
  if (sections.includes('metrics')) {
    const rows = await benchMetrics({ rounds, large, samples: 20 });
    console.log(`\n| /metrics run counts + workers, median ms, ${rounds} rounds | min / median / max |`);
    console.log('|---|---|');
    console.log(
      `| ${large} runs / ${large / 10} runs | ${values(rows, (r) => r.large)} / ${values(rows, (r) => r.small)} |`,
    );
    console.log(
      `| ratio (goal: flat, ~1) | ${ratios(
        rows,
        (r) => r.large,
        (r) => r.small,
      )} |`,
    );
  }
  if (sections.includes('wake')) {
    const rows = await benchWake({ samples: quick ? 5 : 40 });
    console.log('\n| create -> already-waiting long-poll, GYOZA_WORKERS=2 (ms) | p50 | p99 | p90 / max, samples |');
    console.log('|---|---|---|---|');
    for (const [name, key] of [
      ['created in the other process (goal <= 5 / 20)', 'other'],
      ['created in the same process', 'same'],
    ]) {
      const at = (p) => percentile(rows[key], p).toFixed(2);
      const max = Math.max(...rows[key]).toFixed(2);
      console.log(`| ${name} | ${at(50)} | ${at(99)} | ${at(90)} / ${max}, ${rows[key].length} |`);
    }
  }
}

module.exports = { printClaimRows };
