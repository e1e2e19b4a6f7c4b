export { type MongoStoreOptions, openMongoStore } from './mongo-store';
