/** A field-level problem in a request or document. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** The HTTP statuses an error may map to. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 408 | 409 | 410 | 413 | 415 | 422 | 429 | 500 | 503;

/**
 * Every error code gyoza answers with, and its HTTP status beside it: a code is added here
 * or it does not compile (`GyozaError.code` is an `ErrorCode`), and a code without a status
 * cannot be written. The API's error mapping reads this table and nothing else.
 */
export const ERROR_CODES = {
  /** Input that breaks a rule (a DTO, a definition, inputs). */
  VALIDATION_FAILED: 400,
  /** A request the API could not read (malformed JSON, an aborted body). */
  BAD_REQUEST: 400,
  RUN_LOCKED: 400,
  MAX_ATTEMPTS_REACHED: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INVALID_TRANSITION: 409,
  WORKER_MISMATCH: 409,
  /** A worker's report names an assignment of the run that has been taken back or replaced. */
  STALE_ASSIGNMENT: 409,
  CONCURRENT_MODIFICATION: 409,
  WORKER_NOT_ACTIVE: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  /** Our fault: logged, answered without details. */
  INTERNAL: 500,
  /** A server setting that stops start-up; never reaches a client in practice. */
  CONFIG_INVALID: 500,
  /** The store could not be reached or prepared. */
  STORE_UNAVAILABLE: 503,
} as const satisfies Record<string, ErrorStatus>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code, in declaration order (for tests and documents). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function httpStatusOf(code: ErrorCode): ErrorStatus {
  return ERROR_CODES[code];
}

/**
 * Every error gyoza throws on purpose carries a stable `code` from `ERROR_CODES`; the API
 * maps codes to HTTP status in one place (`httpStatusOf`), so nothing below the API knows
 * about HTTP.
 */
export abstract class GyozaError extends Error {
  abstract readonly code: ErrorCode;
  readonly details?: FieldIssue[];

  constructor(message: string, details?: FieldIssue[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    if (details) this.details = details;
  }
}

/** Input that breaks a rule: bad field values, unknown inputs, bad ids. */
export class ValidationError extends GyozaError {
  readonly code = 'VALIDATION_FAILED';
  constructor(message: string, details: FieldIssue[] = []) {
    super(message, details);
  }

  static field(field: string, message: string): ValidationError {
    return new ValidationError(`${field}: ${message}`, [{ field, message }]);
  }
}

/** The store did not answer (in time): the server is up, but cannot serve requests. */
export class StoreUnavailableError extends GyozaError {
  readonly code = 'STORE_UNAVAILABLE';
}

export class NotFoundError extends GyozaError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly resource: 'run' | 'definition' | 'worker' | 'delivery',
    readonly id: string,
  ) {
    super(`${resource} '${id}' not found`);
  }
}

/** A state machine edge that does not exist, e.g. COMPLETED -> RUNNING. */
export class InvalidTransitionError extends GyozaError {
  readonly code = 'INVALID_TRANSITION';
  constructor(
    readonly from: string,
    readonly transition: string,
  ) {
    super(`cannot ${transition} a run in state ${from}`);
  }
}

/** An event posted to an attempt that has already finished. */
export class RunLockedError extends GyozaError {
  readonly code = 'RUN_LOCKED';
  constructor(
    readonly runId: string,
    readonly state: string,
  ) {
    super(`run is locked: run ${runId} is ${state}`);
  }
}

export class MaxAttemptsReachedError extends GyozaError {
  readonly code = 'MAX_ATTEMPTS_REACHED';
  constructor(
    readonly runId: string,
    readonly maxAttempts: number,
  ) {
    super(`run ${runId} has used all ${maxAttempts} attempts`);
  }
}

/** A worker reported on a run that is assigned to another worker. */
export class WorkerMismatchError extends GyozaError {
  readonly code = 'WORKER_MISMATCH';
  constructor(
    readonly runId: string,
    readonly expected: string | undefined,
    readonly actual: string,
  ) {
    super(`run ${runId} is assigned to ${expected ?? 'no worker'}, not ${actual}`);
  }
}

/**
 * A report for an older assignment of the run (fencing): the run was handed back, retried or
 * claimed again since that worker was given it, so the report is refused and changes nothing.
 */
export class StaleAssignmentError extends GyozaError {
  readonly code = 'STALE_ASSIGNMENT';
  constructor(
    readonly runId: string,
    readonly reported: string,
    readonly current: string | undefined,
  ) {
    super(
      `run ${runId}: assignment ${reported} is no longer current (now ${current ?? 'none'}); stop this attempt and claim again`,
    );
  }
}

/** Optimistic concurrency: somebody else saved the aggregate first. */
export class ConcurrentModificationError extends GyozaError {
  readonly code = 'CONCURRENT_MODIFICATION';
  constructor(readonly runId: string) {
    super(`run ${runId} was modified concurrently; reload and try again`);
  }
}

/** The worker exists but was evicted and has not heartbeated since. */
export class WorkerNotActiveError extends GyozaError {
  readonly code = 'WORKER_NOT_ACTIVE';
  constructor(readonly workerId: string) {
    super(`worker ${workerId} is not active; send a heartbeat first`);
  }
}

/** Idempotency-Key reused with a different request body. */
export class IdempotencyConflictError extends GyozaError {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor(readonly key: string) {
    super(`Idempotency-Key '${key}' was already used with a different request`);
  }
}

export function isGyozaError(error: unknown): error is GyozaError {
  return error instanceof GyozaError;
}
