import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRun, ValidationError } from '@gyoza/domain';
import Database from 'better-sqlite3';
import { openSqliteStore, SCHEMA_VERSION } from './index';
import { migrate } from './migrations';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gyoza-sqlite-mig-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const versions = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], { version: number }>('SELECT version FROM schema_version ORDER BY version').all();
  } finally {
    db.close();
  }
};

it('creates the file and its directory, records each step once, and keeps data on reopen', async () => {
  const path = join(dir, 'a', 'b', 'gyoza.db');
  const store = await openSqliteStore({ path });
  const now = new Date(1_000);
  const { run } = await store.runs.createRun(createRun({ image: 'busybox' }, null, now), now);
  await store.close();
  expect(versions(path)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));

  const again = await openSqliteStore({ path });
  expect(await again.runs.getRun(run.id)).toStrictEqual(run);
  await again.close();
  expect(versions(path)).toHaveLength(SCHEMA_VERSION);

  const db = new Database(path, { readonly: true });
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  db.close();
});

it('takes over a file that recorded its version in user_version only', async () => {
  const path = join(dir, 'legacy.db');
  const db = new Database(path);
  migrate(db);
  db.exec('DROP TABLE schema_version');
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
  db.close();

  const store = await openSqliteStore({ path });
  expect(await store.runs.countRunsByState()).toMatchObject({ PENDING: 0 });
  await store.close();
  expect(versions(path)).toHaveLength(SCHEMA_VERSION);
});

it('refuses a file from a newer gyoza and leaves it as it was', async () => {
  const path = join(dir, 'future.db');
  (await openSqliteStore({ path })).close();
  const db = new Database(path);
  db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, 0)').run(SCHEMA_VERSION + 1);
  db.close();

  await expect(openSqliteStore({ path })).rejects.toThrow(
    `database schema version ${SCHEMA_VERSION + 1} is newer than this gyoza supports (${SCHEMA_VERSION})`,
  );
  expect(versions(path)).toHaveLength(SCHEMA_VERSION + 1);
});

it('refuses bad options by name and creates nothing', async () => {
  const path = join(dir, 'never', 'gyoza.db');
  await expect(openSqliteStore({ path: '' })).rejects.toThrow(ValidationError);
  await expect(openSqliteStore({ path, busyTimeoutMs: -1 })).rejects.toThrow('busyTimeoutMs');
  await expect(openSqliteStore({ path, busyTimeoutMs: 1.5 })).rejects.toThrow('busyTimeoutMs');
  expect(existsSync(join(dir, 'never'))).toBe(false);
});

it('drops the pending index no claim reads (step 8) and keeps the one by shape that claims walk', () => {
  const db = new Database(join(dir, 'gyoza.db'));
  const indexes = () =>
    db
      .prepare<[], string>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'runs_pending%' ORDER BY name",
      )
      .pluck()
      .all();
  try {
    migrate(db, new Date(0), 7);
    expect(indexes()).toEqual(['runs_pending', 'runs_pending_shape']);
    migrate(db);
    expect(indexes()).toEqual(['runs_pending_shape']);
    const plan = db
      .prepare<[], { detail: string }>(
        "EXPLAIN QUERY PLAN SELECT doc, rev FROM runs INDEXED BY runs_pending_shape WHERE state = 'PENDING' AND shape = 'x' ORDER BY priority DESC, created_at, id LIMIT 8",
      )
      .all()
      .map((row) => row.detail)
      .join('\n');
    expect(plan).toContain('runs_pending_shape');
    expect(plan).not.toContain('TEMP B-TREE');
  } finally {
    db.close();
  }
});

it('names the receiver of open deliveries (step 9), and of a closed one when it is redelivered', async () => {
  const path = join(dir, 'gyoza.db');
  const db = new Database(path);
  try {
    migrate(db, new Date(0), 8);
    const insert = db.prepare(`INSERT INTO deliveries (id, run_id, event_index, event_type, url, body, status, attempts,
      next_attempt_at, created_at, updated_at) VALUES (?, 'run_a', ?, 'CREATED', ?, '{}', ?, 0, 0, 0, 0)`);
    insert.run('run_a-1', 1, 'https://hooks.example.com:443/a?x=1', 'delivered');
    insert.run('run_a-2', 2, 'http://Hooks.Example.com:8080/b', 'pending');
    migrate(db);
    const receivers = db.prepare('SELECT id, receiver FROM deliveries ORDER BY id').all();
    // Only the backlog is rewritten: the history may be millions of rows.
    expect(receivers).toEqual([
      { id: 'run_a-1', receiver: '' },
      { id: 'run_a-2', receiver: 'http://hooks.example.com:8080' },
    ]);
  } finally {
    db.close();
  }
  const store = await openSqliteStore({ path });
  try {
    await store.deliveries.redeliver('run_a-1', new Date());
  } finally {
    await store.close();
  }
  const after = new Database(path, { readonly: true });
  try {
    expect(after.prepare("SELECT receiver FROM deliveries WHERE id = 'run_a-1'").pluck().get()).toBe(
      'https://hooks.example.com',
    );
  } finally {
    after.close();
  }
});
