import { runIdHash } from '@gyoza/domain';
import { receiverOf } from '@gyoza/store';
import type { Database } from 'better-sqlite3';

/**
 * The SQL functions the triggers call, registered on a connection before anything writes
 * through it: `gyoza_run_hash(id)` (the domain's `runIdHash`, as a signed 64-bit integer) and
 * the aggregate `gyoza_run_digest(id)` (their XOR; 0 for none); `gyoza_receiver(url)` for
 * step 9 (`receiverOf`).
 */
export function sqlFunctions(db: Database): void {
  db.function('gyoza_receiver', { deterministic: true }, (url: unknown) => receiverOf(String(url)));
  db.function('gyoza_run_hash', { deterministic: true }, (id: unknown) => BigInt.asIntN(64, runIdHash(String(id))));
  db.aggregate('gyoza_run_digest', {
    start: 0n,
    step: (xor: bigint, id: unknown) => xor ^ runIdHash(String(id)),
    result: (xor: bigint) => BigInt.asIntN(64, xor),
  });
}

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
  `
  -- Claims that stay flat. Pending runs are grouped by demand shape (shapeKey in
  -- @gyoza/store: CPU, RAM, GPU count, VRAM, tags), so a claim reads only the shapes that fit
  -- the worker; what each worker holds, the run count per state and a version that changes with
  -- every state change are kept by triggers, in the same transaction as the change itself,
  -- whichever process makes it. Shapes written here list tags as stored; the code sorts them,
  -- which at worst splits one demand over two keys.
  ALTER TABLE runs ADD COLUMN shape TEXT NOT NULL DEFAULT '';
  UPDATE runs SET shape = json_array(cpu_milli, ram_mb, gpu_count, vram_mb,
    json_extract(doc, '$.constraints.worker_tags'), json_extract(doc, '$.constraints.gpu_tags'));
  CREATE INDEX runs_pending_shape ON runs (shape, priority DESC, created_at, id) WHERE state = 'PENDING';

  CREATE TABLE pending_shapes (shape TEXT PRIMARY KEY, pending INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO pending_shapes SELECT shape, COUNT(*) FROM runs WHERE state = 'PENDING' GROUP BY shape;

  CREATE TABLE run_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO run_counts SELECT state, COUNT(*) FROM runs GROUP BY state;

  -- Per worker: gpu_id -1 holds the CPU, RAM and run totals, other rows the VRAM per GPU.
  CREATE TABLE held (
    worker_id TEXT NOT NULL,
    gpu_id INTEGER NOT NULL,
    cpu_milli INTEGER NOT NULL,
    ram_mb INTEGER NOT NULL,
    vram_mb INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    PRIMARY KEY (worker_id, gpu_id)
  ) WITHOUT ROWID;
  INSERT INTO held SELECT worker_id, -1, SUM(cpu_milli), SUM(ram_mb), 0, COUNT(*) FROM runs
    WHERE state IN ('ASSIGNED', 'RUNNING') AND worker_id IS NOT NULL GROUP BY worker_id;
  INSERT INTO held SELECT runs.worker_id, g.value, 0, 0, SUM(runs.vram_mb), 0
    FROM runs, json_each(runs.doc, '$.gpu_ids') AS g
    WHERE runs.state IN ('ASSIGNED', 'RUNNING') AND runs.worker_id IS NOT NULL GROUP BY runs.worker_id, g.value;

  CREATE TABLE claim_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
  INSERT INTO claim_version VALUES (1, 0);

  CREATE TRIGGER runs_inserted AFTER INSERT ON runs BEGIN
    INSERT INTO run_counts (state, n) VALUES (new.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
    UPDATE claim_version SET version = version + 1;
  END;
  CREATE TRIGGER runs_inserted_pending AFTER INSERT ON runs WHEN new.state = 'PENDING' BEGIN
    INSERT INTO pending_shapes (shape, pending) VALUES (new.shape, 1)
      ON CONFLICT (shape) DO UPDATE SET pending = pending + 1;
  END;
  CREATE TRIGGER runs_inserted_held AFTER INSERT ON runs WHEN new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL BEGIN
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs)
      VALUES (new.worker_id, -1, new.cpu_milli, new.ram_mb, 0, 1)
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET cpu_milli = cpu_milli + excluded.cpu_milli,
        ram_mb = ram_mb + excluded.ram_mb, runs = runs + 1;
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs)
      SELECT new.worker_id, value, 0, 0, new.vram_mb, 0 FROM json_each(new.doc, '$.gpu_ids') WHERE true
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET vram_mb = vram_mb + excluded.vram_mb;
  END;
  CREATE TRIGGER runs_state_changed AFTER UPDATE OF state ON runs WHEN new.state <> old.state BEGIN
    UPDATE run_counts SET n = n - 1 WHERE state = old.state;
    INSERT INTO run_counts (state, n) VALUES (new.state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
    UPDATE claim_version SET version = version + 1;
  END;
  CREATE TRIGGER runs_left_shape AFTER UPDATE ON runs
    WHEN old.state = 'PENDING' AND (new.state <> 'PENDING' OR new.shape <> old.shape) BEGIN
    UPDATE pending_shapes SET pending = pending - 1 WHERE shape = old.shape;
  END;
  CREATE TRIGGER runs_entered_shape AFTER UPDATE ON runs
    WHEN new.state = 'PENDING' AND (old.state <> 'PENDING' OR new.shape <> old.shape) BEGIN
    INSERT INTO pending_shapes (shape, pending) VALUES (new.shape, 1)
      ON CONFLICT (shape) DO UPDATE SET pending = pending + 1;
  END;
  CREATE TRIGGER runs_released AFTER UPDATE ON runs
    WHEN old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL AND NOT (new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL AND (new.worker_id IS old.worker_id AND new.cpu_milli = old.cpu_milli AND new.ram_mb = old.ram_mb AND new.vram_mb = old.vram_mb AND json_extract(new.doc, '$.gpu_ids') IS json_extract(old.doc, '$.gpu_ids'))) BEGIN
    UPDATE held SET cpu_milli = cpu_milli - old.cpu_milli, ram_mb = ram_mb - old.ram_mb, runs = runs - 1
      WHERE worker_id = old.worker_id AND gpu_id = -1;
    UPDATE held SET vram_mb = vram_mb - old.vram_mb
      WHERE worker_id = old.worker_id AND gpu_id IN (SELECT value FROM json_each(old.doc, '$.gpu_ids'));
  END;
  CREATE TRIGGER runs_held AFTER UPDATE ON runs
    WHEN new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL AND NOT (old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL AND (new.worker_id IS old.worker_id AND new.cpu_milli = old.cpu_milli AND new.ram_mb = old.ram_mb AND new.vram_mb = old.vram_mb AND json_extract(new.doc, '$.gpu_ids') IS json_extract(old.doc, '$.gpu_ids'))) BEGIN
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs)
      VALUES (new.worker_id, -1, new.cpu_milli, new.ram_mb, 0, 1)
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET cpu_milli = cpu_milli + excluded.cpu_milli,
        ram_mb = ram_mb + excluded.ram_mb, runs = runs + 1;
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs)
      SELECT new.worker_id, value, 0, 0, new.vram_mb, 0 FROM json_each(new.doc, '$.gpu_ids') WHERE true
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET vram_mb = vram_mb + excluded.vram_mb;
  END;
  CREATE TRIGGER runs_deleted AFTER DELETE ON runs BEGIN
    UPDATE run_counts SET n = n - 1 WHERE state = old.state;
    UPDATE claim_version SET version = version + 1;
  END;
  CREATE TRIGGER runs_deleted_pending AFTER DELETE ON runs WHEN old.state = 'PENDING' BEGIN
    UPDATE pending_shapes SET pending = pending - 1 WHERE shape = old.shape;
  END;
  CREATE TRIGGER runs_deleted_held AFTER DELETE ON runs WHEN old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL BEGIN
    UPDATE held SET cpu_milli = cpu_milli - old.cpu_milli, ram_mb = ram_mb - old.ram_mb, runs = runs - 1
      WHERE worker_id = old.worker_id AND gpu_id = -1;
    UPDATE held SET vram_mb = vram_mb - old.vram_mb
      WHERE worker_id = old.worker_id AND gpu_id IN (SELECT value FROM json_each(old.doc, '$.gpu_ids'));
  END;
  -- A worker's capacity, tags or status may have changed: waiting claims look again.
  CREATE TRIGGER workers_inserted AFTER INSERT ON workers BEGIN
    UPDATE claim_version SET version = version + 1;
  END;
  CREATE TRIGGER workers_changed AFTER UPDATE ON workers BEGIN
    UPDATE claim_version SET version = version + 1;
  END;
  `,
  `
  -- 5: a worker's running_ops (a JSON array of run ids) beside its document, written only when
  -- it changed and read only when asked for: a worker holding thousands of runs does not
  -- re-encode them at every heartbeat nor decode them at every claim. NULL: still in the doc.
  ALTER TABLE workers ADD COLUMN running_ops TEXT;
  -- The ids a worker holds from the index alone (heartbeat reconciliation, the reaper).
  CREATE INDEX runs_held ON runs (worker_id, id, state) WHERE state IN ('ASSIGNED', 'RUNNING');
  `,
  `
  -- 6: each worker's held digest (heldRunsDigest in @gyoza/domain: the XOR of a 64-bit hash of
  -- every run id it holds; the count is held.runs), kept beside its held totals by triggers
  -- with the same conditions, so a heartbeat that sends its digest is compared in O(1).
  -- gyoza_run_hash and gyoza_run_digest are registered on every connection (sqlFunctions).
  -- XOR is (a | b) & ~(a & b): SQLite has no XOR operator.
  ALTER TABLE held ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
  UPDATE held SET digest = COALESCE((SELECT gyoza_run_digest(id) FROM runs
    WHERE runs.worker_id = held.worker_id AND runs.state IN ('ASSIGNED', 'RUNNING')), 0) WHERE gpu_id = -1;
  CREATE TRIGGER runs_inserted_digest AFTER INSERT ON runs WHEN new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL BEGIN
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs, digest)
      VALUES (new.worker_id, -1, 0, 0, 0, 0, gyoza_run_hash(new.id))
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET digest = (digest | excluded.digest) & ~(digest & excluded.digest);
  END;
  CREATE TRIGGER runs_released_digest AFTER UPDATE ON runs
    WHEN old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL AND NOT (new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL AND (new.worker_id IS old.worker_id AND new.cpu_milli = old.cpu_milli AND new.ram_mb = old.ram_mb AND new.vram_mb = old.vram_mb AND json_extract(new.doc, '$.gpu_ids') IS json_extract(old.doc, '$.gpu_ids'))) BEGIN
    UPDATE held SET digest = (digest | gyoza_run_hash(old.id)) & ~(digest & gyoza_run_hash(old.id))
      WHERE worker_id = old.worker_id AND gpu_id = -1;
  END;
  CREATE TRIGGER runs_held_digest AFTER UPDATE ON runs
    WHEN new.state IN ('ASSIGNED', 'RUNNING') AND new.worker_id IS NOT NULL AND NOT (old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL AND (new.worker_id IS old.worker_id AND new.cpu_milli = old.cpu_milli AND new.ram_mb = old.ram_mb AND new.vram_mb = old.vram_mb AND json_extract(new.doc, '$.gpu_ids') IS json_extract(old.doc, '$.gpu_ids'))) BEGIN
    INSERT INTO held (worker_id, gpu_id, cpu_milli, ram_mb, vram_mb, runs, digest)
      VALUES (new.worker_id, -1, 0, 0, 0, 0, gyoza_run_hash(new.id))
      ON CONFLICT (worker_id, gpu_id) DO UPDATE SET digest = (digest | excluded.digest) & ~(digest & excluded.digest);
  END;
  CREATE TRIGGER runs_deleted_digest AFTER DELETE ON runs WHEN old.state IN ('ASSIGNED', 'RUNNING') AND old.worker_id IS NOT NULL BEGIN
    UPDATE held SET digest = (digest | gyoza_run_hash(old.id)) & ~(digest & gyoza_run_hash(old.id))
      WHERE worker_id = old.worker_id AND gpu_id = -1;
  END;
  `,
  `
  -- 7: when a RUNNING run with a timeout_seconds times out (started_at + timeout, in ms), NULL
  -- otherwise; the reaper reads the due ones from this partial index, and the workers holding
  -- runs from held, rather than decoding every held run at every pass.
  ALTER TABLE runs ADD COLUMN timeout_at INTEGER;
  UPDATE runs SET timeout_at = CAST(ROUND((julianday(json_extract(doc, '$.started_at')) - 2440587.5) * 86400000) AS INTEGER)
    + 1000 * json_extract(doc, '$.constraints.timeout_seconds')
    WHERE state = 'RUNNING' AND json_extract(doc, '$.constraints.timeout_seconds') > 0
      AND json_extract(doc, '$.started_at') IS NOT NULL;
  CREATE INDEX runs_timeout ON runs (timeout_at) WHERE timeout_at IS NOT NULL;
  `,
  `
  -- 8: claims read pending runs through runs_pending_shape (step 4) only; the first pending
  -- index was still written by every create and every claim (~2-3 us of a ~40 us create).
  DROP INDEX IF EXISTS runs_pending;
  `,
  `
  -- 9: who each delivery goes to (receiverOf in @gyoza/store: its URL's origin), so a claim
  -- passes over the deliveries of receivers at their cap inside SQLite, not row by row in JS.
  -- Filled in for open deliveries only (a redelivery fills it in for the others), so the
  -- step costs the backlog, not the whole history. '' is no receiver: never passed over.
  ALTER TABLE deliveries ADD COLUMN receiver TEXT NOT NULL DEFAULT '';
  UPDATE deliveries SET receiver = gyoza_receiver(url) WHERE status IN ('pending', 'failing');
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the file up to the latest schema, recording each applied step in `schema_version`.
 * BEGIN IMMEDIATE takes the write lock before the version is read, so when several processes
 * open a new file at once each step is applied exactly once. `upTo` stops at an older step
 * (tests of an upgrade).
 */
export function migrate(db: Database, now: Date = new Date(), upTo: number = MIGRATIONS.length): void {
  sqlFunctions(db);
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
    for (let version = current + 1; version <= Math.min(upTo, MIGRATIONS.length); version++) {
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
