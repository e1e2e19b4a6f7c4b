import { type ErrorCode, GyozaError } from '@gyoza/domain';

/**
 * Errors that exist only at the HTTP edge (auth, parsing, routing). The status comes from
 * the code (`ERROR_CODES` in @gyoza/domain), like every other error's.
 */
export class HttpError extends GyozaError {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
