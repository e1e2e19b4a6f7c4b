/** The pino-compatible subset the store logs through; a pino logger fits as is. */
export interface MongoStoreLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Logs nothing: the store is quiet unless given a logger. */
export const silentLogger: MongoStoreLogger = {
  debug() {},
  info() {},
  warn() {},
};
