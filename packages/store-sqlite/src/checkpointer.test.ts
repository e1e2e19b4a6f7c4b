import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRun } from '@gyoza/domain';
import { describeStoreContract, temporaryDirectory } from '@gyoza/test-support';
import { openSqliteStore } from './index';

const T0 = new Date(Date.UTC(2026, 0, 1));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('background checkpoints', () => {
  let dir: string;
  let remove: () => void;

  beforeEach(() => {
    ({ dir, remove } = temporaryDirectory('gyoza-checkpoint-'));
  });

  afterEach(() => remove());

  async function createRuns(store: Awaited<ReturnType<typeof openSqliteStore>>, count: number) {
    for (let i = 0; i < count; i++) {
      await store.runs.createRun(createRun({ image: 'busybox', inputs: { i } }, null, T0), T0);
    }
  }

  it('copies committed pages into the database file from the thread, and closes its connection with the store', async () => {
    const path = join(dir, 'gyoza.db');
    const store = await openSqliteStore({ path, backgroundCheckpoints: { intervalMs: 20, afterCommits: 1 } });
    const before = statSync(path).size;
    // Far below the main connection's backstop (100,000 pages): only the thread checkpoints.
    await createRuns(store, 50);
    await until(() => statSync(path).size > before, 'the database file to receive the checkpointed pages');
    expect((await store.runs.listRuns({ limit: 100 })).runs).toHaveLength(50);
    await store.close();
    // SQLite removes the WAL when the last connection closes: the thread's is closed too.
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = await openSqliteStore({ path });
    expect((await again.runs.listRuns({ limit: 100 })).runs).toHaveLength(50);
    await again.close();
  });

  it('starts no thread for a store that commits less than afterCommits', async () => {
    const path = join(dir, 'gyoza.db');
    const store = await openSqliteStore({ path, backgroundCheckpoints: { intervalMs: 20, afterCommits: 1000 } });
    const before = statSync(path).size;
    await createRuns(store, 20);
    // Nothing checkpoints (the thread has not started, the foreground threshold is 8000 pages),
    // so the file keeps its size however long we look; a short look is enough to catch a start.
    await new Promise((r) => setTimeout(r, 200));
    expect(statSync(path).size).toBe(before);
    await store.close();
  });
});

describeStoreContract('sqlite, checkpointing in the background from the first commit', async () => {
  const { dir, remove } = temporaryDirectory('gyoza-sqlite-bg-');
  const path = join(dir, 'gyoza.db');
  return {
    open: () => openSqliteStore({ path, backgroundCheckpoints: { intervalMs: 5, afterCommits: 1 } }),
    destroy: async () => remove(),
  };
});
