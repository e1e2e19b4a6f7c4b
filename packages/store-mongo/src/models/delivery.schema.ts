import { Schema } from 'mongoose';

/**
 * An event's webhook delivery, kept inside the event document: inserting the event is the
 * one atomic step that commits both, so no stored event lacks the delivery it asked for.
 */
export interface DeliveryFields {
  event_type: string;
  url: string;
  secret?: string | null;
  /** The JSON body sent on every attempt. */
  body: string;
  status: string;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at?: Date | null;
  last_status_code?: number | null;
  last_error?: string | null;
  delivered_at?: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const deliverySchema = new Schema<DeliveryFields>(
  {
    event_type: { type: String, required: true },
    url: { type: String, required: true },
    secret: { type: String },
    body: { type: String, required: true },
    status: { type: String, required: true },
    attempts: { type: Number, required: true },
    next_attempt_at: { type: Date, required: true },
    last_attempt_at: { type: Date },
    last_status_code: { type: Number },
    last_error: { type: String },
    delivered_at: { type: Date },
    created_at: { type: Date, required: true },
    updated_at: { type: Date, required: true },
  },
  { _id: false, versionKey: false },
);
