import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';

/** The MongoDB-wire server of this jest run (FerretDB, started by the global setup). */
export function mongoTestUri(): string {
  const uri = process.env.GYOZA_TEST_MONGODB_URI;
  if (!uri) throw new Error('GYOZA_TEST_MONGODB_URI is not set: the jest global setup starts FerretDB');
  return uri;
}

export interface TemporaryMongoDatabase {
  uri: string;
  dbName: string;
  /** Drops the database (close the test's own connections first). */
  drop(): Promise<void>;
}

/** The jest run's FerretDB on its PostgreSQL handler (started by the global setup). */
export function mongoPostgresqlTestUri(): string {
  const uri = process.env.GYOZA_TEST_MONGODB_POSTGRESQL_URI;
  if (!uri) throw new Error('GYOZA_TEST_MONGODB_POSTGRESQL_URI is not set: the jest global setup starts it');
  return uri;
}

/** A fresh, uniquely named database on the test server (or `uri`); nothing is created until used. */
export function temporaryMongoDatabase(prefix: string, uri: string = mongoTestUri()): TemporaryMongoDatabase {
  const dbName = `${prefix}_${randomBytes(6).toString('hex')}`;
  return {
    uri,
    dbName,
    async drop() {
      const connection = await mongoose.createConnection(uri, { dbName }).asPromise();
      await connection.dropDatabase();
      await connection.close();
    },
  };
}

export interface TemporaryDirectory {
  dir: string;
  remove(): void;
}

/** A fresh directory under the system's temporary directory, e.g. for a SQLite file. */
export function temporaryDirectory(prefix: string): TemporaryDirectory {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
