import { randomBytes } from 'node:crypto';
import {
  assign,
  ConcurrentModificationError,
  cancel,
  createRun,
  freeCapacity,
  isWithinCapacity,
  type OpRun,
  unassign,
  type Worker,
} from '@gyoza/domain';
import { type ClaimPlanner, encodeRun, type Store, updateRun } from '@gyoza/store';
import { addRun, fitPlanner, heartbeat, mongoTestUri } from '@gyoza/test-support';
import mongoose, { type Connection } from 'mongoose';
import { MongoStoreOpenError, openMongoStore } from './index';
import { keepLease } from './lease-keeper';
import type { MongoStoreLogger } from './logger';
import { databaseName } from './mongo-store';
import type { MongoRunStore } from './run-store';

// What the contract cannot see: the dedicated connection, start-up, BSON-unsafe data, and
// recovery from a writer that died between committing a revision and applying it.
const uri = mongoTestUri();

let dbName: string;
let store: Store;
let raw: Connection;
beforeEach(async () => {
  dbName = `gyoza_adapter_${randomBytes(6).toString('hex')}`;
  store = await openMongoStore({ uri, dbName });
  raw = await mongoose.createConnection(uri, { dbName }).asPromise();
});
afterEach(async () => {
  await store.close();
  await raw.dropDatabase();
  await raw.close();
});

const T = new Date('2026-03-01T12:00:00.000Z');

async function worker(id: string, cpu: number, vram: number[] = []): Promise<Worker> {
  return store.workers.heartbeat(heartbeat(id, { cpuCores: cpu, ramMb: 4000, gpus: vram }), T);
}

async function pending(cpu: number, seconds: number, priority = 0): Promise<OpRun> {
  return addRun(store, { constraints: { cpu_cores: cpu }, priority }, new Date(T.getTime() + seconds * 1000));
}

/** What a writer that died after its revision insert leaves behind. */
async function commitWithoutApplying(transition: { run: OpRun; events: unknown[] }): Promise<OpRun> {
  const next = { ...transition.run, rev: transition.run.rev + 1 };
  await raw.collection('run_revisions').insertOne({
    _id: `${next.id}:${next.rev}` as never,
    run_id: next.id,
    rev: next.rev,
    doc: encodeRun(next),
    events: JSON.stringify(transition.events),
    created_at: T,
  });
  return next;
}

it('uses its own connection, not mongoose default one, and closes it', async () => {
  expect(mongoose.connection.readyState).toBe(0);
  const other = await openMongoStore({ uri, dbName });
  await other.close();
  expect(mongoose.connection.readyState).toBe(0);
  await expect(other.runs.getRun('run_x')).rejects.toThrow();
  // The first store is unaffected by the second one closing.
  expect(await store.runs.getRun('run_x')).toBeNull();
});

