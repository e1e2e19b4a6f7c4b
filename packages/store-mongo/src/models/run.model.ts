import { type Connection, type Model, Schema } from 'mongoose';

/** A run: the aggregate as JSON in `doc`, plus the fields claims and listings filter on. */
export interface RunDocument {
  _id: string;
  state: string;
  priority: number;
  created_at: Date;
  definition_id?: string | null;
  worker_id?: string | null;
  not_before?: Date | null;
  idempotency_key?: string | null;
  rev: number;
  cpu_milli: number;
  ram_mb: number;
  vram_mb: number;
  gpu_count: number;
  /** `shapeKey` of the constraints (absent on runs stored before it; `openMongoStore` fills it in). */
  shape?: string;
  doc: string;
  /**
   * The creation's event drafts (JSON), written with the run: a creator that died before
   * inserting them leaves what the next writer of the run (or reader of its events) needs to
   * insert them (absent on runs stored before it).
   */
  created_events?: string;
}

const schema = new Schema<RunDocument>(
  {
    _id: { type: String, required: true },
    state: { type: String, required: true },
    priority: { type: Number, required: true },
    created_at: { type: Date, required: true },
    definition_id: { type: String },
    worker_id: { type: String },
    not_before: { type: Date },
    idempotency_key: { type: String },
    rev: { type: Number, required: true },
    cpu_milli: { type: Number, required: true },
    ram_mb: { type: Number, required: true },
    vram_mb: { type: Number, required: true },
    gpu_count: { type: Number, required: true },
    shape: { type: String },
    doc: { type: String, required: true },
    created_events: { type: String },
  },
  { versionKey: false, autoIndex: false, minimize: false },
);
// Claim order over pending runs (of the shapes that fit); listings newest first; reservations by worker; due retries.
schema.index({ state: 1, priority: -1, created_at: 1, _id: 1 });
schema.index({ state: 1, shape: 1, priority: -1, created_at: 1, _id: 1 });
schema.index({ created_at: -1, _id: -1 });
schema.index({ state: 1, created_at: -1, _id: -1 });
schema.index({ definition_id: 1, created_at: -1, _id: -1 });
schema.index({ worker_id: 1, state: 1 });
schema.index({ state: 1, not_before: 1 });
schema.index({ idempotency_key: 1 }, { unique: true, sparse: true });

export function runModel(connection: Connection): Model<RunDocument> {
  return connection.model<RunDocument>('Run', schema, 'runs');
}
