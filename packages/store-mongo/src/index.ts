export { MongoStoreOpenError } from './errors';
export type { MongoStoreLogger } from './logger';
export { type MongoStoreOptions, openMongoStore } from './mongo-store';
