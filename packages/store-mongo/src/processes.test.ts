import { join } from 'node:path';
import type { OpRun } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import {
  addRun,
  expectWorkersFilled,
  heartbeat,
  newRun,
  requireBuilt,
  runNodeForJson,
  type TemporaryMongoDatabase,
  temporaryMongoDatabase,
} from '@gyoza/test-support';
import { openMongoStore } from './index';

// Children run the compiled package (dist), each with its own connection, as separate
// server processes sharing one database would.
beforeAll(() => requireBuilt(join(__dirname, '..', 'dist', 'index.js')));

let db: TemporaryMongoDatabase;
let store: Store;
beforeEach(async () => {
  db = temporaryMongoDatabase('gyoza_proc');
  store = await openMongoStore({ uri: db.uri, dbName: db.dbName });
});
afterEach(async () => {
  await store.close();
  await db.drop();
});

function child<T>(role: string, ...args: string[]): Promise<T> {
  return runNodeForJson<T>(join(__dirname, '..', 'fixtures', 'race.js'), [role, db.uri, db.dbName, ...args]);
}

it('processes claiming and cancelling on one database never share a run or over-commit', async () => {
  const workers = ['w0', 'w1', 'w2', 'w3'];
  const now = new Date();
  for (const id of workers) {
    await store.workers.heartbeat(heartbeat(id, { cpuCores: 4, ramMb: 8000, gpus: [8000] }), now);
  }
  const runs: OpRun[] = [];
  for (let i = 0; i < 80; i++) {
    const constraints = i % 2 ? { cpu_cores: 1 } : { cpu_cores: 0.5, vram_mb: 3000 };
    const created = await store.runs.createRun(
      newRun({ constraints, priority: i % 4 }, new Date(now.getTime() + i)),
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
  // Filled up: nothing still pending fits, so the claimers really competed for all of it.
  await expectWorkersFilled(store, workers, 'direct');
});

it('processes appending events to one run get gap-free, increasing indexes', async () => {
  const now = new Date();
  const run = await addRun(store, {}, now);
  const perProcess = await Promise.all([0, 1, 2].map(() => child<number[]>('log', run.id, '15')));

  for (const indexes of perProcess) {
    expect(indexes).toHaveLength(15);
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
  }
  const events = await store.runs.listEvents(run.id);
  expect(events.map((e) => e.index)).toEqual(Array.from({ length: 46 }, (_, i) => i + 1));
  expect(perProcess.flat().sort((a, b) => a - b)).toEqual(events.slice(1).map((e) => e.index));
});
