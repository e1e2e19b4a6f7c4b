import { type Connection, type Model, Schema } from 'mongoose';

/**
 * A committed revision of a run: `_id` is `<run id>:<rev>`, so inserting it is the
 * compare-and-set (only one writer can create revision n + 1). It carries the whole new
 * run and the events of the transition, so any process can finish applying it.
 */
export interface RevisionDocument {
  _id: string;
  run_id: string;
  rev: number;
  doc: string;
  /** JSON array of event drafts. */
  events: string;
  created_at: Date;
}

const schema = new Schema<RevisionDocument>(
  {
    _id: { type: String, required: true },
    run_id: { type: String, required: true },
    rev: { type: Number, required: true },
    doc: { type: String, required: true },
    events: { type: String, required: true },
    created_at: { type: Date, required: true },
  },
  { versionKey: false, autoIndex: false },
);

// The outbox's roll-forward reads the revisions committed since a time.
schema.index({ created_at: 1 });

export function revisionModel(connection: Connection): Model<RevisionDocument> {
  return connection.model<RevisionDocument>('Revision', schema, 'run_revisions');
}
