import { type Connection, type Model, Schema } from 'mongoose';

/**
 * A sender's lease on one attempt of one delivery. `_id` is `<delivery id>:<attempts>:<takeover>`:
 * inserting it is the claim (FerretDB applies inserts against a unique key atomically, not
 * conditional updates). Taking over an expired claim inserts the next takeover. The documents
 * of an attempt are deleted once its outcome is recorded, so they do not pile up.
 */
export interface DeliveryClaimDocument {
  _id: string;
  delivery_id: string;
  /** The delivery's `attempts` when claimed: the attempt this claim is for. */
  attempts: number;
  takeover: number;
  holder: string;
  expires_at: Date;
}

const schema = new Schema<DeliveryClaimDocument>(
  {
    _id: { type: String, required: true },
    delivery_id: { type: String, required: true },
    attempts: { type: Number, required: true },
    takeover: { type: Number, required: true },
    holder: { type: String, required: true },
    expires_at: { type: Date, required: true },
  },
  { versionKey: false, autoIndex: false },
);
schema.index({ delivery_id: 1, attempts: 1, takeover: -1 });

export function deliveryClaimModel(connection: Connection): Model<DeliveryClaimDocument> {
  return connection.model<DeliveryClaimDocument>('DeliveryClaim', schema, 'delivery_claims');
}
