import type { OpDefinition } from '@gyoza/domain';
import { type DefinitionStore, decodeDefinition, encodeDefinition } from '@gyoza/store';
import type { Database } from 'better-sqlite3';

export class SqliteDefinitionStore implements DefinitionStore {
  constructor(private readonly db: Database) {}

  async putDefinition(definition: OpDefinition): Promise<OpDefinition> {
    return this.db
      .transaction(() => {
        const existing = this.db
          .prepare<[string, string], { created_at: number }>(
            'SELECT created_at FROM definitions WHERE id = ? AND version = ?',
          )
          .get(definition.id, definition.version);
        const stored = existing ? { ...definition, created_at: new Date(existing.created_at) } : definition;
        this.db
          .prepare(
            `INSERT INTO definitions (id, version, created_at, doc) VALUES (?, ?, ?, ?)
             ON CONFLICT (id, version) DO UPDATE SET doc = excluded.doc`,
          )
          .run(stored.id, stored.version, stored.created_at.getTime(), encodeDefinition(stored));
        return stored;
      })
      .immediate();
  }

  async getDefinition(id: string, version?: string): Promise<OpDefinition | null> {
    const row =
      version === undefined
        ? this.db
            .prepare<[string], { doc: string }>(
              'SELECT doc FROM definitions WHERE id = ? ORDER BY created_at DESC, version DESC LIMIT 1',
            )
            .get(id)
        : this.db
            .prepare<[string, string], { doc: string }>('SELECT doc FROM definitions WHERE id = ? AND version = ?')
            .get(id, version);
    return row ? decodeDefinition(row.doc) : null;
  }

  async listDefinitions(): Promise<OpDefinition[]> {
    const rows = this.db
      .prepare<[], { doc: string }>(
        `SELECT doc FROM definitions d WHERE NOT EXISTS (
           SELECT 1 FROM definitions n WHERE n.id = d.id
             AND (n.created_at > d.created_at OR (n.created_at = d.created_at AND n.version > d.version)))
         ORDER BY id`,
      )
      .all();
    return rows.map((r) => decodeDefinition(r.doc));
  }

  async listDefinitionVersions(id: string): Promise<OpDefinition[]> {
    return this.db
      .prepare<[string], { doc: string }>(
        'SELECT doc FROM definitions WHERE id = ? ORDER BY created_at DESC, version DESC',
      )
      .all(id)
      .map((r) => decodeDefinition(r.doc));
  }

  async deleteDefinition(id: string, version?: string): Promise<number> {
    const result =
      version === undefined
        ? this.db.prepare('DELETE FROM definitions WHERE id = ?').run(id)
        : this.db.prepare('DELETE FROM definitions WHERE id = ? AND version = ?').run(id, version);
    return result.changes;
  }
}
