import { type Connection, type Model, Schema } from 'mongoose';

export interface DefinitionDocument {
  id: string;
  version: string;
  created_at: Date;
  doc: string;
}

const schema = new Schema<DefinitionDocument>(
  {
    id: { type: String, required: true },
    version: { type: String, required: true },
    created_at: { type: Date, required: true },
    doc: { type: String, required: true },
  },
  { versionKey: false, autoIndex: false },
);
schema.index({ id: 1, version: 1 }, { unique: true });
schema.index({ id: 1, created_at: -1, version: -1 });

export function definitionModel(connection: Connection): Model<DefinitionDocument> {
  return connection.model<DefinitionDocument>('Definition', schema, 'definitions');
}
