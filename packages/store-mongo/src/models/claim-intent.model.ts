import { type Connection, type Model, Schema } from 'mongoose';

/**
 * The runs a worker's claim is about to assign, written under the worker's claim lock before
 * the assignments commit. If that claimer dies between committing a revision and applying it,
 * the next claim for the worker settles these runs first, so its reservations are complete.
 */
export interface ClaimIntentDocument {
  /** The worker id. */
  _id: string;
  run_ids: string[];
  updated_at: Date;
  /** The claim that wrote it (its lock holder id); absent on intents written before it was kept. */
  holder?: string;
}

const schema = new Schema<ClaimIntentDocument>(
  {
    _id: { type: String, required: true },
    run_ids: { type: [String], required: true },
    updated_at: { type: Date, required: true },
    holder: { type: String },
  },
  { versionKey: false, autoIndex: false },
);

export function claimIntentModel(connection: Connection): Model<ClaimIntentDocument> {
  return connection.model<ClaimIntentDocument>('ClaimIntent', schema, 'claim_intents');
}
