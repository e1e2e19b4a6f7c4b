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
      const stored = existing ? { ...definition, created_at: existing.created_at } : definition;
      try {
        await this.definitions.updateOne(
          { id: stored.id, version: stored.version },
          { $set: { doc: encodeDefinition(stored) }, $setOnInsert: { created_at: stored.created_at } },
          { upsert: true },
        );
        return stored;
      } catch (error) {
        // Two first deploys of one version raced on the upsert: read the winner and replace it.
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
