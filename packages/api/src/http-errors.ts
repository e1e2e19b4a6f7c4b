import { GyozaError } from '@gyoza/domain';

/** Errors that exist only at the HTTP edge (auth, parsing, routing). */
export class HttpError extends GyozaError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The one place domain error codes become HTTP statuses. */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  VALIDATION_FAILED: 400,
  RUN_LOCKED: 400,
  MAX_ATTEMPTS_REACHED: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  INVALID_TRANSITION: 409,
  WORKER_MISMATCH: 409,
  CONCURRENT_MODIFICATION: 409,
  WORKER_NOT_ACTIVE: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
};
