import type { Database, Statement, Transaction } from 'better-sqlite3';

/**
 * The claim version (schema step 4's `claim_version`, bumped by triggers on every run state
 * change and worker write) less the bumps of this connection's own write transactions, which
 * its process announces itself (`Scheduler.notifyRunnable`): what `claimVersion` answers, so
 * the scheduler's version poll wakes waiting claims only for other processes' changes. Each
 * write (`write`) reads the version at its start and end under its own write lock, and the
 * difference is counted only once it has committed, so the count is exact: a miscount could
 * only come from a write path that does not go through `write`, which would wake claims for
 * nothing, never miss a change.
 */
export class OwnVersionBumps {
  private own = 0;
  private readonly read: Statement<[], number>;
  /** Made once: runs the work and answers its value and the bumps it made. */
  private readonly measured: Transaction<(work: () => unknown) => [unknown, number]>;

  constructor(db: Database) {
    this.read = db.prepare<[], number>('SELECT version FROM claim_version').pluck();
    this.measured = db.transaction((work: () => unknown): [unknown, number] => {
      const before = this.version();
      const value = work();
      return [value, this.version() - before];
    });
  }

  /** Runs `work` as one IMMEDIATE transaction and, once it committed, counts its bumps as this connection's own. */
  write<T>(work: () => T): T {
    const [value, bumps] = this.measured.immediate(work);
    this.own += bumps;
    return value as T;
  }

  /** The version as other connections' writes moved it. */
  foreign(): number {
    return this.version() - this.own;
  }

  private version(): number {
    return this.read.get() ?? 0;
  }
}
