import type { OpDefinition } from '@gyoza/domain';
import { type DefinitionStore, decodeDefinition, encodeDefinition } from '@gyoza/store';
import type { Model } from 'mongoose';
import { isDuplicateKey } from './errors';
import type { DefinitionDocument } from './models/definition.model';

export class MongoDefinitionStore implements DefinitionStore {
  constructor(private readonly definitions: Model<DefinitionDocument>) {}

  async putDefinition(definition: OpDefinition): Promise<OpDefinition> {
    for (;;) {
      const existing = await this.definitions
        .findOne({ id: definition.id, version: definition.version }, { created_at: 1 })
        .lean();
      if (existing) {
        // The version keeps its first created_at, in its document as in the column.
        const stored = { ...definition, created_at: existing.created_at };
        await this.definitions.updateOne(
          { id: stored.id, version: stored.version },
          { $set: { doc: encodeDefinition(stored) } },
        );
        return stored;
      }
      try {
        // An insert, not an upsert: FerretDB lets two racing upserts both "insert", the
        // second then rewriting the first's document with its own created_at.
        await this.definitions.create({
          id: definition.id,
          version: definition.version,
          created_at: definition.created_at,
          doc: encodeDefinition(definition),
        });
        return definition;
      } catch (error) {
        // Two first deploys of one version raced: read the winner and update it.
        if (!isDuplicateKey(error)) throw error;
      }
    }
  }

  async getDefinition(id: string, version?: string): Promise<OpDefinition | null> {
    const doc =
      version === undefined
        ? await this.definitions.findOne({ id }).sort({ created_at: -1, version: -1 }).lean()
        : await this.definitions.findOne({ id, version }).lean();
    return doc ? decodeDefinition(doc.doc) : null;
  }

  async listDefinitions(): Promise<OpDefinition[]> {
    const docs = await this.definitions.find().sort({ id: 1, created_at: -1, version: -1 }).lean();
    const latest: OpDefinition[] = [];
    for (const doc of docs) if (latest.at(-1)?.id !== doc.id) latest.push(decodeDefinition(doc.doc));
    return latest;
  }

  async listDefinitionVersions(id: string): Promise<OpDefinition[]> {
    const docs = await this.definitions.find({ id }).sort({ created_at: -1, version: -1 }).lean();
    return docs.map((d) => decodeDefinition(d.doc));
  }

  async deleteDefinition(id: string, version?: string): Promise<number> {
    const result = await this.definitions.deleteMany(version === undefined ? { id } : { id, version });
    return result.deletedCount;
  }
}