it('names the database it cannot reach, without the password', async () => {
  const error = await openMongoStore({
    uri: 'mongodb://gyoza:s3cret@127.0.0.1:1/gyoza',
    serverSelectionTimeoutMs: 300,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MongoStoreOpenError);
  expect((error as MongoStoreOpenError).code).toBe('STORE_UNAVAILABLE');
  expect((error as Error).message).toContain('mongodb://gyoza:***@127.0.0.1:1/gyoza');
  expect((error as Error).message).not.toContain('s3cret');
});

it('refuses a malformed URI with the same one-line error', async () => {
  const error = await openMongoStore({ uri: 'postgres://127.0.0.1/gyoza' }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MongoStoreOpenError);
  expect((error as Error).message).toMatch(/^cannot open the MongoDB store at postgres:\/\/127\.0\.0\.1\/gyoza: /);
});

it('takes the database from dbName, else the URI path, else gyoza', () => {
  expect(databaseName('mongodb://h:1/app?replicaSet=rs', 'other')).toBe('other');
  expect(databaseName('mongodb://u:p@h1:1,h2:2/app?replicaSet=rs')).toBe('app');
  expect(databaseName('mongodb+srv://cluster.example/app')).toBe('app');
  expect(databaseName('mongodb://h:1/?replicaSet=rs')).toBe('gyoza');
  expect(databaseName('mongodb://h:1')).toBe('gyoza');
});

it('creates its indexes at start-up and reopens an existing database', async () => {
  const indexes = async (collection: string) =>
    (await raw.collection(collection).indexes()).map((i) => ({ key: i.key, unique: i.unique === true }));
  expect(await indexes('runs')).toContainEqual({
    key: { state: 1, priority: -1, created_at: 1, _id: 1 },
    unique: false,
  });
  expect(await indexes('runs')).toContainEqual({ key: { idempotency_key: 1 }, unique: true });
  expect(await indexes('events')).toContainEqual({ key: { run_id: 1, index: 1 }, unique: true });
  expect(await indexes('definitions')).toContainEqual({ key: { id: 1, version: 1 }, unique: true });

  const run = await pending(1, 0);
  const again = await openMongoStore({ uri, dbName });
  expect(await again.runs.getRun(run.id)).toStrictEqual(run);
  await again.close();
});

it('keeps user keys with dots and dollars, and unicode, in inputs, outputs and payloads', async () => {
  const inputs = { 'a.b': 1, $where: { 'x.y': ['ü', '🥟', null] }, nested: { deep: { k$: true } } };
  const { run } = await store.runs.createRun(createRun({ image: 'busybox', inputs }, null, T), T);
  expect((await store.runs.getRun(run.id))?.inputs).toStrictEqual(inputs);
  await store.runs.appendEvents(run.id, [{ attempt: 1, type: 'INFO', payload: { 'p.q': { $gt: 'ä' } } }], T);
  const events = await store.runs.listEvents(run.id);
  expect(events.at(-1)?.payload).toStrictEqual({ 'p.q': { $gt: 'ä' } });
  expect(events.at(-1)?.created_at).toBeInstanceOf(Date);
});

it('finishes a transition whose writer died after committing it, once, and refuses the stale writer', async () => {
  await worker('w1', 4);
  const run = await pending(1, 0);
  const assigned = await commitWithoutApplying(assign(run, { worker_id: 'w1', gpu_ids: [] }, T));

  // Any reader finishes it, even several at once; its ASSIGNED event lands exactly once.
  const [events, a, b] = await Promise.all([
    store.runs.listEvents(run.id),
    store.runs.getRun(run.id),
    store.runs.getRun(run.id),
  ]);
  expect(events.map((e) => [e.index, e.type])).toEqual([
    [1, 'CREATED'],
    [2, 'ASSIGNED'],
  ]);
  expect(a).toStrictEqual(assigned);
  expect(b).toStrictEqual(assigned);
  expect((await store.runs.listEvents(run.id)).map((e) => [e.index, e.type])).toEqual([
    [1, 'CREATED'],
    [2, 'ASSIGNED'],
  ]);
  expect(await store.runs.listReservations('w1')).toHaveLength(1);
  // A writer that read the run before the dead one committed loses, and writes nothing.
  await expect(store.runs.saveTransition(cancel(run, T), T)).rejects.toBeInstanceOf(ConcurrentModificationError);
  expect((await store.runs.getRun(run.id))?.state).toBe('ASSIGNED');
});

it('claims past a cancel whose writer died before applying it, and applies it on the way', async () => {
  await worker('w1', 1);
  const runs: OpRun[] = [];
  for (let i = 0; i < 20; i++) runs.push(await pending(1, i));
  await commitWithoutApplying(cancel(runs[0], T));
  const claim = () => store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
  expect((await claim()).map((r) => r.id)).toEqual([runs[1].id]);
  // The lost run was read through: its cancel is applied, it is not read as PENDING again.
  expect((await raw.collection('runs').findOne({ _id: runs[0].id as never }))?.state).toBe('CANCELLED');
});

it('answers the runs a claim won even when reading a run it lost fails afterwards', async () => {
  await worker('w1', 1);
  const runs: OpRun[] = [];
  for (let i = 0; i < 20; i++) runs.push(await pending(1, i));
  await commitWithoutApplying(cancel(runs[0], T));
  // The store's connection fails once, on the read that follows the loss (a network blip).
  const runStore = store.runs as MongoRunStore;
  const getRun = runStore.getRun.bind(runStore);
  let failed = 0;
  runStore.getRun = async (id: string) => {
    if (id === runs[0].id && failed++ === 0) throw new Error('connection reset');
    return getRun(id);
  };
  const claimed = await store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
  expect(claimed.map((r) => r.id)).toEqual([runs[1].id]);
  expect(failed).toBeGreaterThan(0);
});

it('lets no later transition commit before the events of the one it builds on are in', async () => {
  await worker('w1', 4);
  await worker('w2', 4);
  const run = await pending(1, 0);
  const claim = (id: string) => store.claims.claimRuns({ worker_id: id, limit: 1, now: T, plan: fitPlanner() });
  expect(await claim('w1')).toHaveLength(1);

  // A second process whose event inserts wait at a gate: a writer caught between its steps.
  const slow = await openMongoStore({ uri, dbName });
  const events = (slow.runs as unknown as { events: { create: (...args: unknown[]) => Promise<unknown> } }).events;
  const create = events.create.bind(events);
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  events.create = async (...args) => {
    reached();
    await gate;
    return create(...args);
  };
  try {
    const takingBack = updateRun(
      slow.runs,
      run.id,
      (r) => unassign(r, T, 'taken back'),
      () => T,
    );
    await atGate;
    // The run may look PENDING already; a claim assigning it must write UNASSIGNED first.
    const early = await claim('w2');
    open();
    await takingBack;
    if (early.length === 0) expect(await claim('w2')).toHaveLength(1);
  } finally {
    open();
    await slow.close();
  }
  expect((await store.runs.listEvents(run.id)).map((e) => [e.index, e.type, e.payload?.worker_id])).toEqual([
    [1, 'CREATED', undefined],
    [2, 'ASSIGNED', 'w1'],
    [3, 'UNASSIGNED', 'w1'],
    [4, 'ASSIGNED', 'w2'],
  ]);
});

it('brings runs forward again when a write of an older revision lands after a newer one', async () => {
  await worker('w1', 4);
  const run = await pending(1, 0);
  // A second process whose runs update does what FerretDB's does, held open: the filter is
  // read now, the whole write lands when the gate opens.
  const slow = await openMongoStore({ uri, dbName });
  type Update = (filter: Record<string, unknown>, update: Record<string, unknown>) => Promise<unknown>;
  const runs = (slow.runs as unknown as { runs: { updateOne: Update; findOne: (f: unknown) => Promise<unknown> } })
    .runs;
  const updateOne = runs.updateOne.bind(runs);
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  runs.updateOne = async (filter, update) => {
    const matched = await runs.findOne(filter);
    reached();
    await gate;
    return matched ? updateOne({ _id: filter._id }, update) : undefined;
  };
  try {
    const assigning = slow.runs.saveTransition(assign(run, { worker_id: 'w1', gpu_ids: [] }, T), T);
    await atGate;
    // Meanwhile a reader applies the assignment, and a newer revision commits on top of it.
    const assigned = await store.runs.getRun(run.id);
    expect(assigned?.state).toBe('ASSIGNED');
    await store.runs.saveTransition(unassign(assigned as OpRun, T, 'taken back'), T);
    open();
    await assigning;
  } finally {
    open();
    await slow.close();
  }
  // Read without getRun's repair: the stale write was followed by its writer's check.
  const [listed] = (await store.runs.listRuns({})).runs;
  expect([listed.state, listed.rev]).toEqual(['PENDING', 3]);
  expect(await store.runs.listReservations('w1')).toEqual([]);
});

it("writes the creation's events of a run whose creator died between the run and its events", async () => {
  await worker('w1', 4);
  // biome-ignore lint/suspicious/noExplicitAny: holding the adapter between its two writes
  const runs = store.runs as any;
  const insertEvents = runs.insertEvents;
  runs.insertEvents = () => Promise.reject(new Error('killed here'));
  const hook = { webhook_url: 'http://127.0.0.1:9/hook', event_types: ['CREATED'] };
  const created = createRun({ image: 'busybox', event_delivery: hook }, null, T);
  await expect(store.runs.createRun(created, T)).rejects.toThrow('killed here');
  runs.insertEvents = insertEvents;
  const id = created.run.id;
  expect((await store.runs.getRun(id))?.state).toBe('PENDING');
  // Before: no CREATED ever, its webhook never sent, and the claim's ASSIGNED became event 1.
  const events = await store.runs.listEvents(id);
  expect(events.map((e) => [e.index, e.type, e.payload])).toEqual([[1, 'CREATED', { image: 'busybox' }]]);
  expect((await store.deliveries.listDeliveries({ run_id: id })).map((d) => d.id)).toEqual([`${id}-1`]);
  await store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
  expect((await store.runs.listEvents(id)).map((e) => [e.index, e.type])).toEqual([
    [1, 'CREATED'],
    [2, 'ASSIGNED'],
  ]);
});

it('writes the missing creation events before the first transition, when nobody read them', async () => {
  // biome-ignore lint/suspicious/noExplicitAny: holding the adapter between its two writes
  const runs = store.runs as any;
  const insertEvents = runs.insertEvents;
  runs.insertEvents = () => Promise.reject(new Error('killed here'));
  const created = createRun({ image: 'busybox' }, null, T);
  await expect(store.runs.createRun(created, T)).rejects.toThrow('killed here');
  runs.insertEvents = insertEvents;
  const [run] = (await store.runs.listRuns({})).runs;
  await store.runs.saveTransition(cancel(run, T), T);
  expect((await store.runs.listEvents(run.id)).map((e) => [e.index, e.type])).toEqual([
    [1, 'CREATED'],
    [2, 'CANCELLED'],
  ]);
});

it('counts an assignment a dead claimer committed but did not apply before claiming again', async () => {
  const w = await worker('w1', 2);
  const first = await pending(2, 0);
  // Came in after the dead claim, ahead of its run: the next claim will want this one.
  const urgent = await pending(2, 1, 5);
  // The claimer wrote its intent, committed the assignment, and died before applying it.
  await raw.collection('claim_intents').insertOne({ _id: 'w1' as never, run_ids: [first.id], updated_at: T });
  await commitWithoutApplying(assign(first, { worker_id: 'w1', gpu_ids: [] }, T));

  expect(await store.claims.claimRuns({ worker_id: 'w1', limit: 2, now: T, plan: fitPlanner() })).toEqual([]);
  expect(isWithinCapacity(freeCapacity(w, await store.runs.listReservations('w1')))).toBe(true);
  expect((await store.runs.getRun(first.id))?.state).toBe('ASSIGNED');
  expect((await store.runs.getRun(urgent.id))?.state).toBe('PENDING');
});

it('takes a lease over whose previous take-over died between its token and its epoch', async () => {
  expect(await store.leases.acquireLease('claims', 'a', 10_000, T)).toBe(true);
  await store.leases.releaseLease('claims', 'a');
  // What a contender killed between its two writes leaves: the next epoch's token, the lease unmoved.
  const [lease] = await raw
    .collection('leases')
    .find({ _id: 'claims' as never })
    .toArray();
  await raw.collection('tokens').insertOne({ _id: `lease:claims:${lease?.epoch + 1}` as never, created_at: T });
  const later = new Date(T.getTime() + 1000);
  // Within the lease's TTL of that take-over, it may still be alive: nobody else gets the lease.
  expect(await store.leases.acquireLease('claims', 'b', 10_000, later)).toBe(false);
  expect(await store.leases.acquireLease('claims', 'b', 10_000, later)).toBe(false);
  // Past it, the dead take-over's token is dropped and the lease is taken again.
  const past = new Date(T.getTime() + 11_000);
  let taken = false;
  for (let i = 0; i < 3 && !taken; i++) taken = await store.leases.acquireLease('claims', 'b', 10_000, past);
  expect(taken).toBe(true);
  expect(await store.leases.acquireLease('claims', 'c', 10_000, past)).toBe(false);
});

it('evicts a silent worker whose earlier eviction died between its token and its write', async () => {
  await store.workers.heartbeat(heartbeat('w1'), T);
  // What a reaper killed between its two writes leaves: the token of this silence, the worker active.
  await raw
    .collection('tokens')
    .insertOne({ _id: `evict:w1:${T.getTime()}` as never, created_at: new Date(T.getTime() + 61_000) });
  const soon = new Date(T.getTime() + 62_000);
  expect(await store.workers.evictWorker('w1', new Date(soon.getTime() - 60_000), soon)).toBe(false);
  // A whole worker timeout after that reaper's attempt, its token is dropped and the eviction goes through.
  const later = new Date(T.getTime() + 125_000);
  let evicted = false;
  for (let i = 0; i < 3 && !evicted; i++)
    evicted = await store.workers.evictWorker('w1', new Date(later.getTime() - 60_000), later);
  expect(evicted).toBe(true);
  expect((await store.workers.getWorker('w1'))?.status).toBe('evicted');
});

it('serialises claims for one worker, so planners that disagree cannot over-commit it', async () => {
  const w = await worker('w1', 1);
  await pending(1, 0);
  await pending(1, 1);
  // Each claimer wants a different run; each alone would fit, both together would not.
  const pick =
    (n: number): ClaimPlanner =>
    ({ candidates }) =>
      candidates[n] ? [{ run_id: candidates[n].id, gpu_ids: [] }] : [];
  const claims = await Promise.all(
    [0, 1, 0, 1].map((n) => store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: pick(n) })),
  );
  expect(claims.flat()).toHaveLength(1);
  expect(isWithinCapacity(freeCapacity(w, await store.runs.listReservations('w1')))).toBe(true);
});

