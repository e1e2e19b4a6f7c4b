import { join } from 'node:path';
import type { Store } from '@gyoza/store';
import { openMongoStore } from '@gyoza/store-mongo';
import { openSqliteStore } from '@gyoza/store-sqlite';
import {
  addRun,
  expectWorkersFilled,
  heartbeat,
  requireBuilt,
  runNodeForJson,
  temporaryDirectory,
  temporaryMongoDatabase,
} from '@gyoza/test-support';

// Children run the compiled packages, as separate server processes would.
beforeAll(() => requireBuilt(join(__dirname, '..', 'dist', 'index.js')));

function child(kind: string, location: string, workers: string[]): Promise<string[]> {
  return runNodeForJson(join(__dirname, '..', 'fixtures', 'claim-race.js'), [kind, location, workers.join(',')]);
}

async function race(store: Store, kind: string, location: string, processes: number): Promise<void> {
  const workers = ['w0', 'w1', 'w2'];
  const now = new Date();
  for (const id of workers) {
    await store.workers.heartbeat(heartbeat(id, { cpuCores: 4, ramMb: 8000, gpus: [10000, 10000] }), now);
  }
  const shapes = [
    { cpu_cores: 1 },
    { cpu_cores: 0.5, vram_mb: 4000 },
    { vram_mb: 3000, gpu_count: 2 },
    { ram_mb: 3000 },
  ];
  for (let i = 0; i < 60; i++) {
    await addRun(store, { constraints: shapes[i % 4], priority: i % 3 }, now);
  }
  const rotations = Array.from({ length: processes }, (_, i) => [...workers.slice(i % 3), ...workers.slice(0, i % 3)]);
  const claimed = (await Promise.all(rotations.map((w) => child(kind, location, w)))).flat();

  expect(claimed.length).toBeGreaterThan(0);
  expect(new Set(claimed).size).toBe(claimed.length);
  const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs.map((r) => r.id);
  expect(assigned.sort()).toEqual([...claimed].sort());
  // Filled up: nothing pending still fits, so the processes really competed for it all.
  await expectWorkersFilled(store, workers, 'best-fit');
}

it('several processes on one SQLite file never share a run or over-commit', async () => {
  const { dir, remove } = temporaryDirectory('gyoza-race-');
  const path = join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path });
  try {
    await race(store, 'sqlite', path, 4);
  } finally {
    await store.close();
    remove();
  }
});

it('several processes on one MongoDB-wire database never share a run or over-commit', async () => {
  const { uri, dbName, drop } = temporaryMongoDatabase('gyoza_race');
  const store = await openMongoStore({ uri, dbName });
  try {
    await race(store, 'mongo', `${uri}|${dbName}`, 3);
  } finally {
    await store.close();
    await drop();
  }
});
