import { join } from 'node:path';
import { cancel, type OpRun } from '@gyoza/domain';
import { addRun, fitPlanner, heartbeat, temporaryDirectory } from '@gyoza/test-support';
import { openSqliteStore } from './index';

const T = new Date(Date.UTC(2026, 0, 1));

it("answers a claim version that other connections' writes move and its own do not", async () => {
  const { dir, remove } = temporaryDirectory('gyoza-own-bumps-');
  const path = join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path });
  const other = await openSqliteStore({ path });
  try {
    const own = [await store.claims.claimVersion?.()];
    const seen = [await other.claims.claimVersion?.()];
    const step = async () => {
      own.push(await store.claims.claimVersion?.());
      seen.push(await other.claims.claimVersion?.());
    };
    await store.workers.heartbeat(heartbeat('w1', { cpuCores: 4 }), T);
    await step();
    const run = await addRun(store, {}, T);
    await step();
    await store.claims.claimRuns({ worker_id: 'w1', limit: 1, now: T, plan: fitPlanner() });
    await step();
    await store.runs.saveTransition(cancel((await store.runs.getRun(run.id)) as OpRun, T), T);
    await step();
    expect(await store.workers.evictWorker('w1', new Date(T.getTime() + 1), T)).toBe(true);
    await step();
    // Each kind of write moves the other connection's version, none moves the writer's own.
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(own).size).toBe(1);

    // And the other way round: the first store sees the other's writes.
    await addRun(other, {}, T);
    expect(await store.claims.claimVersion?.()).not.toBe(own[0]);
  } finally {
    await other.close();
    await store.close();
    remove();
  }
});
