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

/**
 * The URI without its password, for messages and logs: the user stays, the rest of the user
 * information, from the first `:` to the last `@`, is `***`. The last `@`, because the
 * driver refuses a URI whose password has an unescaped `@`, `/` or `:` and the message must
 * not show that password either; an `@` further on (in the options) hides more, never less.
 */
export function redactUri(uri: string): string {
  const userInfo = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@/is.exec(uri);
  if (!userInfo) return uri;
  const [whole, scheme, credentials] = userInfo;
  const colon = credentials.indexOf(':');
  if (colon === -1) return uri;
  return `${scheme}${credentials.slice(0, colon)}:***@${uri.slice(whole.length)}`;
}
