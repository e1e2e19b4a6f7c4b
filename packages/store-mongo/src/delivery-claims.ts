import type { Model } from 'mongoose';
import { isDuplicateKey } from './errors';
import type { DeliveryClaimDocument } from './models/delivery-claim.model';

/**
 * Per-attempt claim documents (`delivery_claims`), taken by inserts only. A claim for attempt
 * `a` of delivery `d` is `d:a:0`; an expired one is taken over by inserting `d:a:<t + 1>`, so
 * one contender wins each step. Documents of an attempt stay while the attempt is open (a
 * contender that read takeover t must still collide with t + 1) and are deleted once its
 * outcome is recorded: the delivery's `attempts` has moved on by then, so a sender that
 * listed it before and claims `d:a:0` again finds the delivery changed when it reads it back.
 */
export class MongoDeliveryClaims {
  constructor(private readonly claims: Model<DeliveryClaimDocument>) {}

  /** Inserts a claim on attempt `attempts` of `id` for `holder`: its `_id`, or null when another holds it. */
  async take(id: string, attempts: number, holder: string, leaseMs: number, now: Date): Promise<string | null> {
    const expires_at = new Date(now.getTime() + leaseMs);
    const first = await this.insert({ delivery_id: id, attempts, takeover: 0, holder, expires_at });
    if (first !== null) return first;
    const latest = await this.claims
      .findOne({ delivery_id: id, attempts }, { takeover: 1, expires_at: 1 })
      .sort({ takeover: -1 })
      .lean();
    // None: deleted since our insert collided (the attempt was recorded); the next poll sees it.
    if (!latest || latest.expires_at > now) return null;
    return this.insert({ delivery_id: id, attempts, takeover: latest.takeover + 1, holder, expires_at });
  }

  /** Drops one claim by its id (its attempt's outcome was not recorded: the delivery changed). */
  async dropClaim(claimId: string): Promise<void> {
    await this.claims.deleteOne({ _id: claimId });
  }

  /** Drops `holder`'s claim (a claim given back without an attempt, or one found stale). */
  async release(id: string, holder: string): Promise<void> {
    await this.claims.deleteMany({ delivery_id: id, holder });
  }

  /**
   * After an attempt's outcome is written: the claims of that attempt and earlier ones go.
   * `held`, the claim the recording sender won untaken-over, is deleted by `_id` alone (one
   * point write); other claims of the attempt, left by senders whose lease ran out, are
   * expired and go with the next `sweep`.
   */
  async clear(id: string, recordedAttempts: number, held?: string): Promise<void> {
    if (held?.endsWith(':0')) await this.claims.deleteOne({ _id: held });
    else await this.claims.deleteMany({ delivery_id: id, attempts: { $lt: recordedAttempts } });
  }

  async count(): Promise<number> {
    return this.claims.countDocuments({});
  }

  /**
   * Deletes expired claims whose attempt is no longer the delivery's current one (a sender
   * died between recording the outcome and clearing its claim). `currentAttempts` answers the
   * delivery's `attempts` now, or null when it is closed or gone.
   */
  async sweep(now: Date, currentAttempts: (id: string) => Promise<number | null>): Promise<number> {
    const expired = await this.claims.find({ expires_at: { $lte: now } }, { delivery_id: 1, attempts: 1 }).lean();
    let swept = 0;
    for (const claim of expired) {
      const current = await currentAttempts(claim.delivery_id);
      if (current === claim.attempts) continue; // still the open attempt: its takeovers need it
      swept += (await this.claims.deleteOne({ _id: claim._id })).deletedCount;
    }
    return swept;
  }

  private async insert(fields: Omit<DeliveryClaimDocument, '_id'>): Promise<string | null> {
    const _id = `${fields.delivery_id}:${fields.attempts}:${fields.takeover}`;
    try {
      await this.claims.create({ _id, ...fields });
      return _id;
    } catch (error) {
      if (isDuplicateKey(error)) return null;
      throw error;
    }
  }
}
