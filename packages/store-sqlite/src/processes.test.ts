import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRun, freeCapacity, isWithinCapacity, placeRun, type Worker } from '@gyoza/domain';
import Database from 'better-sqlite3';
import { openSqliteStore, SCHEMA_VERSION } from './index';

// The children run the compiled package, as a deployed server would.
const fixtures = join(__dirname, '..', 'fixtures');
beforeAll(() => {
  if (!existsSync(join(__dirname, '..', 'dist', 'index.js'))) throw new Error('build first: pnpm build');
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gyoza-sqlite-proc-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(script: string, args: string[]): { child: ChildProcess; output: Promise<string> } {
  const child = spawn(process.execPath, [join(fixtures, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const output = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
  return { child, output };
}

it('keeps every acknowledged run when the writer is killed with SIGKILL', async () => {
  const path = join(dir, 'crash.db');
  const { child, output } = run('write-runs.js', [path]);
  await new Promise<void>((resolve) => {
    let acks = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      acks += chunk
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('ack')).length;
      if (acks >= 300 && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  const acked = (await output)
    .split('\n')
    .filter((line) => /^ack \d+$/.test(line))
    .map((line) => Number(line.slice(4)));
  expect(acked.length).toBeGreaterThanOrEqual(300);

  const db = new Database(path);
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  db.close();
  const store = await openSqliteStore({ path });
  for (const i of acked) {
    const id = `run_crash${String(i).padStart(6, '0')}`;
    const stored = await store.runs.getRun(id);
    const expected = createRun(
      { image: 'busybox', inputs: { i, text: `payload ${i} ü`, blob: 'x'.repeat(2000) }, priority: i % 7 },
      null,
      stored?.created_at ?? new Date(0),
      id,
    ).run;
    expect(stored).toStrictEqual({ ...expected, rev: 1 });
    expect((await store.runs.listEvents(id)).map((e) => e.type)).toEqual(['CREATED']);
  }
  await store.close();
});

it('migrates a new file once when several processes open it at the same time', async () => {
  const path = join(dir, 'new', 'gyoza.db');
  const children = Array.from({ length: 5 }, () => run('open-store.js', [path]));
  const codes = children.map(({ child }) => new Promise((resolve) => child.on('exit', resolve)));
  const ids = await Promise.all(children.map((c) => c.output));
  expect(await Promise.all(codes)).toEqual([0, 0, 0, 0, 0]);

  const db = new Database(path, { readonly: true });
  const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').all();
  db.close();
  expect(versions).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));
  const store = await openSqliteStore({ path });
  for (const id of ids) expect(await store.runs.getRun(id)).toMatchObject({ id, state: 'PENDING' });
  expect((await store.runs.listRuns({})).runs).toHaveLength(5);
  await store.close();
});

it('never hands one run to two processes claiming on one file', async () => {
  const path = join(dir, 'race.db');
  const store = await openSqliteStore({ path });
  const workers = ['w0', 'w1', 'w2', 'w3'];
  const now = new Date();
  for (const id of workers) {
    await store.workers.heartbeat(
      {
        worker_id: id,
        resources: { cpu_cores: 6, ram_mb: 8000, gpus: [{ id: 0, vram_mb: 8000, tags: [] }] },
        tags: [],
        running_ops: [],
      },
      now,
    );
  }
  for (let i = 0; i < 120; i++) {
    const constraints = i % 2 ? { cpu_cores: 1 } : { cpu_cores: 0.5, vram_mb: 3000 };
    await store.runs.createRun(createRun({ image: 'busybox', constraints, priority: i % 4 }, null, now), now);
  }
  const children = [0, 1, 2, 3].map((i) =>
    run('claim-runs.js', [path, [...workers.slice(i), ...workers.slice(0, i)].join(',')]),
  );
  const claimed: string[] = (await Promise.all(children.map((c) => c.output))).flatMap((out) => JSON.parse(out));

  expect(claimed.length).toBeGreaterThan(0);
  expect(new Set(claimed).size).toBe(claimed.length);
  const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs.map((r) => r.id);
  expect(assigned.sort()).toEqual([...claimed].sort());
  for (const id of workers) {
    const worker = (await store.workers.getWorker(id)) as Worker;
    expect(isWithinCapacity(freeCapacity(worker, await store.runs.listReservations(id)))).toBe(true);
  }
  // Every worker was filled: no pending run fits anywhere, so the processes competed for all of it.
  const pending = (await store.runs.listRuns({ state: 'PENDING', limit: 1000 })).runs;
  expect(pending.length).toBe(120 - claimed.length);
  for (const id of workers) {
    const worker = (await store.workers.getWorker(id)) as Worker;
    const free = freeCapacity(worker, await store.runs.listReservations(id));
    for (const run of pending) expect(placeRun(run.constraints, worker.tags, free, 'direct').fits).toBe(false);
  }
  await store.close();
});
