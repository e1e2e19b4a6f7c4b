// The invariants a chaos scenario must keep, checked over the whole database afterwards
// (and, for stranding, sampled over HTTP while the scenario runs).

const HELD = ['ASSIGNED', 'RUNNING'];
const ENDS_AN_EXECUTION = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'UNASSIGNED', 'WORKER_LOST', 'TIMED_OUT']);
const INVARIANTS = ['acknowledged', 'not-stranded', 'no-double-run', 'capacity', 'gapless-events'];

async function allRuns(store) {
  const runs = [];
  let cursor;
  do {
    const page = await store.runs.listRuns({ limit: 1000, cursor });
    runs.push(...page.runs);
    cursor = page.next_cursor;
  } while (cursor);
  return runs;
}

/**
 * Samples, while the server answers, how long each held run (by assignment) has been on a
 * worker that does not list it: a worker lists a run when its last heartbeat, at most one
 * timeout old, named it. Time while the server is down does not count (restart grace).
 */
class StrandingMonitor {
  constructor(client, boundMs, timeoutMs) {
    Object.assign(this, { client, boundMs, timeoutMs, unlistedSince: new Map(), worst: 0, violations: new Set() });
    this.checks = 0;
  }

  start() {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.sample().catch(() => this.unlistedSince.clear());
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
  }

  async stop() {
    this.running = false;
    await this.loop;
  }

  async sample() {
    const held = [];
    for await (const run of this.client.iterateRuns({ state: HELD, limit: 1000 })) held.push(run);
    const workers = new Map((await this.client.listWorkers()).map((w) => [w.id, w]));
    const now = Date.now();
    const seen = new Set();
    for (const run of held) {
      const key = `${run.id}/${run.assignment_id}`;
      seen.add(key);
      this.checks += 1;
      const worker = workers.get(run.worker_id);
      const listed =
        worker &&
        worker.status === 'active' &&
        now - Date.parse(worker.last_heartbeat_at) <= this.timeoutMs &&
        worker.running_ops.includes(run.id);
      if (listed) {
        this.unlistedSince.delete(key);
        continue;
      }
      const since = this.unlistedSince.get(key) ?? now;
      this.unlistedSince.set(key, since);
      this.worst = Math.max(this.worst, now - since);
      if (now - since > this.boundMs) this.violations.add(key);
    }
    for (const key of this.unlistedSince.keys()) if (!seen.has(key)) this.unlistedSince.delete(key);
  }
}

/** Every invariant over the database; each answers {checks, violations, detail[]}. */
async function checkInvariants(store, { acknowledged, executions, monitor }) {
  const runs = await allRuns(store);
  const byId = new Map(runs.map((r) => [r.id, r]));
  const result = Object.fromEntries(INVARIANTS.map((name) => [name, { checks: 0, violations: 0, detail: [] }]));
  const fail = (name, text) => {
    result[name].violations += 1;
    if (result[name].detail.length < 5) result[name].detail.push(text);
  };

  for (const id of acknowledged) {
    result.acknowledged.checks += 1;
    if (!byId.has(id)) fail('acknowledged', `${id} was acknowledged but is not stored`);
  }

  result['not-stranded'].checks = monitor.checks;
  for (const key of monitor.violations) fail('not-stranded', `${key} unlisted past the bound`);

  const events = new Map();
  for (const run of runs) {
    const list = await store.runs.listEvents(run.id, { limit: 100_000 });
    events.set(run.id, list);
    result['gapless-events'].checks += 1;
    list.forEach((e, i) => {
      if (e.index !== i + 1) fail('gapless-events', `${run.id}: event ${i + 1} has index ${e.index}`);
    });
    // The log replayed in index order: a STARTED while one runs, or an ASSIGNED while the run is
    // still held, is a double run, or a log whose events are out of their transitions' order.
    const trail = () =>
      list.map((x) => `${x.index}:${x.type}@${x.attempt}${x.payload?.worker_id ? `/${x.payload.worker_id}` : ''}`);
    let open = false;
    let held = false;
    for (const e of list) {
      if (e.type === 'STARTED') {
        result['no-double-run'].checks += 1;
        if (open)
          fail('no-double-run', `${run.id}: STARTED again while attempt ${e.attempt} ran (${trail().join(' ')})`);
        open = true;
      } else if (e.type === 'ASSIGNED') {
        result['no-double-run'].checks += 1;
        if (held)
          fail('no-double-run', `${run.id}: ASSIGNED again while attempt ${e.attempt} was held (${trail().join(' ')})`);
        held = true;
      } else if (ENDS_AN_EXECUTION.has(e.type)) {
        open = false;
        held = false;
      }
    }
  }
  const perRun = new Map();
  for (const x of executions) perRun.set(x.run, [...(perRun.get(x.run) ?? []), x]);
  for (const [run, list] of perRun) {
    list.sort((a, b) => a.started - b.started);
    for (let i = 1; i < list.length; i++) {
      result['no-double-run'].checks += 1;
      if (list[i].started < list[i - 1].ended) {
        fail('no-double-run', `${run} ran on ${list[i - 1].worker} and ${list[i].worker} at once`);
      }
    }
  }

  for (const worker of await store.workers.listWorkers()) {
    result.capacity.checks += 1;
    const reservations = await store.runs.listReservations(worker.id);
    const held = runs.filter((r) => r.worker_id === worker.id && HELD.includes(r.state));
    const ids = (list) => list.map((x) => x.run_id ?? x.id).sort();
    const cpu = held.reduce((sum, r) => sum + r.constraints.cpu_cores, 0);
    const ram = held.reduce((sum, r) => sum + r.constraints.ram_mb, 0);
    const reservedCpu = reservations.reduce((sum, r) => sum + r.cpu_cores, 0);
    const reservedRam = reservations.reduce((sum, r) => sum + r.ram_mb, 0);
    if (ids(reservations).join() !== ids(held).join() || Math.abs(cpu - reservedCpu) > 1e-9 || ram !== reservedRam) {
      fail('capacity', `${worker.id}: reserved ${reservedCpu} cores/${reservedRam} MB, its runs need ${cpu}/${ram}`);
    }
    if (cpu > worker.resources.cpu_cores + 1e-9 || ram > worker.resources.ram_mb) {
      fail('capacity', `${worker.id}: over-committed (${cpu} cores, ${ram} MB)`);
    }
  }
  return { result, runs, events };
}

module.exports = { INVARIANTS, StrandingMonitor, allRuns, checkInvariants };
