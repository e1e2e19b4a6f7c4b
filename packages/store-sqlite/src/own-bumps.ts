import type { Database, Statement } from 'better-sqlite3';

/**
 * The claim version (schema step 4's `claim_version`, bumped by triggers on every run state
 * change and worker write) less the bumps of this connection's own write transactions, which
 * its process announces itself (`Scheduler.notifyRunnable`): what `claimVersion` answers, so
 * the scheduler's version poll wakes waiting claims only for other processes' changes. Each
 * counted transaction reads the version at its start and end under its own write lock, and the
 * difference is added only once it has committed, so the count is exact: a miscount could only
 * come from an uncounted write path, which would wake claims for nothing, never miss a change.
 */
export class OwnVersionBumps {
  private own = 0;
  private readonly read: Statement<[], number>;

  constructor(db: Database) {
    this.read = db.prepare<[], number>('SELECT version FROM claim_version').pluck();
  }

  /** Inside a write transaction: runs `work` and answers its value and the bumps it made. */
  measure<T>(work: () => T): [T, number] {
    const before = this.version();
    const value = work();
    return [value, this.version() - before];
  }

  /** After the transaction has committed: counts its bumps as this process's own. */
  add(bumps: number): void {
    this.own += bumps;
  }

  /** The version as other connections' writes moved it. */
  foreign(): number {
    return this.version() - this.own;
  }

  private version(): number {
    return this.read.get() ?? 0;
  }
}
