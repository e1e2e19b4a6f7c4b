/** A field-level problem in a request or document. */
export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * Every error the domain throws carries a stable `code`; the API maps codes to HTTP
 * status in one place, so nothing below the API knows about HTTP.
 */
export abstract class GyozaError extends Error {
  abstract readonly code: string;
  readonly details?: FieldIssue[];

  constructor(message: string, details?: FieldIssue[]) {
    super(message);
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

export class NotFoundError extends GyozaError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly resource: 'run' | 'definition' | 'worker',
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
