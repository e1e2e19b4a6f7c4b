/** Exit codes: 0 success, 1 a run failed or the server refused, 2 usage or connection error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * A problem with what the user typed or pointed us at (flags, files): exit code 2.
 *
 * Not a GyozaError on purpose: that family is what the server answers, each code with an
 * HTTP status (`ERROR_CODES` in @gyoza/domain). A usage error never crosses HTTP; it is
 * this command's own, and its only mapping is to the exit code, in `reportError`. The
 * server's errors reach the CLI as GyozaApiError (code and status) and a bad server
 * setting as ConfigError (CONFIG_INVALID), which `server start` turns into this.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