describe('a claimer that stalls past the claim lock (a GC pause, SIGSTOP) and then goes on', () => {
  /**
   * Connection A's claim batch, held at `where` (before its intents are written, or between
   * its lock check and its commit) until `resume` is called; while held its lease renewals do
   * not happen, as in a stalled process. Connection B claims meanwhile.
   */
  async function stalledClaims(where: 'before intents' | 'before commit') {
    const w = await worker('w1', 4);
    for (let i = 0; i < 4; i++) await pending(1, i);
    const a = store;
    const b = await openMongoStore({ uri, dbName });
    // biome-ignore lint/suspicious/noExplicitAny: reaching into the adapter to hold it mid-batch
    const claimsA = a.claims as any;
    let stalled = false;
    let resume: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      resume = resolve;
    });
    let reached: () => void = () => {};
    const atStall = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const acquire = a.leases.acquireLease.bind(a.leases);
    a.leases.acquireLease = (...args) => (stalled ? Promise.resolve(true) : acquire(...args));
    const target = where === 'before intents' ? claimsA.intents : claimsA.runStore;
    const method = where === 'before intents' ? 'bulkWrite' : 'commitGrouped';
    const original = target[method].bind(target);
    target[method] = async (...args: unknown[]) => {
      stalled = true;
      reached();
      await held;
      stalled = false;
      return original(...args);
    };
    const claimA = a.claims.claimRuns({ worker_id: 'w1', limit: 4, now: T, plan: fitPlanner() });
    await atStall;
    // Meanwhile a run that B's claim takes first, and B, waiting out A's lock (3 s).
    await pending(1, 10, 10);
    const claimB = await b.claims.claimRuns({ worker_id: 'w1', limit: 4, now: T, plan: fitPlanner() });
    resume();
    const fromA = await claimA;
    const reservations = await a.runs.listReservations('w1');
    await b.close();
    return { w, fromA, claimB, reservations };
  }

  it.each([
    [
      'before intents',
      'commits nothing of a plan made before its intents were written, once another batch took the lock',
    ],
    // Before: A committed the run B had not taken as well: 5 cores held of 4.
    ['before commit', 'loses the runs of a plan whose intents another batch found, when it commits late'],
  ] as const)('stalled %s: %s', async (where, _what) => {
    const { w, fromA, claimB, reservations } = await stalledClaims(where);
    expect(claimB).toHaveLength(4);
    expect(fromA).toEqual([]);
    expect(reservations).toHaveLength(4);
    expect(isWithinCapacity(freeCapacity(w, reservations))).toBe(true);
  });
});

