import { type Connection, type Model, Schema } from 'mongoose';

/** A named lease (reaper leadership, per-worker claim lock); `_id` is the name. */
export interface LeaseDocument {
  _id: string;
  holder: string;
  expires_at: Date;
  /** Bumped on every change of holder; the takeover of epoch n + 1 is a token. */
  epoch: number;
}

const schema = new Schema<LeaseDocument>(
  {
    _id: { type: String, required: true },
    holder: { type: String, required: true },
    expires_at: { type: Date, required: true },
    epoch: { type: Number, required: true },
  },
  { versionKey: false, autoIndex: false },
);

export function leaseModel(connection: Connection): Model<LeaseDocument> {
  return connection.model<LeaseDocument>('Lease', schema, 'leases');
}
