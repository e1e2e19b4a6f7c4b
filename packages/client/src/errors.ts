/** One field-level problem the server reported. */
export interface ApiErrorDetail {
  field: string;
  message: string;
}

/** The server answered with an error body (`{"error": {code, message, details?}}`). */
export class GyozaApiError extends Error {
  readonly status: number;
  /** The server's stable error code, e.g. `NOT_FOUND`, `VALIDATION_FAILED`. */
  readonly code: string;
  readonly details: ApiErrorDetail[];

  constructor(status: number, code: string, message: string, details: ApiErrorDetail[] = []) {
    super(message);
    this.name = 'GyozaApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The server could not be reached (refused, DNS, reset, or timed out). */
export class GyozaConnectionError extends Error {
  readonly url: string;
  override readonly cause: unknown;

  constructor(url: string, cause: unknown) {
    super(`cannot reach the gyoza server at ${url}: ${describeCause(cause)}`);
    this.name = 'GyozaConnectionError';
    this.url = url;
    this.cause = cause;
  }

  /** True when the request gave up because of the client's timeout. */
  get timedOut(): boolean {
    return nameOf(this.cause) === 'TimeoutError';
  }
}

// Duck-typed: fetch's DOMExceptions may come from another realm than this module's Error.
function nameOf(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? (value as { name?: string }).name : undefined;
}

function describeCause(cause: unknown): string {
  if (nameOf(cause) === 'TimeoutError') return 'timed out';
  if (!(cause instanceof Error)) return String((cause as { message?: string })?.message ?? cause);
  // undici wraps the socket error: "fetch failed" with the real reason in `cause`.
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as { code?: string }).code;
    return code ? `${code} (${inner.message})` : inner.message;
  }
  return cause.message;
}

/** The client's own settings are unusable (a server URL that is not an http(s) URL). */
export class GyozaConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GyozaConfigError';
  }
}

/**
 * The server answered success with a body the client cannot use (a proxy in the way, another
 * service on the port, a server URL that names a page rather than the API): not JSON, empty,
 * or not the shape the route answers.
 */
export class GyozaAnswerError extends Error {
  constructor(
    readonly path: string,
    what: string,
    /** The whole URL asked, when known; the message names it, else the path. */
    readonly url?: string,
  ) {
    super(`unexpected answer from ${url ?? path}: ${what}`);
    this.name = 'GyozaAnswerError';
  }
}

/** `waitForRun` gave up before the run finished; the run itself is untouched. */
export class GyozaWaitTimeoutError extends Error {
  constructor(
    readonly runId: string,
    readonly timeoutMs: number,
  ) {
    super(`run ${runId} did not finish within ${timeoutMs} ms`);
    this.name = 'GyozaWaitTimeoutError';
  }
}