it('plans claims that arrive together one after another, each against what the earlier ones took', async () => {
  const workers = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((id) => worker(id, 2)));
  for (let i = 0; i < 12; i++) await pending(1, i);
  // Three claims per worker in one turn: they share a batch; each worker has room for two.
  const claims = await Promise.all(
    workers.flatMap((w) =>
      [0, 1, 2].map(async () => ({
        worker: w,
        runs: await store.claims.claimRuns({ worker_id: w.id, limit: 1, now: T, plan: fitPlanner() }),
      })),
    ),
  );
  const ids = claims.flatMap((c) => c.runs.map((r) => r.id));
  expect(ids).toHaveLength(8);
  expect(new Set(ids).size).toBe(8);
  for (const w of workers) {
    expect(claims.filter((c) => c.worker === w && c.runs.length === 1)).toHaveLength(2);
    expect(isWithinCapacity(freeCapacity(w, await store.runs.listReservations(w.id)))).toBe(true);
  }
  for (const id of ids) {
    expect((await store.runs.listEvents(id)).map((e) => [e.index, e.type])).toEqual([
      [1, 'CREATED'],
      [2, 'ASSIGNED'],
    ]);
  }
  expect((await store.runs.listRuns({ state: 'PENDING' })).runs).toHaveLength(4);
});

