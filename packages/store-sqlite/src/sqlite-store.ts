import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ValidationError } from '@gyoza/domain';
import type { Store } from '@gyoza/store';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from './checkpointer';
import { SqliteDefinitionStore } from './definition-store';
import { SqliteDeliveryStore } from './delivery-store';
import { migrate } from './migrations';
import { OwnVersionBumps } from './own-bumps';
import { SqliteRunStore } from './run-store';
import { cachePreparedStatements } from './statement-cache';
import { SqliteLeaseStore, SqliteWorkerStore } from './worker-store';

export interface SqliteStoreOptions {
  /** Database file, or `:memory:`; its directory is created when missing (required). */
  path: string;
  /**
   * How long a writer waits for another process's lock before failing.
   * @defaultValue 5000
   */
  busyTimeoutMs?: number;
  /**
   * Checkpoint the WAL from a worker thread (see `BackgroundCheckpointer`) rather than inside
   * the commits of requests. Started after 100 commits of runs, so short-lived stores never
   * start one; off for `:memory:`.
   * @defaultValue `{ intervalMs: 200, afterCommits: 100 }`
   */
  backgroundCheckpoints?: false | { intervalMs?: number; afterCommits?: number };
}

/** SQLite's own checkpoint threshold when no thread does it (see the comment where it is set). */
const FOREGROUND_CHECKPOINT_PAGES = 8000;
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * The embedded default store: one SQLite file in WAL mode, safe to share between several
 * server processes (every write is one IMMEDIATE transaction; readers never block).
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (typeof options.path !== 'string' || options.path.trim() === '') {
    throw ValidationError.field('path', 'must be the path of the database file');
  }
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw ValidationError.field('busyTimeoutMs', 'must be a non-negative integer (milliseconds)');
  }
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new Database(options.path);
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the tail).
    db.pragma('synchronous = NORMAL');
    // A checkpoint (copying the WAL into the database, with an fsync) every 8000 pages (about
    // 32 MB) rather than SQLite's 1000: pages written over and over (the pending index, a
    // run's row as it moves) are copied once per checkpoint, so small write transactions
    // run about 1.6x as fast on this machine. journal_size_limit truncates a WAL that grew
    // past 64 MB (a long reader held checkpoints back) once it is checkpointed.
    db.pragma(`wal_autocheckpoint = ${FOREGROUND_CHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  const background = options.backgroundCheckpoints ?? {};
  const checkpointer =
    background === false || options.path === ':memory:'
      ? undefined
      : new BackgroundCheckpointer(db, {
          path: options.path,
          intervalMs: background.intervalMs ?? 200,
          afterCommits: background.afterCommits ?? 100,
          // About 16 MB of WAL.
          restartFrames: 4096,
          foregroundPages: FOREGROUND_CHECKPOINT_PAGES,
          // About 400 MB: reached only if the thread stalls.
          backstopPages: 100_000,
          journalSizeLimit: JOURNAL_SIZE_LIMIT,
        });
  const versions = new OwnVersionBumps(db);
  const deliveries = new SqliteDeliveryStore(db);
  const runs = new SqliteRunStore(db, deliveries, versions, () => checkpointer?.noteCommit());
  const definitions = new SqliteDefinitionStore(db);
  const workers = new SqliteWorkerStore(db, versions);
  const leases = new SqliteLeaseStore(db);
  // After the constructors: the statements they prepare and keep (some plucked) stay their
  // own; only what is prepared per call from here on is shared through the cache.
  cachePreparedStatements(db);
  return {
    kind: 'sqlite',
    definitions,
    runs,
    claims: runs,
    workers,
    leases,
    deliveries,
    async close() {
      // Writes asked for in this turn are answered as committed, not refused for a closed file.
      runs.flushWrites();
      await checkpointer?.close();
      if (db.open) db.close();
    },
  };
}
