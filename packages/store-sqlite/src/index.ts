export { SCHEMA_VERSION } from './migrations';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store';
