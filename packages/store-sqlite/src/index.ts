/**
 * The embedded default store: one SQLite file (better-sqlite3, WAL). `openSqliteStore(options)`
 * returns a `Store`; `SCHEMA_VERSION` is the migration level it brings a file to.
 */
export { SCHEMA_VERSION } from './migrations';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite-store';