it('commits transitions together, each winning or losing on its own revision', async () => {
  const a = await pending(1, 0);
  const b = await pending(1, 1);
  await store.runs.saveTransition(cancel(a, T), T);
  const saved = await (store.runs as unknown as MongoRunStore).commitGrouped(
    [a, b].map((run) => ({ transition: assign(run, { worker_id: 'w1', gpu_ids: [] }, T), now: T })),
  );
  expect(saved[0]).toBeNull();
  expect([saved[1]?.run.state, saved[1]?.run.rev, saved[1]?.events.map((e) => [e.index, e.type])]).toEqual([
    'ASSIGNED',
    2,
    [[2, 'ASSIGNED']],
  ]);
  expect((await store.runs.getRun(a.id))?.state).toBe('CANCELLED');
  expect((await store.runs.listEvents(a.id)).map((e) => e.type)).toEqual(['CREATED', 'CANCELLED']);
  const [listed] = (await store.runs.listRuns({ state: 'ASSIGNED' })).runs;
  expect([listed.id, listed.rev]).toEqual([b.id, 2]);
  expect((await store.runs.listEvents(b.id)).map((e) => [e.index, e.type])).toEqual([
    [1, 'CREATED'],
    [2, 'ASSIGNED'],
  ]);
});

it("sees the room a run freed since the worker's last claim", async () => {
  const w = await worker('w1', 1);
  const first = await pending(1, 0);
  const second = await pending(1, 1);
  const claim = () => store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
  expect((await claim()).map((r) => r.id)).toEqual([first.id]);
  // Freed since: a claim that planned on what the last one left would find no room.
  await store.runs.saveTransition(cancel((await store.runs.getRun(first.id)) as OpRun, T), T);
  expect((await claim()).map((r) => r.id)).toEqual([second.id]);
  expect(isWithinCapacity(freeCapacity(w, await store.runs.listReservations('w1')))).toBe(true);
});

