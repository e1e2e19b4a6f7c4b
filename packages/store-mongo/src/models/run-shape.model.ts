import { type Connection, type Model, Schema } from 'mongoose';
import { isDuplicateKey } from '../errors';

/**
 * A demand shape (`shapeKey`) some run was created with; `_id` is the key. Inserted before the
 * run, never updated, so a claim reads this small collection and asks `runs` only for the
 * shapes that fit the worker. Shapes are kept when their runs are gone: there are few.
 */
export interface RunShapeDocument {
  _id: string;
}

const schema = new Schema<RunShapeDocument>(
  { _id: { type: String, required: true } },
  { versionKey: false, autoIndex: false },
);

export function runShapeModel(connection: Connection): Model<RunShapeDocument> {
  return connection.model<RunShapeDocument>('RunShape', schema, 'run_shapes');
}

/** Records `shape` (once; a duplicate is someone else's insert of the same shape). */
export async function recordShape(shapes: Model<RunShapeDocument>, shape: string): Promise<void> {
  try {
    await shapes.create({ _id: shape });
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}
