import { type Connection, type Model, Schema } from 'mongoose';

export interface WorkerDocument {
  _id: string;
  status: string;
  last_heartbeat_at: Date;
  doc: string;
}

const schema = new Schema<WorkerDocument>(
  {
    _id: { type: String, required: true },
    status: { type: String, required: true },
    last_heartbeat_at: { type: Date, required: true },
    doc: { type: String, required: true },
  },
  { versionKey: false, autoIndex: false },
);
schema.index({ status: 1, _id: 1 });

export function workerModel(connection: Connection): Model<WorkerDocument> {
  return connection.model<WorkerDocument>('Worker', schema, 'workers');
}