it('keeps no reservations across a claim another process made for the same worker', async () => {
  const other = await openMongoStore({ uri, dbName });
  try {
    const w = await worker('w1', 2);
    for (let i = 0; i < 3; i++) await pending(1, i);
    const claim = (s: Store) => s.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
    expect(await claim(store)).toHaveLength(1);
    // Another process takes the claim lock and fills the worker's second slot.
    expect(await claim(other)).toHaveLength(1);
    // Planned on what this process last saw (one run held), a third run would fit: it must not.
    expect(await claim(store)).toEqual([]);
    expect(await store.runs.listReservations('w1')).toHaveLength(2);
    expect(isWithinCapacity(freeCapacity(w, await store.runs.listReservations('w1')))).toBe(true);
  } finally {
    await other.close();
  }
});

it('leaves no token per claim behind', async () => {
  await worker('w1', 8);
  for (let i = 0; i < 6; i++) await pending(1, i);
  for (let i = 0; i < 6; i++) {
    expect(await store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() })).toHaveLength(1);
  }
  expect(await raw.collection('tokens').countDocuments({})).toBeLessThanOrEqual(1);
});

it('logs through the logger it is given', async () => {
  const lines: string[] = [];
  const logger: MongoStoreLogger = {
    debug: (_, msg) => lines.push(`debug ${msg}`),
    info: (_, msg) => lines.push(`info ${msg}`),
    warn: (_, msg) => lines.push(`warn ${msg}`),
  };
  const logged = await openMongoStore({ uri, dbName, logger });
  await logged.close();
  expect(lines).toContain('info mongo store open');
});

