import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRun, freeCapacity, isWithinCapacity, type OpRun, placeRun, type Worker } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import mongoose from 'mongoose';
import { openMongoStore } from './index';

// Children run the compiled package (dist), each with its own connection, as separate
// server processes sharing one database would.
const uri = process.env.GYOZA_TEST_MONGODB_URI as string;
beforeAll(() => {
  if (!uri) throw new Error('GYOZA_TEST_MONGODB_URI is not set: the jest global setup starts FerretDB');
  if (!existsSync(join(__dirname, '..', 'dist', 'index.js'))) throw new Error('build first: pnpm build');
});

let dbName: string;
let store: Store;
beforeEach(async () => {
  dbName = `gyoza_proc_${randomBytes(6).toString('hex')}`;
  store = await openMongoStore({ uri, dbName });
});
afterEach(async () => {
  await store.close();
  const connection = await mongoose.createConnection(uri, { dbName }).asPromise();
  await connection.dropDatabase();
  await connection.close();
});

function child<T>(role: string, ...args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(__dirname, '..', 'fixtures', 'race.js'), role, uri, dbName, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${role} exited ${code}`))));
  });
}

it('processes claiming and cancelling on one database never share a run or over-commit', async () => {
  const workers = ['w0', 'w1', 'w2', 'w3'];
  const now = new Date();
  for (const id of workers) {
    await store.workers.heartbeat(
      {
        worker_id: id,
        resources: { cpu_cores: 4, ram_mb: 8000, gpus: [{ id: 0, vram_mb: 8000, tags: [] }] },
        tags: [],
        running_ops: [],
      },
      now,
    );
  }
  const runs: OpRun[] = [];
  for (let i = 0; i < 80; i++) {
    const constraints = i % 2 ? { cpu_cores: 1 } : { cpu_cores: 0.5, vram_mb: 3000 };
    const created = await store.runs.createRun(
      createRun({ image: 'busybox', constraints, priority: i % 4 }, null, new Date(now.getTime() + i)),
      now,
    );
    runs.push(created.run);
  }
  // The canceller walks every other run in claim order, so it meets the claimers head on and
  // leaves enough for them to fill every worker.
  const targets = [...runs]
    .sort((a, b) => b.priority - a.priority || a.created_at.getTime() - b.created_at.getTime())
    .filter((_, i) => i % 2 === 0)
    .map((r) => r.id);
  const [cancelled, ...claims] = await Promise.all([
    child<string[]>('cancel', targets.join(',')),
    // Same worker order in every claimer: they contend for one worker's capacity at a time.
    ...[0, 1, 2].map(() => child<string[]>('claim', workers.join(','))),
  ]);
  const claimed = claims.flat();

  expect(claimed.length).toBeGreaterThan(0);
  expect(cancelled.length).toBeGreaterThan(0);
  expect(new Set(claimed).size).toBe(claimed.length);
  // A run went to one claimer or was cancelled, never both: one of the two revisions won.
  expect(claimed.filter((id) => cancelled.includes(id))).toEqual([]);
  const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs.map((r) => r.id);
  expect(assigned.sort()).toEqual([...claimed].sort());
  const gone = (await store.runs.listRuns({ state: 'CANCELLED', limit: 1000 })).runs.map((r) => r.id);
  expect(gone.sort()).toEqual([...cancelled].sort());
  for (const id of claimed) {
    const events = await store.runs.listEvents(id);
    expect(events.map((e) => e.type)).toEqual(['CREATED', 'ASSIGNED']);
    expect(events.map((e) => e.index)).toEqual([1, 2]);
  }
  const pending = (await store.runs.listRuns({ state: 'PENDING', limit: 1000 })).runs;
  expect(pending.length).toBe(80 - claimed.length - cancelled.length);
  // The 40 runs never targeted are more than the 4 workers hold, so the check below bites.
  expect(pending.length).toBeGreaterThanOrEqual(20);
  for (const id of workers) {
    const worker = (await store.workers.getWorker(id)) as Worker;
    const free = freeCapacity(worker, await store.runs.listReservations(id));
    expect(isWithinCapacity(free)).toBe(true);
    // Filled up: nothing still pending fits, so the claimers really competed for all of it.
    for (const run of pending) expect(placeRun(run.constraints, worker.tags, free, 'direct').fits).toBe(false);
  }
});

it('processes appending events to one run get gap-free, increasing indexes', async () => {
  const now = new Date();
  const { run } = await store.runs.createRun(createRun({ image: 'busybox' }, null, now), now);
  const perProcess = await Promise.all([0, 1, 2].map(() => child<number[]>('log', run.id, '15')));

  for (const indexes of perProcess) {
    expect(indexes).toHaveLength(15);
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
  }
  const events = await store.runs.listEvents(run.id);
  expect(events.map((e) => e.index)).toEqual(Array.from({ length: 46 }, (_, i) => i + 1));
  expect(perProcess.flat().sort((a, b) => a - b)).toEqual(events.slice(1).map((e) => e.index));
});
