import type { LeaseStore } from '@gyoza/store';
import type { Model } from 'mongoose';
import { isDuplicateKey } from './errors';
import type { LeaseDocument } from './models/lease.model';
import { type TokenDocument, takeToken } from './models/token.model';

/**
 * Leases built on inserts only: the first holder inserts the lease; taking over an expired
 * or released lease means winning the token of its next epoch. Released leases are expired,
 * not deleted, so epochs keep counting up.
 */
export class MongoLeaseStore implements LeaseStore {
  constructor(
    private readonly leases: Model<LeaseDocument>,
    private readonly tokens: Model<TokenDocument>,
  ) {}

  async acquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
    const expires_at = new Date(now.getTime() + ttlMs);
    // Read first: leases are never deleted, so past its first use a lease is always there
    // and an insert would only fail (a per-claim lock is taken over on every claim).
    let lease = await this.leases.findById(name).lean();
    if (!lease) {
      try {
        await this.leases.create({ _id: name, holder, expires_at, epoch: 1 });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      lease = await this.leases.findById(name).lean();
      if (!lease) return false; // never deleted; only a concurrent first insert can get here
    }
    if (lease.holder === holder && lease.expires_at > now) {
      const renewed = await this.leases.updateOne({ _id: name, epoch: lease.epoch }, { $set: { expires_at } });
      return renewed.matchedCount === 1;
    }
    if (lease.expires_at > now) return false;
    const epoch = lease.epoch + 1;
    // A contender that took this token and died before moving the epoch would hold the lease
    // back forever: its token is dropped once older than the lease's own TTL (a take-over that
    // slow has lost its claim anyway); the epoch condition below still lets only one win.
    const staleBefore = new Date(now.getTime() - ttlMs);
    if (!(await takeToken(this.tokens, `lease:${name}:${epoch}`, now, staleBefore))) return false;
    // Conditional on the epoch read, so a contender that read long ago and finds its token
    // pruned still cannot take the lease; that makes dropping the previous token safe, which
    // keeps per-claim locks from leaving a token per claim behind.
    const taken = await this.leases.updateOne(
      { _id: name, epoch: lease.epoch },
      { $set: { holder, expires_at, epoch } },
    );
    await this.tokens.deleteOne({ _id: `lease:${name}:${lease.epoch}` });
    return taken.matchedCount === 1;
  }

  /**
   * Whether `holder` still has the lease it took: nobody took it over since (it may have run
   * out meanwhile, untaken). A lease is never held by two, so once this is false it stays false.
   */
  async holdsLease(name: string, holder: string): Promise<boolean> {
    return (await this.leases.findById(name, { holder: 1 }).lean())?.holder === holder;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.leases.updateOne({ _id: name, holder }, { $set: { expires_at: new Date(0) } });
  }
}