it('moves the claim version for every store on the database when a run is created, changes state or a worker writes', async () => {
  const other = await openMongoStore({ uri, dbName });
  try {
    const versions = [await other.claims.claimVersion?.()];
    await worker('w1', 4);
    versions.push(await other.claims.claimVersion?.());
    const run = await pending(1, 0);
    versions.push(await other.claims.claimVersion?.());
    await store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
    versions.push(await other.claims.claimVersion?.());
    await store.runs.saveTransition(cancel((await store.runs.getRun(run.id)) as OpRun, T), T);
    versions.push(await other.claims.claimVersion?.());
    expect(versions.every((v) => typeof v === 'number')).toBe(true);
    expect(new Set(versions).size).toBe(versions.length);
  } finally {
    await other.close();
  }
});

it("drops claim version documents no connection wrote for a day when a store opens, and reads the earlier versions' shared one like any other", async () => {
  const versions = raw.collection('claim_version');
  const dayAndMore = new Date(Date.now() - 25 * 60 * 60 * 1000);
  await versions.insertOne({ _id: 'connection-gone' as never, version: 5, pending: 5, at: dayAndMore });
  await versions.insertOne({ _id: 'claims' as never, version: 7, pending: 7 });
  const other = await openMongoStore({ uri, dbName });
  try {
    expect(await versions.countDocuments({ _id: 'connection-gone' as never })).toBe(0);
    // Two connections' documents and the shared one of a store before per-connection versions.
    expect(await versions.countDocuments({})).toBe(3);
    const before = await store.claims.claimVersion?.();
    await versions.updateOne({ _id: 'claims' as never }, { $set: { version: 8 } });
    expect(await store.claims.claimVersion?.()).not.toBe(before);
  } finally {
    await other.close();
  }
});

it('keeps a lease held past its TTL while it is kept, and no renewal outlives stop', async () => {
  const ttlMs = 1500;
  const lease = { name: 'kept', holder: 'a', ttlMs };
  const warnings: string[] = [];
  const logger: MongoStoreLogger = { debug() {}, info() {}, warn: (_, msg) => warnings.push(String(msg)) };
  expect(await store.leases.acquireLease('kept', 'a', ttlMs, new Date())).toBe(true);
  const kept = keepLease(store.leases, lease, logger);
  // Three TTLs: unrenewed, the lease would have expired twice over.
  const end = Date.now() + 3 * ttlMs;
  while (Date.now() < end) {
    expect(await store.leases.acquireLease('kept', 'b', ttlMs, new Date())).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
  }
  await kept.stop();
  await store.leases.releaseLease('kept', 'a');
  expect(await store.leases.acquireLease('kept', 'b', ttlMs, new Date())).toBe(true);
  // No renewal of 'a' ran after stop: none took the released lease back or found it taken.
  expect((await raw.collection('leases').findOne({ _id: 'kept' as never }))?.holder).toBe('b');
  expect(warnings).toEqual([]);
});

it('serves claims from its head of the queue only until another process adds a pending run', async () => {
  const other = await openMongoStore({ uri, dbName });
  try {
    await worker('w1', 100);
    for (let i = 0; i < 40; i++) await pending(1, i);
    const claim = () => store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
    await claim();
    // Created by another process behind this one's back: ahead of everything read so far.
    const urgent = await addRun(other, { constraints: { cpu_cores: 1 }, priority: 9 }, T);
    expect((await claim()).map((r) => r.id)).toEqual([urgent.id]);
  } finally {
    await other.close();
  }
});

it('reads pending runs only of shapes that fit, and fills in the shape of runs stored without one', async () => {
  await worker('w1', 2);
  // Within the worker's numbers, ahead in claim order, but wanting a tag the worker lacks.
  const tagged = await addRun(store, { constraints: { cpu_cores: 1, worker_tags: ['a100'] }, priority: 9 }, T);
  const small = await pending(1, 1);
  // As stored before shapes were kept.
  await raw.collection('runs').updateMany({}, { $unset: { shape: 1 } });
  await raw.collection('run_shapes').deleteMany({});
  const reopened = await openMongoStore({ uri, dbName });
  try {
    const seen: string[][] = [];
    const plan: ClaimPlanner = (context) => {
      seen.push(context.candidates.map((r) => r.id));
      return fitPlanner()(context);
    };
    const claimed = await reopened.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan });
    expect(claimed.map((r) => r.id)).toEqual([small.id]);
    expect(seen.flat()).not.toContain(tagged.id);
    expect(await raw.collection('runs').countDocuments({ shape: { $exists: false } })).toBe(0);
  } finally {
    await reopened.close();
  }
});
