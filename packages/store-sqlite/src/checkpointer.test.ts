import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRun } from '@gyoza/domain';
import { describeStoreContract, temporaryDirectory, waitFor } from '@gyoza/test-support';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer, type CheckpointerOptions } from './checkpointer';
import { openSqliteStore } from './index';

const T0 = new Date(Date.UTC(2026, 0, 1));

/** Waits (generous deadline, short polls) until `condition` holds. */
const until = (condition: () => boolean, what: string) =>
  waitFor(what, async () => condition() || undefined, { intervalMs: 10 });

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

  /** A bare WAL connection with a one-column table, and a checkpointer on it (no store around it). */
  function walDatabase(options: Partial<CheckpointerOptions> = {}) {
    const path = join(dir, 'bare.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 1000');
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
    const checkpointer = new BackgroundCheckpointer(db, {
      path,
      intervalMs: 5,
      foregroundPages: 1000,
      backstopPages: 100_000,
      afterCommits: 1,
      restartFrames: 4096,
      journalSizeLimit: 64 * 1024 * 1024,
      ...options,
    });
    const autocheckpoint = () => db.pragma('wal_autocheckpoint', { simple: true });
    return { path, db, checkpointer, autocheckpoint };
  }

  it('starts its thread at afterCommits, not before: only then does the main connection hand checkpoints over', async () => {
    const { db, checkpointer, autocheckpoint } = walDatabase({ afterCommits: 20 });
    for (let i = 0; i < 19; i++) checkpointer.noteCommit();
    // The thread starts inside noteCommit, and with it the backstop threshold: nothing to wait for.
    expect(autocheckpoint()).toBe(1000);
    checkpointer.noteCommit();
    expect(autocheckpoint()).toBe(100_000);
    await checkpointer.close();
    db.close();
  });

  /** The main connection checkpoints by itself: past its 1000 pages, its WAL is copied and restarts. */
  function expectForegroundCheckpoints(db: Database.Database) {
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
    const blob = Buffer.alloc(4096, 1);
    for (let i = 0; i < 1500; i++) insert.run(blob);
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    expect(result?.log).toBeLessThan(1500);
  }

  it('hands checkpoints back to the main connection when its thread fails', async () => {
    // The thread opens the file with fileMustExist: a path that is not there makes it fail at start.
    const { db, checkpointer, autocheckpoint } = walDatabase({ path: join(dir, 'gone', 'missing.db') });
    checkpointer.noteCommit();
    expect(autocheckpoint()).toBe(100_000);
    await until(() => autocheckpoint() === 1000, 'the foreground threshold to come back');
    expectForegroundCheckpoints(db);
    await checkpointer.close();
    db.close();
  });

  it('keeps checkpointing in the foreground when no thread can be started, and does not try again', async () => {
    // A value a thread cannot be handed makes `new Worker` throw synchronously, as it does when
    // the system is out of threads; noteCommit runs right after a COMMIT and must not throw.
    const { db, checkpointer, autocheckpoint } = walDatabase({ path: Symbol('no thread') as unknown as string });
    expect(() => checkpointer.noteCommit()).not.toThrow();
    expect(() => checkpointer.noteCommit()).not.toThrow();
    expect(autocheckpoint()).toBe(1000);
    expectForegroundCheckpoints(db);
    await checkpointer.close();
    db.close();
  });

  it('keeps the WAL from growing under a steady stream of commits: past restartFrames the main connection finishes a checkpoint and the WAL restarts', async () => {
    const { path, db, checkpointer } = walDatabase({ restartFrames: 256 });
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
    const row = Buffer.alloc(100, 7);
    const wal = () => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
    // The thread first: it has checkpointed once the database file grows.
    const before = statSync(path).size;
    insert.run(row);
    checkpointer.noteCommit();
    await until(() => statSync(path).size > before, 'the thread to checkpoint');
    // A server's stream: 12,000 commits of a page each (a frame of the WAL), each after 50 us
    // of other work, a turn of the event loop every 5 (where the thread's message is handled).
    // The thread's checkpoints never copy every frame between two commits, so without the
    // restart the WAL would grow past 12,000 frames (about 48 MB).
    const commits = 12_000;
    let largest = 0;
    for (let n = 0; n < commits; n++) {
      const busyUntil = process.hrtime.bigint() + 50_000n;
      while (process.hrtime.bigint() < busyUntil);
      insert.run(row);
      checkpointer.noteCommit();
      if (n % 5 === 4) {
        largest = Math.max(largest, wal());
        await new Promise((r) => setImmediate(r));
      }
    }
    expect(largest).toBeGreaterThan(256 * 4096);
    expect(largest).toBeLessThan((commits * 4096) / 3);
    await checkpointer.close();
    db.close();
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
