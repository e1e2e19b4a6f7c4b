import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRun, freeCapacity, isWithinCapacity, placeRun, type Worker } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import { openMongoStore } from '@gyoza/store-mongo';
import { openSqliteStore } from '@gyoza/store-sqlite';
import mongoose from 'mongoose';

// Children run the compiled packages, as separate server processes would.
beforeAll(() => {
  if (!existsSync(join(__dirname, '..', 'dist', 'index.js'))) throw new Error('build first: pnpm build');
});

function child(kind: string, location: string, workers: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [join(__dirname, '..', 'fixtures', 'claim-race.js'), kind, location, workers.join(',')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.on('error', reject);
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`))));
  });
}

async function race(store: Store, kind: string, location: string, processes: number): Promise<void> {
  const workers = ['w0', 'w1', 'w2'];
  const now = new Date();
  for (const id of workers) {
    await store.workers.heartbeat(
      {
        worker_id: id,
        resources: { cpu_cores: 4, ram_mb: 8000, gpus: [0, 1].map((g) => ({ id: g, vram_mb: 10000, tags: [] })) },
        tags: [],
        running_ops: [],
      },
      now,
    );
  }
  const shapes = [
    { cpu_cores: 1 },
    { cpu_cores: 0.5, vram_mb: 4000 },
    { vram_mb: 3000, gpu_count: 2 },
    { ram_mb: 3000 },
  ];
  for (let i = 0; i < 60; i++) {
    await store.runs.createRun(
      createRun({ image: 'busybox', constraints: shapes[i % 4], priority: i % 3 }, null, now),
      now,
    );
  }
  const rotations = Array.from({ length: processes }, (_, i) => [...workers.slice(i % 3), ...workers.slice(0, i % 3)]);
  const claimed = (await Promise.all(rotations.map((w) => child(kind, location, w)))).flat();

  expect(claimed.length).toBeGreaterThan(0);
  expect(new Set(claimed).size).toBe(claimed.length);
  const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs.map((r) => r.id);
  expect(assigned.sort()).toEqual([...claimed].sort());
  const pending = (await store.runs.listRuns({ state: 'PENDING', limit: 1000 })).runs;
  for (const id of workers) {
    const worker = (await store.workers.getWorker(id)) as Worker;
    const free = freeCapacity(worker, await store.runs.listReservations(id));
    expect(isWithinCapacity(free)).toBe(true);
    // Filled up: nothing pending still fits, so the processes really competed for it all.
    for (const run of pending) expect(placeRun(run.constraints, worker.tags, free, 'best-fit').fits).toBe(false);
  }
}

it('several processes on one SQLite file never share a run or over-commit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyoza-race-'));
  const path = join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path });
  try {
    await race(store, 'sqlite', path, 4);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('several processes on one MongoDB-wire database never share a run or over-commit', async () => {
  const uri = process.env.GYOZA_TEST_MONGODB_URI as string;
  const dbName = `gyoza_race_${randomBytes(6).toString('hex')}`;
  const store = await openMongoStore({ uri, dbName });
  try {
    await race(store, 'mongo', `${uri}|${dbName}`, 3);
  } finally {
    await store.close();
    const c = await mongoose.createConnection(uri, { dbName }).asPromise();
    await c.dropDatabase();
    await c.close();
  }
});
