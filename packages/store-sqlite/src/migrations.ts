import type { Database } from 'better-sqlite3';

/**
 * Schema versions, applied in order at open. Never edit a released step: add a new one.
 * Runs keep their whole aggregate as JSON in `doc`, plus the scalar columns the hot paths
 * filter and sort on.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE definitions (
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (id, version)
  );
  CREATE INDEX definitions_latest ON definitions (id, created_at DESC, version DESC);

  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    definition_id TEXT,
    worker_id TEXT,
    not_before INTEGER,
    idempotency_key TEXT UNIQUE,
    rev INTEGER NOT NULL,
    cpu_milli INTEGER NOT NULL,
    ram_mb INTEGER NOT NULL,
    vram_mb INTEGER NOT NULL,
    gpu_count INTEGER NOT NULL,
    doc TEXT NOT NULL
  );
  -- The claim path walks only pending runs, in claim order, whatever the history size.
  CREATE INDEX runs_pending ON runs (priority DESC, created_at, id) WHERE state = 'PENDING';
  CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
  CREATE INDEX runs_state_created ON runs (state, created_at DESC, id DESC);
  CREATE INDEX runs_definition_created ON runs (definition_id, created_at DESC, id DESC);
  CREATE INDEX runs_worker ON runs (worker_id, state) WHERE worker_id IS NOT NULL;
  CREATE INDEX runs_due ON runs (not_before) WHERE not_before IS NOT NULL;

  CREATE TABLE events (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    type TEXT NOT NULL,
    msg TEXT,
    payload TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
  ) WITHOUT ROWID;

  CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    last_heartbeat_at INTEGER NOT NULL,
    doc TEXT NOT NULL
  );

  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  `,
  `
  -- The webhook outbox: written in the transaction that appends the event.
  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    event_index INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failing');
  CREATE INDEX deliveries_run ON deliveries (run_id, event_index);
  CREATE INDEX deliveries_status ON deliveries (status, updated_at DESC);
  `,
  `
  -- A delivery's lease lives on its row (claimDue sets it, recordAttempt clears it), so
  -- claims leave nothing behind.
  ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
  ALTER TABLE deliveries ADD COLUMN leased_by TEXT;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the file up to the latest schema, recording each applied step in `schema_version`.
 * BEGIN IMMEDIATE takes the write lock before the version is read, so when several processes
 * open a new file at once each step is applied exactly once.
 */
export function migrate(db: Database, now: Date = new Date()): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    let current = schemaVersion(db);
    if (current === 0) {
      // Files made before the table existed recorded their version in user_version only.
      const legacy = db.pragma('user_version', { simple: true }) as number;
      for (let version = 1; version <= legacy; version++) record(db, version, now);
      current = legacy;
    }
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this gyoza supports (${MIGRATIONS.length}); upgrade gyoza`,
      );
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      db.exec(MIGRATIONS[version - 1]);
      record(db, version, now);
    }
  }).immediate();
}

/** The highest applied schema step, 0 for a new file. */
export function schemaVersion(db: Database): number {
  const row = db.prepare<[], { version: number | null }>('SELECT MAX(version) AS version FROM schema_version').get();
  return row?.version ?? 0;
}

function record(db: Database, version: number, now: Date): void {
  db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(version, now.getTime());
}
