import { join } from 'node:path';
import { createRun } from '@gyoza/domain';
import { temporaryDirectory } from '@gyoza/test-support';
import Database from 'better-sqlite3';
import { openSqliteStore } from './index';

const T0 = new Date(Date.UTC(2026, 0, 1));

it('fails a whole group of writes with its error, and commits none, when one write undoes the transaction', async () => {
  const { dir, remove } = temporaryDirectory('gyoza-grouped-');
  const path = join(dir, 'gyoza.db');
  const store = await openSqliteStore({ path });
  try {
    // Some errors undo the whole transaction, not the savepoint of the write that met them (an
    // I/O error, a full disk): a trigger's RAISE(ROLLBACK) does so on demand, here for priority 7.
    const other = new Database(path);
    other.exec(`CREATE TRIGGER undo_all BEFORE INSERT ON runs WHEN new.priority = 7
      BEGIN SELECT RAISE(ROLLBACK, 'the whole transaction was undone'); END`);
    other.close();
    const create = (priority: number) => store.runs.createRun(createRun({ image: 'busybox', priority }, null, T0), T0);
    const version = await store.claims.claimVersion?.();

    // Asked in one turn, the four commit (or not) as one group.
    const results = await Promise.allSettled([create(1), create(7), create(2), create(3)]);

    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'created'))).toEqual(
      Array(4).fill('the whole transaction was undone'),
    );
    // None is in the database: not the one before (undone with the transaction), nor those after
    // (they did not run on their own, outside it).
    expect((await store.runs.listRuns({})).runs).toEqual([]);
    expect((await store.runs.countRunsByState()).PENDING).toBe(0);
    // Nothing this connection wrote counts as another's change.
    expect(await store.claims.claimVersion?.()).toBe(version);

    // The store goes on: the next group commits.
    const { run } = await create(4);
    expect((await store.runs.listRuns({})).runs.map((r) => r.id)).toEqual([run.id]);
  } finally {
    await store.close();
    remove();
  }
});

it('commits the writes asked for in the turn the store is closed in', async () => {
  const { dir, remove } = temporaryDirectory('gyoza-grouped-');
  const path = join(dir, 'gyoza.db');
  try {
    const store = await openSqliteStore({ path });
    const asked = store.runs.createRun(createRun({ image: 'busybox' }, null, T0), T0);
    await store.close();
    const { run } = await asked;
    const again = await openSqliteStore({ path });
    expect((await again.runs.getRun(run.id))?.id).toBe(run.id);
    await again.close();
  } finally {
    remove();
  }
});
