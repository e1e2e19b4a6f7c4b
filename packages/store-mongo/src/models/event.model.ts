import { type Connection, type Model, Schema } from 'mongoose';
import { type DeliveryFields, deliverySchema } from './delivery.schema';

export interface EventDocument {
  /** `<run id>:<rev>:<n>` for events of a transition (so applying it twice is harmless). */
  _id?: string;
  run_id: string;
  index: number;
  attempt: number;
  type: string;
  msg?: string | null;
  /**
   * The message as JSON text, instead of `msg`, when it holds a NUL: FerretDB's PostgreSQL
   * handler stores documents as jsonb, whose strings cannot hold one.
   */
  msg_json?: string;
  /** JSON text, like run documents, so payload keys are free. */
  payload?: string | null;
  created_at: Date;
  /** Present when the run's `event_delivery` wants this event (the outbox). */
  delivery?: DeliveryFields;
}

const schema = new Schema<EventDocument>(
  {
    _id: { type: String },
    run_id: { type: String, required: true },
    index: { type: Number, required: true },
    attempt: { type: Number, required: true },
    type: { type: String, required: true },
    msg: { type: String },
    msg_json: { type: String },
    payload: { type: String },
    created_at: { type: Date, required: true },
    delivery: { type: deliverySchema, required: false },
  },
  { versionKey: false, autoIndex: false },
);
// The unique key is what makes "last index + 1" safe between concurrent writers.
schema.index({ run_id: 1, index: 1 }, { unique: true });
// The delivery loop's scan: open deliveries by due time (events without one are left out).
schema.index({ 'delivery.status': 1, 'delivery.next_attempt_at': 1 }, { sparse: true });

export function eventModel(connection: Connection): Model<EventDocument> {
  return connection.model<EventDocument>('Event', schema, 'events');
}
