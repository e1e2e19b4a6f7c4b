import { randomInt, randomUUID } from 'node:crypto';
import { type Connection, type Model, Schema } from 'mongoose';

/**
 * The claim version (`ClaimStore.claimVersion`), one document per store connection (`_id` its
 * own random id): every run creation, applied transition and worker write of that connection
 * sets its `version` to a fresh random value, and its `pending` too when a run entered PENDING
 * (created, or a transition to it). `at` is the wall-clock time of its last write.
 * Random, not `$inc`: FerretDB applies an update as "read, then write", so two increments can
 * both write n + 1 and a waiter that read the first would miss the second; a fresh value
 * differs from whatever a waiter read.
 * One document per connection, not one shared: a connection's own writes are announced by
 * its process (`Scheduler.notifyRunnable`), so its waiting claims poll only the others'
 * documents and do not all look again after each of its own creates.
 */
export interface ClaimVersionDocument {
  _id: string;
  version: number;
  pending?: number;
  /** Absent on the single shared document (`_id` `claims`) of stores before this one. */
  at?: Date;
}

const schema = new Schema<ClaimVersionDocument>(
  {
    _id: { type: String, required: true },
    version: { type: Number, required: true },
    pending: { type: Number },
    at: { type: Date },
  },
  { versionKey: false, autoIndex: false },
);

export function claimVersionModel(connection: Connection): Model<ClaimVersionDocument> {
  return connection.model<ClaimVersionDocument>('ClaimVersion', schema, 'claim_version');
}

/** Values are below 2^47; sums are kept below it too, so they stay exact doubles. */
const MODULUS = 2 ** 47;
/** A connection's document unwritten this long belongs to a process gone long ago. */
const STALE_MS = 24 * 60 * 60 * 1000;

/** What a claim batch and a version poll read: every connection's documents at once. */
export interface ClaimVersionReading {
  /** Changes when another connection writes (a sum of their versions, mod 2^47). */
  foreign: number;
  /** Changes when a run enters PENDING through any connection, this one included. */
  pending: number;
}

/** This connection's document in `claim_version`, and the reading of all of them. */
export class ClaimVersions {
  private readonly id = `connection-${randomUUID()}`;

  constructor(private readonly model: Model<ClaimVersionDocument>) {}

  /**
   * Writes this connection's document (its arrival moves the others' readings once) and drops
   * the documents no connection has written for a day.
   */
  async open(): Promise<void> {
    await this.model.deleteMany({ at: { $lt: new Date(Date.now() - STALE_MS) } });
    await this.bump(true);
  }

  /**
   * Moves this connection's version: something a waiting claim could take may have appeared.
   * `enteredPending`: a run became PENDING (moves `pending` too).
   */
  async bump(enteredPending = false): Promise<void> {
    const value = randomInt(MODULUS);
    await this.model.updateOne(
      { _id: this.id },
      {
        $set: enteredPending ? { version: value, pending: value, at: new Date() } : { version: value, at: new Date() },
      },
      // Written again if another process took it for stale (a connection idle for a day).
      { upsert: true },
    );
  }

  async read(): Promise<ClaimVersionReading> {
    const docs = await this.model.find({}, { version: 1, pending: 1 }).lean();
    let foreign = 0;
    let pending = 0;
    for (const doc of docs) {
      if (doc._id !== this.id) foreign = (foreign + doc.version) % MODULUS;
      pending = (pending + (doc.pending ?? 0)) % MODULUS;
    }
    return { foreign, pending };
  }
}
