/**
 * The MongoDB store (mongoose; also runs on FerretDB). `openMongoStore(options)` returns a `Store`;
 * `MongoStoreOpenError` when the database cannot be reached; `MongoStoreLogger` is the pino subset it logs to.
 */
export { MongoStoreOpenError } from './errors';
export type { MongoStoreLogger } from './logger';
export { type MongoStoreOptions, openMongoStore } from './mongo-store';
