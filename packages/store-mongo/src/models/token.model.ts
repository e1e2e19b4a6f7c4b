import { type Connection, type Model, Schema } from 'mongoose';
import { isDuplicateKey } from '../errors';

/**
 * A one-time token: inserting `_id` succeeds for exactly one writer. Used where a
 * conditional update would be the natural tool, because FerretDB does not apply those
 * atomically (lease takeovers, evictions).
 */
export interface TokenDocument {
  _id: string;
  created_at: Date;
}

const schema = new Schema<TokenDocument>(
  {
    _id: { type: String, required: true },
    created_at: { type: Date, required: true },
  },
  { versionKey: false, autoIndex: false },
);

export function tokenModel(connection: Connection): Model<TokenDocument> {
  return connection.model<TokenDocument>('Token', schema, 'tokens');
}

/**
 * True for the one caller that created the token. When another holds it and took it before
 * `staleBefore`, it is dropped (the caller fails this time and competes again next time): a
 * holder that died between taking a token and the write it guards (kill -9 between the two)
 * would otherwise block that write forever. The guarded write stays conditional, so a holder
 * that was only slow still cannot apply it twice.
 */
export async function takeToken(
  tokens: Model<TokenDocument>,
  id: string,
  now: Date,
  staleBefore?: Date,
): Promise<boolean> {
  if (await insertToken(tokens, id, now)) return true;
  if (staleBefore) await tokens.deleteOne({ _id: id, created_at: { $lt: staleBefore } });
  return false;
}

async function insertToken(tokens: Model<TokenDocument>, id: string, now: Date): Promise<boolean> {
  try {
    await tokens.create({ _id: id, created_at: now });
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
    throw error;
  }
}
