import { join } from 'node:path';
import { createRun } from '@gyoza/domain';
import {
  addRun,
  expectWorkersFilled,
  heartbeat,
  requireBuilt,
  runNode,
  runNodeForJson,
  type TemporaryDirectory,
  temporaryDirectory,
} from '@gyoza/test-support';
import Database from 'better-sqlite3';
import { openSqliteStore, SCHEMA_VERSION } from './index';

// The children run the compiled package, as a deployed server would.
const fixture = (script: string) => join(__dirname, '..', 'fixtures', script);
beforeAll(() => requireBuilt(join(__dirname, '..', 'dist', 'index.js')));

let temporary: TemporaryDirectory;
let dir: string;
beforeEach(() => {
  temporary = temporaryDirectory('gyoza-sqlite-proc-');
  dir = temporary.dir;
});
afterEach(() => temporary.remove());

it('lets a process that never closes its store exit: the checkpoint thread does not hold it', async () => {
  // Without it the child would never exit and this test would time out.
  const answer = await runNodeForJson<{ checkpointed: boolean }>(fixture('leave-store-open.js'), [
    join(dir, 'open.db'),
  ]);
  expect(answer).toEqual({ checkpointed: true });
}, 60_000);

it('keeps every acknowledged run when the writer is killed with SIGKILL', async () => {
  const path = join(dir, 'crash.db');
  const { child, stdout: output } = runNode(fixture('write-runs.js'), [path]);
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
  const children = Array.from({ length: 5 }, () => runNode(fixture('open-store.js'), [path]));
  const ids = await Promise.all(children.map((c) => c.stdout));
  expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0, 0]);

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
    await store.workers.heartbeat(heartbeat(id, { cpuCores: 6, ramMb: 8000, gpus: [8000] }), now);
  }
  for (let i = 0; i < 120; i++) {
    const constraints = i % 2 ? { cpu_cores: 1 } : { cpu_cores: 0.5, vram_mb: 3000 };
    await addRun(store, { constraints, priority: i % 4 }, now);
  }
  const children = [0, 1, 2, 3].map((i) =>
    runNodeForJson<string[]>(fixture('claim-runs.js'), [path, [...workers.slice(i), ...workers.slice(0, i)].join(',')]),
  );
  const claimed = (await Promise.all(children)).flat();

  expect(claimed.length).toBeGreaterThan(0);
  expect(new Set(claimed).size).toBe(claimed.length);
  const assigned = (await store.runs.listRuns({ state: 'ASSIGNED', limit: 1000 })).runs.map((r) => r.id);
  expect(assigned.sort()).toEqual([...claimed].sort());
  const pending = (await store.runs.listRuns({ state: 'PENDING', limit: 1000 })).runs;
  expect(pending.length).toBe(120 - claimed.length);
  // Every worker was filled: no pending run fits anywhere, so the processes competed for all of it.
  await expectWorkersFilled(store, workers, 'direct');
  await store.close();
});
