import { GyozaError } from '@gyoza/domain';

/** MongoDB's duplicate-key error (E11000). */
export function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/** The database could not be reached or prepared at start-up; the message names where. */
export class MongoStoreOpenError extends GyozaError {
  readonly code = 'STORE_UNAVAILABLE';

  constructor(target: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`cannot open the MongoDB store at ${target}: ${reason}`, undefined, { cause });
  }
}

/** The URI without its password, for messages and logs. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
