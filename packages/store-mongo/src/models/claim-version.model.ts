import { randomInt } from 'node:crypto';
import { type Connection, type Model, Schema } from 'mongoose';
import { isDuplicateKey } from '../errors';

/**
 * The claim version (`ClaimStore.claimVersion`): one document, `_id` `claims`, whose `version`
 * every run creation, applied transition and worker write sets to a fresh random value, and
 * whose `pending` changes only when a run enters PENDING (created, or a transition to it): while
 * `pending` stays put, the pending runs are those read before less those taken since, so a
 * process may keep serving claims from the head of the queue it read.
 * Random, not `$inc`: FerretDB applies an update as "read, then write", so two increments can
 * both write n + 1 and a waiter that read the first would miss the second; a fresh value
 * differs from whatever a waiter read.
 */
export interface ClaimVersionDocument {
  _id: string;
  version: number;
  pending: number;
}

const schema = new Schema<ClaimVersionDocument>(
  {
    _id: { type: String, required: true },
    version: { type: Number, required: true },
    pending: { type: Number, required: true },
  },
  { versionKey: false, autoIndex: false },
);

export function claimVersionModel(connection: Connection): Model<ClaimVersionDocument> {
  return connection.model<ClaimVersionDocument>('ClaimVersion', schema, 'claim_version');
}

const ID = 'claims';

/** Creates the document if missing (at open: concurrent upserts could insert it twice). */
export async function ensureClaimVersion(versions: Model<ClaimVersionDocument>): Promise<void> {
  try {
    await versions.create({ _id: ID, version: 0, pending: 0 });
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}

/**
 * Moves the version: something a waiting claim could take may have appeared. `enteredPending`:
 * a run became PENDING (moves `pending` too).
 */
export async function bumpClaimVersion(versions: Model<ClaimVersionDocument>, enteredPending = false): Promise<void> {
  const value = randomInt(2 ** 47);
  await versions.updateOne(
    { _id: ID },
    { $set: enteredPending ? { version: value, pending: value } : { version: value } },
  );
}

export async function readClaimVersion(
  versions: Model<ClaimVersionDocument>,
): Promise<{ version: number; pending: number }> {
  const doc = await versions.findById(ID).lean();
  return { version: doc?.version ?? 0, pending: doc?.pending ?? 0 };
}
